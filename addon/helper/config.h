// The decoded FRAME_CONFIG: everything H and I need, read once from the socket.
#ifndef BERTH_HELPER_CONFIG_H
#define BERTH_HELPER_CONFIG_H

#include <sched.h>
#include <stdint.h>

#include <string>
#include <vector>

struct NsJoin {
  uint32_t type = 0;  // one CLONE_NEW* flag, 0 = any
  std::string path;
};

struct MountEntry {
  std::string source, target, fstype, data, cwd;
  uint64_t flags = 0, propagation = 0, remount_flags = 0;
};

struct DeviceEntry {
  std::string path;
  uint32_t type = 0;  // 'c', 'b', 'p'
  uint64_t major = 0, minor = 0;
  uint32_t mode = 0, uid = 0, gid = 0;
  bool bind = false;
};

struct SymlinkEntry {
  std::string target, path;
};

struct SysctlEntry {
  std::string key, value;
};

struct RlimitEntry {
  uint32_t resource = 0;
  uint64_t soft = 0, hard = 0;
};

// Index of each set in CFG_CAPABILITIES.
enum CapSet { kCapBounding, kCapEffective, kCapInheritable, kCapPermitted, kCapAmbient };

struct Config {
  uint32_t mode = 0;  // 0 create, 1 exec
  uint64_t new_namespaces = 0;
  std::vector<NsJoin> joins;

  // A create whose mount namespace is new or joined: it gets the rootfs, mounts and pivot_root.
  bool sets_up_rootfs() const {
    if (mode != 0) return false;
    if (new_namespaces & CLONE_NEWNS) return true;
    for (const NsJoin& j : joins)
      if (j.type == CLONE_NEWNS) return true;
    return false;
  }
  bool has_uid_map = false, has_gid_map = false;
  std::string uid_map, gid_map;
  bool setgroups_deny = false;
  bool has_time_offsets = false;
  std::string time_offsets;
  std::string rootfs;
  uint64_t rootfs_propagation = 0;  // default MS_SLAVE|MS_REC when absent
  bool readonly_rootfs = false, no_pivot = false;
  std::vector<MountEntry> mounts;
  std::vector<MountEntry> rootfs_mounts;  // CFG_ROOTFS_MOUNT: assemble the rootfs itself
  std::vector<DeviceEntry> devices;
  std::vector<SymlinkEntry> symlinks;
  std::vector<std::string> masked_paths, readonly_paths;
  bool has_hostname = false, has_domainname = false;
  std::string hostname, domainname;
  std::vector<SysctlEntry> sysctls;
  std::vector<RlimitEntry> rlimits;
  bool has_capabilities = false;
  uint64_t caps[5] = {0, 0, 0, 0, 0};
  bool no_new_privileges = false;
  uint32_t uid = 0, gid = 0;
  bool has_additional_gids = false;
  std::vector<uint32_t> additional_gids;
  bool has_umask = false;
  uint32_t umask = 022;
  bool has_cwd = false;
  std::string cwd;
  std::vector<std::string> env, args;
  bool has_oom_score_adj = false;
  int32_t oom_score_adj = 0;
  bool has_start_fifo = false;
  std::string start_fifo;
  bool has_stdio = false;
  std::vector<uint32_t> stdio_targets;  // target fd of each of stdio_fds
  std::vector<int> stdio_fds;           // received with the frame
  std::vector<int> passthrough_fds;     // received after the stdio fds
  std::vector<std::string> cgroup_procs;
  bool cgroup_fds_later = false;     // CFG_CGROUP_FDS_LATER: their fds come in a FRAME_CGROUPS
  bool setsid = true;
  bool controlling_tty = false;
  bool has_console = false;          // CFG_CONSOLE: a pty from the container's /dev/ptmx
  uint32_t console_rows = 0, console_cols = 0;
  int console_socket = -1;           // where the master goes (received last with the frame)
  bool has_seccomp = false;
  uint32_t seccomp_flags = 0;        // SECCOMP_FILTER_FLAG_*
  std::string seccomp_program;       // raw struct sock_filter array (8 bytes each)
};

// Receives FRAME_CONFIG on `sock` and decodes it into `cfg`; any problem is reported as
// STAGE_CONFIG and ends the helper.
void read_config(int sock, Config* cfg);

// Reads FRAME_CGROUPS: exactly `count` cgroup.procs fds (STAGE_CGROUP failure otherwise).
std::vector<int> read_cgroup_fds(int sock, size_t count);

#endif
