// The cgroup v2 device controller: attachDeviceFilter(dir, insns, license) loads a
// BPF_PROG_TYPE_CGROUP_DEVICE program (instructions built in TypeScript, src/cgroups/
// device-filter.ts) and attaches it to the cgroup directory with BPF_F_ALLOW_MULTI, replacing
// the one program already there (BPF_F_REPLACE) or detaching every earlier one, as runc does:
// the cgroup is never left without a filter. queryDeviceFilters(dir) counts attached programs.
#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "errors.h"
#include "module.h"

namespace berth {
namespace {

// bpf_attr plus slack: kernels 6.17+ write PROG_QUERY's `revision` whatever size we pass, and
// that field is past the end of older headers' union.
struct Attr {
  union bpf_attr a;
  char slack[256];
};

long Bpf(int cmd, Attr* attr) {
  long rc;
  do {
    rc = syscall(SYS_bpf, cmd, &attr->a, sizeof(attr->a));
  } while (rc < 0 && errno == EINTR);
  return rc;
}

// The fds of the device programs attached to dirFd (that we are allowed to open).
std::vector<int> AttachedPrograms(Napi::Env env, int dirFd, const std::string& dir) {
  std::vector<uint32_t> ids(64);
  for (int tries = 0;; ++tries) {
    Attr attr = {};
    attr.a.query.target_fd = static_cast<uint32_t>(dirFd);
    attr.a.query.attach_type = BPF_CGROUP_DEVICE;
    attr.a.query.prog_ids = reinterpret_cast<uint64_t>(ids.data());
    attr.a.query.prog_cnt = static_cast<uint32_t>(ids.size());
    if (Bpf(BPF_PROG_QUERY, &attr) < 0) {
      if (errno == ENOSPC && tries < 10) {
        ids.resize(attr.a.query.prog_cnt + 8);
        continue;
      }
      ThrowErrno(env, "bpf(BPF_PROG_QUERY)", dir.c_str());
    }
    ids.resize(attr.a.query.prog_cnt);
    break;
  }
  std::vector<int> fds;
  for (uint32_t id : ids) {
    Attr attr = {};
    attr.a.prog_id = id;
    long fd = Bpf(BPF_PROG_GET_FD_BY_ID, &attr);
    if (fd < 0) {
      if (errno == EPERM || errno == EACCES || errno == ENOENT) continue;  // an LSM-guarded or vanished program
      int err = errno;
      for (int f : fds) close(f);
      ThrowErrnoValue(env, err, "bpf(BPF_PROG_GET_FD_BY_ID)", dir.c_str());
    }
    fds.push_back(static_cast<int>(fd));
  }
  return fds;
}

// Loads the program; on failure the error carries the verifier's log.
int LoadProgram(Napi::Env env, const Napi::Buffer<uint8_t>& insns, const std::string& license,
                const std::string& dir) {
  Attr attr = {};
  attr.a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.a.insn_cnt = static_cast<uint32_t>(insns.Length() / sizeof(struct bpf_insn));
  attr.a.insns = reinterpret_cast<uint64_t>(insns.Data());
  attr.a.license = reinterpret_cast<uint64_t>(license.c_str());
  long fd = -1;
  for (int tries = 0; tries < 30; ++tries) {  // the verifier returns EAGAIN when a signal interrupts it
    fd = Bpf(BPF_PROG_LOAD, &attr);
    if (fd >= 0 || errno != EAGAIN) break;
  }
  if (fd >= 0) return static_cast<int>(fd);
  int err = errno;
  std::vector<char> log(64 * 1024);
  attr.a.log_level = 1;
  attr.a.log_buf = reinterpret_cast<uint64_t>(log.data());
  attr.a.log_size = static_cast<uint32_t>(log.size());
  long again = Bpf(BPF_PROG_LOAD, &attr);
  if (again >= 0) return static_cast<int>(again);  // passed on the second try: use it
  Napi::Error error = ErrnoError(env, err, "bpf(BPF_PROG_LOAD)", dir.c_str());
  std::string text(log.data(), strnlen(log.data(), log.size()));
  while (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty()) {
    error.Set("message", Napi::String::New(env, error.Message() + ": " + text));
    error.Set("verifierLog", Napi::String::New(env, text));
  }
  throw error;
}

long Attach(int dirFd, int progFd, uint32_t flags, int replaceFd) {
  Attr attr = {};
  attr.a.target_fd = static_cast<uint32_t>(dirFd);
  attr.a.attach_bpf_fd = static_cast<uint32_t>(progFd);
  attr.a.attach_type = BPF_CGROUP_DEVICE;
  attr.a.attach_flags = flags;
  if (replaceFd >= 0) attr.a.replace_bpf_fd = static_cast<uint32_t>(replaceFd);
  return Bpf(BPF_PROG_ATTACH, &attr);
}

long Detach(int dirFd, int progFd) {
  Attr attr = {};
  attr.a.target_fd = static_cast<uint32_t>(dirFd);
  attr.a.attach_bpf_fd = static_cast<uint32_t>(progFd);
  attr.a.attach_type = BPF_CGROUP_DEVICE;
  return Bpf(BPF_PROG_DETACH, &attr);
}

// Closes a list of fds when it goes out of scope.
struct FdList {
  std::vector<int> fds;
  ~FdList() { for (int fd : fds) close(fd); }
};

// attachDeviceFilter(dir, insns, license): see the file comment.
Napi::Value AttachDeviceFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir = StringArg(info, 0);
  auto insns = info[1].As<Napi::Buffer<uint8_t>>();
  std::string license = StringArg(info, 2);
  if (insns.Length() == 0 || insns.Length() % sizeof(struct bpf_insn) != 0) {
    ThrowErrnoValue(env, EINVAL, "attachDeviceFilter", dir.c_str());
  }
  Fd dirFd(open(dir.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (dirFd.get() < 0) ThrowErrno(env, "open", dir.c_str());
  FdList old;
  old.fds = AttachedPrograms(env, dirFd.get(), dir);
  Fd prog(LoadProgram(env, insns, license, dir));
  bool replaced = false;
  if (old.fds.size() == 1) {
    if (Attach(dirFd.get(), prog.get(), BPF_F_ALLOW_MULTI | BPF_F_REPLACE, old.fds[0]) == 0) {
      replaced = true;
    } else if (errno != EINVAL) {
      ThrowErrno(env, "bpf(BPF_PROG_ATTACH)", dir.c_str());
    }
  }
  if (!replaced) {
    if (Attach(dirFd.get(), prog.get(), BPF_F_ALLOW_MULTI, -1) < 0) ThrowErrno(env, "bpf(BPF_PROG_ATTACH)", dir.c_str());
    for (int fd : old.fds) {
      if (Detach(dirFd.get(), fd) < 0 && errno != ENOENT) ThrowErrno(env, "bpf(BPF_PROG_DETACH)", dir.c_str());
    }
  }
  // The attachment keeps the program alive; our fd (closed by Fd) is no longer needed.
  return env.Undefined();
}

// queryDeviceFilters(dir) -> how many device programs are attached to the cgroup.
Napi::Value QueryDeviceFilters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir = StringArg(info, 0);
  Fd dirFd(open(dir.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (dirFd.get() < 0) ThrowErrno(env, "open", dir.c_str());
  FdList progs;
  progs.fds = AttachedPrograms(env, dirFd.get(), dir);
  return Napi::Number::New(env, static_cast<double>(progs.fds.size()));
}

}  // namespace

void RegisterBpfDevice(Napi::Env env, Napi::Object exports) {
  exports.Set("attachDeviceFilter", Napi::Function::New(env, AttachDeviceFilter, "attachDeviceFilter"));
  exports.Set("queryDeviceFilters", Napi::Function::New(env, QueryDeviceFilters, "queryDeviceFilters"));
}

}  // namespace berth
