// berth-init, the container init helper (H). Started by berth.node with its end of a
// socketpair as fd 3, it reads FRAME_CONFIG, joins namespaces, clones the container process
// I as a child of its own parent (CLONE_PARENT), sets up what only the host side can (id maps,
// cgroups), releases I and exits. I (init.cc) does the rest and execs the user's program.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "berth/protocol.h"
#include "caps.h"
#include "config.h"
#include "init.h"
#include "report.h"
#include "util.h"

namespace {

// Host-side files opened before any setns, while host paths still mean the host.
struct HostHandles {
  int proc = -1;                 // the host's /proc
  std::vector<int> namespaces;   // one per CFG_JOIN_NAMESPACE
  std::vector<int> cgroups;      // one per CFG_CGROUP_PROCS
  int start_fifo = -1;
};

// Makes sure fds 0-2 are open, so that fds received later never land on them.
void ensure_std_fds() {
  for (int fd = 0; fd < 3; ++fd)
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR) < 0) _exit(2);
}

HostHandles open_host_handles(const Config& c) {
  HostHandles h;
  h.proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (h.proc < 0) fail(STAGE_CONFIG, errno, "/proc");
  for (const NsJoin& j : c.joins) {
    int fd = open(j.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(STAGE_JOIN_NAMESPACE, errno, j.path);
    h.namespaces.push_back(fd);
  }
  for (const std::string& p : c.cgroup_fds_later ? std::vector<std::string>() : c.cgroup_procs) {
    int fd = open(p.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail(STAGE_CGROUP, errno, p);
    h.cgroups.push_back(fd);
  }
  if (c.has_start_fifo) {
    h.start_fifo = open(c.start_fifo.c_str(), O_RDWR | O_CLOEXEC);
    if (h.start_fifo < 0) fail(STAGE_START_WAIT, errno, c.start_fifo);
    struct stat st;
    if (fstat(h.start_fifo, &st) < 0 || !S_ISFIFO(st.st_mode)) fail(STAGE_START_WAIT, EINVAL, c.start_fifo);
  }
  return h;
}

// oom_score_adj is inherited by I; set here, where lowering it is still allowed (a process in
// a user namespace lacks CAP_SYS_RESOURCE).
void set_oom_score_adj(const Config& c, int proc) {
  if (!c.has_oom_score_adj) return;
  int err = write_file_at(proc, "self/oom_score_adj", num(c.oom_score_adj));
  if (err) fail(STAGE_OOM_SCORE_ADJ, err, "/proc/self/oom_score_adj");
}

// Raises hard limits that I (maybe unprivileged in a user namespace) could not raise; I sets
// the exact values just before READY.
void raise_hard_limits(const Config& c) {
  for (const RlimitEntry& l : c.rlimits) {
    struct rlimit cur;
    auto res = static_cast<__rlimit_resource>(l.resource);
    if (getrlimit(res, &cur) < 0 || l.hard <= cur.rlim_max) continue;
    struct rlimit raised = {cur.rlim_cur, l.hard};
    if (setrlimit(res, &raised) < 0) fail(STAGE_RLIMIT, errno, rlimit_name(l.resource));
  }
}

// /proc/self/ns entry that tells whether we already are in the namespace a join names.
const char* own_ns_entry(uint32_t type) {
  switch (type) {
    case CLONE_NEWUSER: return "self/ns/user";
    case CLONE_NEWNS: return "self/ns/mnt";
    case CLONE_NEWPID: return "self/ns/pid_for_children";
    case CLONE_NEWNET: return "self/ns/net";
    case CLONE_NEWIPC: return "self/ns/ipc";
    case CLONE_NEWUTS: return "self/ns/uts";
    case CLONE_NEWCGROUP: return "self/ns/cgroup";
    case CLONE_NEWTIME: return "self/ns/time_for_children";
    default: return nullptr;
  }
}

// setns() into each namespace in order. Joining one we are already in is skipped (setns
// into one's own user namespace is EINVAL).
void join_namespaces(const Config& c, const HostHandles& h) {
  for (size_t i = 0; i < c.joins.size(); ++i) {
    int fd = h.namespaces[i];
    const char* own = own_ns_entry(c.joins[i].type);
    struct stat want, have;
    if (own && fstat(fd, &want) == 0 && fstatat(h.proc, own, &have, 0) == 0 &&
        want.st_dev == have.st_dev && want.st_ino == have.st_ino)
      continue;
    if (setns(fd, static_cast<int>(c.joins[i].type)) < 0) fail(STAGE_JOIN_NAMESPACE, errno, c.joins[i].path);
  }
}

// A time namespace cannot be asked of clone(): unshare it here, set its offsets before any
// process is in it, and let I be born into it.
void enter_time_namespace(const Config& c, int proc) {
  if (unshare(CLONE_NEWTIME) < 0) fail(STAGE_TIME_NAMESPACE, errno, "unshare");
  if (!c.has_time_offsets) return;
  int err = write_file_at(proc, "self/timens_offsets", c.time_offsets);
  if (err) fail(STAGE_TIME_NAMESPACE, err, "/proc/self/timens_offsets");
}

// setgroups, uid_map, gid_map of I's new user namespace.
void write_id_maps(const Config& c, int proc, pid_t pid) {
  struct {
    bool wanted;
    const char* file;
    const std::string& data;
  } writes[] = {
      {c.setgroups_deny, "setgroups", "deny"},
      {c.has_uid_map, "uid_map", c.uid_map},
      {c.has_gid_map, "gid_map", c.gid_map},
  };
  for (const auto& w : writes) {
    if (!w.wanted) continue;
    std::string rel = num(pid) + "/" + w.file;
    int err = write_file_at(proc, rel.c_str(), w.data);
    if (err) fail(STAGE_ID_MAPPING, err, "/proc/" + rel);
  }
}

// Writes I's pid to each cgroup.procs: opened by open_host_handles, or (CFG_CGROUP_FDS_LATER)
// received now, the caller having made the cgroup while we started and cloned.
void join_cgroups(const Config& c, HostHandles* h, pid_t pid) {
  if (c.cgroup_fds_later && !c.cgroup_procs.empty()) h->cgroups = read_cgroup_fds(BERTH_HELPER_SOCKET_FD, c.cgroup_procs.size());
  std::string text = num(pid);
  for (size_t i = 0; i < h->cgroups.size(); ++i) {
    int err = write_all(h->cgroups[i], text.data(), text.size());
    if (err) fail(STAGE_CGROUP, err, c.cgroup_procs[i]);
  }
}

void close_host_handles(const HostHandles& h) {
  close(h.proc);
  for (int fd : h.namespaces) close(fd);
  for (int fd : h.cgroups) close(fd);
}

}  // namespace

int main() {
  // The socket must be there before anything else may take fd 3.
  if (fcntl(BERTH_HELPER_SOCKET_FD, F_SETFD, FD_CLOEXEC) < 0) return 2;
  ensure_std_fds();
  signal(SIGPIPE, SIG_IGN);  // I resets dispositions before execve
  umask(022);

  Config cfg;
  read_config(BERTH_HELPER_SOCKET_FD, &cfg);
  InitContext ctx;
  ctx.last_cap = read_cap_last_cap();
  HostHandles host = open_host_handles(cfg);
  set_oom_score_adj(cfg, host.proc);
  raise_hard_limits(cfg);
  join_namespaces(cfg, host);
  uint64_t flags = cfg.new_namespaces;
  if (flags & CLONE_NEWTIME) {
    enter_time_namespace(cfg, host.proc);
    flags &= ~static_cast<uint64_t>(CLONE_NEWTIME);
  }
  // The cgroup namespace is I's to unshare once it is in its cgroups (init.cc), so that its
  // root is the container's cgroup, not ours (runc's order).
  flags &= ~static_cast<uint64_t>(CLONE_NEWCGROUP);

  int sync[2];
  if (pipe2(sync, O_CLOEXEC) < 0) fail(STAGE_CLONE, errno, "pipe");
  // fork semantics (no new stack); I becomes our parent's child, so berth reaps it.
  long pid = syscall(SYS_clone, flags | CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) fail(STAGE_CLONE, errno, "clone");
  if (pid == 0) {
    close(sync[1]);
    close_host_handles(host);
    ctx.release_fd = sync[0];
    ctx.start_fifo = host.start_fifo;
    container_init(cfg, ctx);
  }
  close(sync[0]);
  report_set_victim(static_cast<pid_t>(pid));
  send_pid(static_cast<pid_t>(pid));
  if (cfg.new_namespaces & CLONE_NEWUSER) write_id_maps(cfg, host.proc, static_cast<pid_t>(pid));
  join_cgroups(cfg, &host, static_cast<pid_t>(pid));
  // From here on only I writes to the socket.
  if (write(sync[1], "1", 1) != 1) fail(STAGE_CLONE, errno, "release");
  _exit(0);
}
