// The sealed init helper. initHelper() copies berth-init into a sealed memfd once per process
// (CVE-2019-5736: nothing, a container included, can ever open the running helper binary for
// writing); spawnHelper() starts it from that memfd with vfork+exec semantics, its end of a
// socketpair as fd 3 (BERTH_HELPER_SOCKET_FD), /dev/null as fds 0 and 1, our stderr as fd 2,
// nothing else open, all signals at their default action and unblocked, an empty environment.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <mutex>
#include <string>

#include "berth/protocol.h"
#include "errors.h"
#include "module.h"

namespace berth {
namespace {

constexpr int kSock = BERTH_HELPER_SOCKET_FD;
constexpr size_t kChildStackSize = 64 * 1024;

std::mutex g_mutex;   // guards the four below (Workers share the process)
int g_memfd = -1;     // the sealed copy, CLOEXEC, kept for the life of the process
std::string g_path;   // what it is a copy of
int g_monitorMemfd = -1;   // the same for berth-monitor
std::string g_monitorPath;

// Returns fd moved to a number above 3 (CLOEXEC), so that it can never be clobbered by, or
// be, one of the helper's fds 0-3 while the child arranges them.
int AboveStdio(Napi::Env env, int fd, const char* what) {
  if (fd > kSock) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, kSock + 1);
  int err = errno;
  close(fd);
  if (moved < 0) ThrowErrnoValue(env, err, "fcntl", what);
  return moved;
}

// Copies the executable at `path` into a new memfd and seals it against any change.
int MakeSealedCopy(Napi::Env env, const std::string& path, const char* name = "berth-init") {
  Fd src(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (src.get() < 0) ThrowErrno(env, "open", path.c_str());
  struct stat st;
  if (fstat(src.get(), &st) < 0) ThrowErrno(env, "fstat", path.c_str());
  if (!S_ISREG(st.st_mode)) ThrowErrnoValue(env, EACCES, "initHelper", path.c_str());
  Fd mem(memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (mem.get() < 0) ThrowErrno(env, "memfd_create", path.c_str());
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = read(src.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ThrowErrno(env, "read", path.c_str());
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(mem.get(), buf + off, n - off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) ThrowErrno(env, "write", "memfd:berth-init");
      off += w;
    }
  }
  int seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
  if (fcntl(mem.get(), F_ADD_SEALS, seals) < 0) ThrowErrno(env, "fcntl", "memfd:berth-init");
  return AboveStdio(env, mem.release(), "memfd:berth-init");
}

// initHelper(path) -> fd: makes the sealed copy once per process. Calling it again with the
// same path is a no-op; with another path it throws EALREADY.
Napi::Value InitHelper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0);
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_memfd >= 0) {
    if (path != g_path) ThrowErrnoValue(env, EALREADY, "initHelper", path.c_str());
  } else {
    g_memfd = MakeSealedCopy(env, path);
    g_path = path;
  }
  return Napi::Number::New(env, g_memfd);
}

// initMonitor(path) -> fd: the same for berth-monitor.
Napi::Value InitMonitor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0);
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_monitorMemfd >= 0) {
    if (path != g_monitorPath) ThrowErrnoValue(env, EALREADY, "initMonitor", path.c_str());
  } else {
    g_monitorMemfd = MakeSealedCopy(env, path, "berth-monitor");
    g_monitorPath = path;
  }
  return Napi::Number::New(env, g_monitorMemfd);
}

// helperFd() -> fd of the sealed memfd, or -1 before initHelper (for tests).
Napi::Value HelperFd(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return Napi::Number::New(info.Env(), g_memfd);
}

// What the vfork child needs; it reports a failure back through err/failed (shared memory).
// The child calls no libc function by name: a lazy PLT fixup (dynamic linker, locks) must not
// run in it. syscall() is taken by address (a GOT slot, bound when the module loads) and the
// errno address is looked up by the parent (the child runs on the parent thread's TLS).
struct ChildArgs {
  long (*sys)(long, ...);
  int* errnoLocation;
  int memfd, sock, devnull;
  char* const* argv;
  char* const* envp;
  int err;                 // errno of the failed step, 0 if execveat succeeded
  const char* failed;      // name of the failed step
};

// A kernel struct sigaction that is all zero: SIG_DFL, no flags, empty mask (four words is
// at least the size of the struct on every 64-bit layout).
const unsigned long kDefaultAction[4] = {0, 0, 0, 0};
const uint64_t kEmptyMask = 0;

// Records why the child could not exec and ends it (the parent sees err after vfork returns).
[[noreturn]] void ChildFail(ChildArgs* a, const char* what) {
  a->err = *a->errnoLocation;
  a->failed = what;
  for (;;) a->sys(SYS_exit_group, 127);
}

// The vfork child, on its own stack, sharing the parent's memory until execveat: raw system
// calls only (async-signal-safe, no allocation, no locks).
int ChildMain(void* arg) {
  auto* a = static_cast<ChildArgs*>(arg);
  // Node's handlers live in memory we share: default every signal before unblocking.
  for (long sig = 1; sig < _NSIG; sig++) {
    a->sys(SYS_rt_sigaction, sig, kDefaultAction, nullptr, sizeof kEmptyMask);
  }
  // 0, 1 = /dev/null; 3 = the socket (dup3 clears CLOEXEC; sources are all > 3).
  if (a->sys(SYS_dup3, a->devnull, 0, 0) < 0) ChildFail(a, "dup3");
  if (a->sys(SYS_dup3, a->devnull, 1, 0) < 0) ChildFail(a, "dup3");
  if (a->sys(SYS_dup3, a->sock, kSock, 0) < 0) ChildFail(a, "dup3");
  // 2 = our stderr, kept across exec; /dev/null if we have none.
  if (a->sys(SYS_fcntl, 2, F_SETFD, 0) < 0 && a->sys(SYS_dup3, a->devnull, 2, 0) < 0) {
    ChildFail(a, "dup3");
  }
  // Everything above 3 closes at exec; the memfd must stay open until execveat runs.
  if (a->sys(SYS_close_range, kSock + 1, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
    ChildFail(a, "close_range");
  }
  a->sys(SYS_rt_sigprocmask, SIG_SETMASK, &kEmptyMask, nullptr, sizeof kEmptyMask);
  a->sys(SYS_execveat, a->memfd, "", a->argv, a->envp, AT_EMPTY_PATH);
  ChildFail(a, "execveat");
}

// Blocks every signal in this thread (including glibc's internal ones) for the clone window.
void BlockAllSignals(uint64_t* old) {
  uint64_t all = ~uint64_t{0};
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, old, sizeof all);
}

// spawnHelper(monitor?) -> { pid, pidfd, sock }. The socket is the parent's end: blocking,
// CLOEXEC (net.Socket({ fd }) makes it non-blocking itself; sendFrame copes with either). The
// pidfd comes from CLONE_PIDFD, so it refers to this very child with no pid-reuse window. With
// `monitor` true it starts the sealed berth-monitor instead, the same way.
Napi::Value SpawnHelper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool monitor = info.Length() > 0 && BoolArg(info, 0);
  int memfd;
  std::string helperPath;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    memfd = monitor ? g_monitorMemfd : g_memfd;
    helperPath = monitor ? g_monitorPath : g_path;
  }
  if (memfd < 0) ThrowErrnoValue(env, EBADF, "spawnHelper", monitor ? "initMonitor() not called" : "initHelper() not called");

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) ThrowErrno(env, "socketpair");
  Fd parentEnd(sv[0]);
  Fd childEnd(AboveStdio(env, sv[1], "socketpair"));
  int nullFd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (nullFd < 0) ThrowErrno(env, "open", "/dev/null");
  Fd devnull(AboveStdio(env, nullFd, "/dev/null"));

  void* stack = mmap(nullptr, kChildStackSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) ThrowErrno(env, "mmap");

  char initName[] = "berth-init";
  char monitorName[] = "berth-monitor";
  char* argv[] = {monitor ? monitorName : initName, nullptr};
  char* envp[] = {nullptr};
  ChildArgs args{&syscall, &errno, memfd, childEnd.get(), devnull.get(), argv, envp, 0, nullptr};
  int pidfd = -1;
  uint64_t oldMask;
  BlockAllSignals(&oldMask);
  pid_t pid = clone(ChildMain, static_cast<char*>(stack) + kChildStackSize,
                    CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &args, &pidfd);
  int cloneErr = errno;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &oldMask, nullptr, sizeof oldMask);
  munmap(stack, kChildStackSize);
  if (pid < 0) ThrowErrnoValue(env, cloneErr, "clone");

  Fd pidFd(pidfd);
  if (args.err != 0) {  // the child has exited (vfork returned without exec): reap it
    siginfo_t si;
    while (waitid(static_cast<idtype_t>(P_PIDFD), pidfd, &si, WEXITED) < 0 && errno == EINTR) {
    }
    ThrowErrnoValue(env, args.err, args.failed, helperPath.c_str());
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, pid));
  result.Set("pidfd", Napi::Number::New(env, pidFd.release()));
  result.Set("sock", Napi::Number::New(env, parentEnd.release()));
  return result;
}

}  // namespace

void RegisterHelperSpawn(Napi::Env env, Napi::Object exports) {
  exports.Set("initHelper", Napi::Function::New(env, InitHelper, "initHelper"));
  exports.Set("helperFd", Napi::Function::New(env, HelperFd, "helperFd"));
  exports.Set("initMonitor", Napi::Function::New(env, InitMonitor, "initMonitor"));
  exports.Set("spawnHelper", Napi::Function::New(env, SpawnHelper, "spawnHelper"));
}

}  // namespace berth
