// Receiving and decoding FRAME_CONFIG (records per berth/protocol.h), with validation.
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "berth/protocol.h"
#include "report.h"
#include "util.h"

namespace {

const size_t kMaxFds = 253;  // SCM_MAX_FD

[[noreturn]] void bad(const std::string& why) { fail(STAGE_CONFIG, EINVAL, why); }

// Reads exactly `len` bytes, collecting any SCM_RIGHTS fds that ride along.
void recv_exact(int sock, char* buf, size_t len, std::vector<int>* fds) {
  while (len > 0) {
    struct iovec iov = {buf, len};
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * kMaxFds)];
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(STAGE_CONFIG, errno, "recvmsg");
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        fds->push_back(fd);
      }
    }
    if (msg.msg_flags & MSG_CTRUNC) bad("too many fds with the config");
    if (n == 0) fail(STAGE_CONFIG, EPIPE, "socket closed before the whole config arrived");
    buf += n;
    len -= n;
  }
}

// One { tag, length, bytes } record.
struct Record {
  uint32_t tag;
  const char* data;
  uint32_t len;
};

// Walks a record sequence; a truncated record is a config error.
class RecordReader {
 public:
  RecordReader(const char* data, size_t len) : p_(data), end_(data + len) {}
  // Yields the next record; false at the end.
  bool next(Record* r) {
    if (p_ == end_) return false;
    if (end_ - p_ < 8) bad("truncated record header");
    memcpy(&r->tag, p_, 4);
    memcpy(&r->len, p_ + 4, 4);
    p_ += 8;
    if (static_cast<size_t>(end_ - p_) < r->len) bad("record " + num(r->tag) + " overruns the payload");
    r->data = p_;
    p_ += r->len;
    return true;
  }

 private:
  const char* p_;
  const char* end_;
};

[[noreturn]] void bad_length(const Record& r) {
  bad("bad length " + num(r.len) + " for tag " + num(r.tag));
}

uint32_t get_u32(const Record& r) {
  if (r.len != 4) bad_length(r);
  uint32_t v;
  memcpy(&v, r.data, 4);
  return v;
}

uint64_t get_u64(const Record& r) {
  if (r.len != 8) bad_length(r);
  uint64_t v;
  memcpy(&v, r.data, 8);
  return v;
}

bool get_bool(const Record& r) { return get_u32(r) != 0; }

// A string; a NUL inside would silently cut paths short, so it is refused.
std::string get_str(const Record& r) {
  if (memchr(r.data, 0, r.len)) bad("NUL byte in tag " + num(r.tag));
  return std::string(r.data, r.len);
}

std::vector<uint32_t> get_u32_array(const Record& r) {
  if (r.len % 4) bad_length(r);
  std::vector<uint32_t> v(r.len / 4);
  if (r.len) memcpy(v.data(), r.data, r.len);
  return v;
}

[[noreturn]] void unknown(const Record& r, uint32_t parent) {
  bad("unknown tag " + num(r.tag) + (parent ? " in tag " + num(parent) : std::string()));
}

NsJoin decode_join(const Record& outer) {
  NsJoin j;
  RecordReader rd(outer.data, outer.len);
  for (Record r; rd.next(&r);) {
    switch (r.tag) {
      case NS_TYPE: j.type = get_u32(r); break;
      case NS_PATH: j.path = get_str(r); break;
      default: unknown(r, outer.tag);
    }
  }
  if (j.path.empty()) bad("CFG_JOIN_NAMESPACE without NS_PATH");
  return j;
}

MountEntry decode_mount(const Record& outer) {
  MountEntry m;
  RecordReader rd(outer.data, outer.len);
  for (Record r; rd.next(&r);) {
    switch (r.tag) {
      case M_SOURCE: m.source = get_str(r); break;
      case M_TARGET: m.target = get_str(r); break;
      case M_FSTYPE: m.fstype = get_str(r); break;
      case M_FLAGS: m.flags = get_u64(r); break;
      case M_PROPAGATION: m.propagation = get_u64(r); break;
      case M_DATA: m.data = get_str(r); break;
      case M_REMOUNT_FLAGS: m.remount_flags = get_u64(r); break;
      case M_CWD: m.cwd = get_str(r); break;
      default: unknown(r, outer.tag);
    }
  }
  if (m.target.empty() || m.target[0] != '/') bad("mount target must be absolute: '" + m.target + "'");
  return m;
}

DeviceEntry decode_device(const Record& outer) {
  DeviceEntry d;
  RecordReader rd(outer.data, outer.len);
  for (Record r; rd.next(&r);) {
    switch (r.tag) {
      case D_PATH: d.path = get_str(r); break;
      case D_TYPE: d.type = get_u32(r); break;
      case D_MAJOR: d.major = get_u64(r); break;
      case D_MINOR: d.minor = get_u64(r); break;
      case D_MODE: d.mode = get_u32(r); break;
      case D_UID: d.uid = get_u32(r); break;
      case D_GID: d.gid = get_u32(r); break;
      case D_BIND: d.bind = get_bool(r); break;
      default: unknown(r, outer.tag);
    }
  }
  if (d.path.empty() || d.path[0] != '/') bad("device path must be absolute: '" + d.path + "'");
  if (!d.bind && d.type != 'c' && d.type != 'b' && d.type != 'p' && d.type != 'u')
    bad("bad device type " + num(d.type) + " for " + d.path);
  return d;
}

SymlinkEntry decode_symlink(const Record& outer) {
  SymlinkEntry l;
  RecordReader rd(outer.data, outer.len);
  for (Record r; rd.next(&r);) {
    switch (r.tag) {
      case L_TARGET: l.target = get_str(r); break;
      case L_PATH: l.path = get_str(r); break;
      default: unknown(r, outer.tag);
    }
  }
  if (l.path.empty() || l.path[0] != '/' || l.target.empty()) bad("bad symlink '" + l.path + "'");
  return l;
}

SysctlEntry decode_sysctl(const Record& outer) {
  SysctlEntry s;
  RecordReader rd(outer.data, outer.len);
  for (Record r; rd.next(&r);) {
    switch (r.tag) {
      case S_KEY: s.key = get_str(r); break;
      case S_VALUE: s.value = get_str(r); break;
      default: unknown(r, outer.tag);
    }
  }
  if (s.key.empty()) bad("sysctl without a key");
  return s;
}

RlimitEntry decode_rlimit(const Record& outer) {
  RlimitEntry l;
  bool has_resource = false;
  RecordReader rd(outer.data, outer.len);
  for (Record r; rd.next(&r);) {
    switch (r.tag) {
      case R_RESOURCE: l.resource = get_u32(r); has_resource = true; break;
      case R_SOFT: l.soft = get_u64(r); break;
      case R_HARD: l.hard = get_u64(r); break;
      default: unknown(r, outer.tag);
    }
  }
  if (!has_resource) bad("rlimit without a resource");
  return l;
}

// Stores one top-level record into cfg.
void decode_record(const Record& r, Config* c) {
  switch (r.tag) {
    case CFG_VERSION: bad("CFG_VERSION repeated");
    case CFG_MODE: c->mode = get_u32(r); break;
    case CFG_NEW_NAMESPACES: c->new_namespaces = get_u64(r); break;
    case CFG_JOIN_NAMESPACE: c->joins.push_back(decode_join(r)); break;
    case CFG_UID_MAP: c->uid_map = get_str(r); c->has_uid_map = true; break;
    case CFG_GID_MAP: c->gid_map = get_str(r); c->has_gid_map = true; break;
    case CFG_SETGROUPS_DENY: c->setgroups_deny = get_bool(r); break;
    case CFG_TIME_OFFSETS: c->time_offsets = get_str(r); c->has_time_offsets = true; break;
    case CFG_ROOTFS: c->rootfs = get_str(r); break;
    case CFG_ROOTFS_PROPAGATION: c->rootfs_propagation = get_u64(r); break;
    case CFG_READONLY_ROOTFS: c->readonly_rootfs = get_bool(r); break;
    case CFG_NO_PIVOT: c->no_pivot = get_bool(r); break;
    case CFG_MOUNT: c->mounts.push_back(decode_mount(r)); break;
    case CFG_ROOTFS_MOUNT: c->rootfs_mounts.push_back(decode_mount(r)); break;
    case CFG_DEVICE: c->devices.push_back(decode_device(r)); break;
    case CFG_SYMLINK: c->symlinks.push_back(decode_symlink(r)); break;
    case CFG_MASKED_PATH: c->masked_paths.push_back(get_str(r)); break;
    case CFG_READONLY_PATH: c->readonly_paths.push_back(get_str(r)); break;
    case CFG_HOSTNAME: c->hostname = get_str(r); c->has_hostname = true; break;
    case CFG_DOMAINNAME: c->domainname = get_str(r); c->has_domainname = true; break;
    case CFG_SYSCTL: c->sysctls.push_back(decode_sysctl(r)); break;
    case CFG_RLIMIT: c->rlimits.push_back(decode_rlimit(r)); break;
    case CFG_CAPABILITIES:
      if (r.len != sizeof c->caps) bad_length(r);
      memcpy(c->caps, r.data, sizeof c->caps);
      c->has_capabilities = true;
      break;
    case CFG_NO_NEW_PRIVILEGES: c->no_new_privileges = get_bool(r); break;
    case CFG_UID: c->uid = get_u32(r); break;
    case CFG_GID: c->gid = get_u32(r); break;
    case CFG_ADDITIONAL_GIDS: c->additional_gids = get_u32_array(r); c->has_additional_gids = true; break;
    case CFG_UMASK: c->umask = get_u32(r); c->has_umask = true; break;
    case CFG_CWD: c->cwd = get_str(r); c->has_cwd = true; break;
    case CFG_ENV: c->env.push_back(get_str(r)); break;
    case CFG_ARG: c->args.push_back(get_str(r)); break;
    case CFG_OOM_SCORE_ADJ: c->oom_score_adj = static_cast<int32_t>(get_u32(r)); c->has_oom_score_adj = true; break;
    case CFG_START_FIFO: c->start_fifo = get_str(r); c->has_start_fifo = true; break;
    case CFG_STDIO_FDS: c->stdio_targets = get_u32_array(r); c->has_stdio = true; break;
    case CFG_CGROUP_PROCS: c->cgroup_procs.push_back(get_str(r)); break;
    case CFG_CGROUP_FDS_LATER: c->cgroup_fds_later = get_bool(r); break;
    case CFG_SETSID: c->setsid = get_bool(r); break;
    case CFG_EXEC_FD_PASSTHROUGH: c->passthrough_fds.resize(get_u32(r)); break;
    case CFG_CONTROLLING_TTY: c->controlling_tty = get_bool(r); break;
    case CFG_CONSOLE:
      if (r.len != 8) bad_length(r);
      memcpy(&c->console_rows, r.data, 4);
      memcpy(&c->console_cols, r.data + 4, 4);
      c->has_console = true;
      break;
    case CFG_SECCOMP:
      // u32 flags, then 1..4096 instructions of 8 bytes (BPF_MAXINSNS).
      if (r.len < 4 + 8 || (r.len - 4) % 8 || (r.len - 4) / 8 > 4096) bad_length(r);
      memcpy(&c->seccomp_flags, r.data, 4);
      c->seccomp_program.assign(r.data + 4, r.len - 4);
      c->has_seccomp = true;
      break;
    default: unknown(r, 0);
  }
}

const uint64_t kAllNamespaces = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME;

// Cross-record checks, so that H and I can trust what they read.
void validate(Config* c, uint64_t seen, const std::vector<int>& fds) {
  if (c->mode > 1) bad("bad CFG_MODE " + num(c->mode));
  if (c->args.empty()) bad("no CFG_ARG");
  if (c->new_namespaces & ~kAllNamespaces) bad("CFG_NEW_NAMESPACES has non-namespace flags");
  if (c->has_time_offsets && !(c->new_namespaces & CLONE_NEWTIME)) bad("CFG_TIME_OFFSETS without CLONE_NEWTIME");
  if ((c->has_uid_map || c->has_gid_map) && !(c->new_namespaces & CLONE_NEWUSER))
    bad("CFG_UID_MAP/CFG_GID_MAP without CLONE_NEWUSER");
  // Records that shape the container's filesystem need a create with a mount namespace of its
  // own: a new one, or one joined by path (whose mount table it then changes, as runc does).
  static const uint32_t kRootfsTags[] = {CFG_ROOTFS,  CFG_ROOTFS_PROPAGATION, CFG_READONLY_ROOTFS, CFG_NO_PIVOT,
                                         CFG_MOUNT,   CFG_ROOTFS_MOUNT,       CFG_DEVICE,          CFG_SYMLINK,
                                         CFG_MASKED_PATH, CFG_READONLY_PATH};
  bool newns = c->sets_up_rootfs();
  for (uint32_t t : kRootfsTags)
    if ((seen & (1ULL << t)) && !newns) bad("tag " + num(t) + " needs mode create with a mount namespace");
  if (newns && (c->rootfs.empty() || c->rootfs[0] != '/')) bad("CFG_ROOTFS must be an absolute path");
  if (c->has_cwd && (c->cwd.empty() || c->cwd[0] != '/')) bad("CFG_CWD must be absolute");
  for (const MountEntry& m : c->rootfs_mounts)
    if (!m.cwd.empty() && m.cwd[0] != '/') bad("M_CWD must be absolute: '" + m.cwd + "'");
  bool uts = c->new_namespaces & CLONE_NEWUTS;
  for (const NsJoin& j : c->joins) uts = uts || j.type == CLONE_NEWUTS || j.type == 0;
  if ((c->has_hostname || c->has_domainname) && !uts) bad("CFG_HOSTNAME/CFG_DOMAINNAME need a UTS namespace");
  if (!(seen & (1ULL << CFG_ROOTFS_PROPAGATION))) c->rootfs_propagation = MS_SLAVE | MS_REC;
  if (!(seen & (1ULL << CFG_SETSID))) c->setsid = c->mode == 0;

  // The fds: first one per CFG_STDIO_FDS entry, then CFG_EXEC_FD_PASSTHROUGH of them, then
  // the console socket.
  size_t want = c->stdio_targets.size() + c->passthrough_fds.size() + (c->has_console ? 1 : 0);
  if (fds.size() != want) bad("received " + num(fds.size()) + " fds, expected " + num(want));
  if (c->has_console) {
    if (!c->stdio_targets.empty()) bad("CFG_CONSOLE excludes CFG_STDIO_FDS");
    if (!c->setsid) bad("CFG_CONSOLE needs CFG_SETSID");
    c->console_socket = fds.back();
  }
  bool used[3] = {false, false, false};
  for (uint32_t t : c->stdio_targets) {
    if (t > 2 || used[t]) bad("bad CFG_STDIO_FDS target " + num(t));
    used[t] = true;
  }
  c->stdio_fds.assign(fds.begin(), fds.begin() + c->stdio_targets.size());
  c->passthrough_fds.assign(fds.begin() + c->stdio_targets.size(), fds.end() - (c->has_console ? 1 : 0));
  if (c->controlling_tty && !used[0]) bad("CFG_CONTROLLING_TTY needs a stdin fd");
}

}  // namespace

void read_config(int sock, Config* cfg) {
  std::vector<int> fds;
  berth_frame_header hdr;
  recv_exact(sock, reinterpret_cast<char*>(&hdr), sizeof hdr, &fds);
  if (hdr.type != BERTH_FRAME_CONFIG) bad("expected FRAME_CONFIG, got frame type " + num(hdr.type));
  if (hdr.length > BERTH_MAX_FRAME) bad("config frame too large");
  std::string payload(hdr.length, '\0');
  recv_exact(sock, &payload[0], payload.size(), &fds);

  RecordReader rd(payload.data(), payload.size());
  Record r;
  if (!rd.next(&r) || r.tag != CFG_VERSION) bad("CFG_VERSION must be first");
  uint32_t version = get_u32(r);
  if (version != BERTH_PROTOCOL_VERSION)
    bad("protocol version " + num(version) + ", helper speaks " + num(BERTH_PROTOCOL_VERSION));
  uint64_t seen = 0;
  while (rd.next(&r)) {
    decode_record(r, cfg);
    if (r.tag < 64) seen |= 1ULL << r.tag;
  }
  validate(cfg, seen, fds);
}

std::vector<int> read_cgroup_fds(int sock, size_t count) {
  std::vector<int> fds;
  berth_frame_header hdr;
  recv_exact(sock, reinterpret_cast<char*>(&hdr), sizeof hdr, &fds);
  if (hdr.type != BERTH_FRAME_CGROUPS || hdr.length > BERTH_MAX_FRAME) fail(STAGE_CGROUP, EPROTO, "expected FRAME_CGROUPS, got frame type " + num(hdr.type));
  std::string rest(hdr.length, '\0');
  if (hdr.length > 0) recv_exact(sock, &rest[0], rest.size(), &fds);
  if (fds.size() != count) {
    for (int fd : fds) close(fd);
    fail(STAGE_CGROUP, EPROTO, "the caller sent " + num(fds.size()) + " cgroup.procs fds, not " + num(count));
  }
  return fds;
}
