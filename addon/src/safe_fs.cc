// Directory-fd-relative file primitives for layer extraction. Every path is resolved inside a
// root directory fd with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): `..`, absolute
// paths and symlinks (absolute or relative) all stay inside the root. Calls that act on a name
// resolve its PARENT that way and then act on the last component with the *at call, never
// following a symlink there. Synchronous; each maps errno to a thrown error.
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "errors.h"
#include "module.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef SYS_setxattrat
#define SYS_setxattrat 463
#endif
#ifndef SYS_getxattrat
#define SYS_getxattrat 464
#endif

namespace berth {
namespace {

constexpr uint64_t kResolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

// struct xattr_args of setxattrat(2)/getxattrat(2) (Linux 6.13).
struct XattrArgs {
  uint64_t value;
  uint32_t size;
  uint32_t flags;
};

// openat2(dirfd, path, flags, mode) resolved in the root; returns the fd or -1 (errno set).
int OpenInRoot(int dirfd, const std::string& path, int flags, mode_t mode) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
  if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) how.mode = mode;
  how.resolve = kResolve;
  const char* p = path.empty() ? "." : path.c_str();
  for (;;) {
    long fd = syscall(SYS_openat2, dirfd, p, &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno != EAGAIN && errno != EINTR) return -1;  // EAGAIN: a concurrent rename; retry
  }
}

// A path split into its in-root parent (an O_PATH directory fd) and its last component.
struct Parent {
  Fd dir;
  std::string name;
};

// Resolves the parent of `rel` inside the root. The last component must be a real name
// (not empty, "." or ".."): EINVAL otherwise.
void ResolveParent(Napi::Env env, int root, const std::string& rel, Parent* out) {
  std::string path = rel;
  while (!path.empty() && path.back() == '/') path.pop_back();
  size_t slash = path.rfind('/');
  std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
  out->name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (out->name.empty() || out->name == "." || out->name == "..") {
    ThrowErrnoValue(env, EINVAL, "resolve", rel.c_str());
  }
  int fd = OpenInRoot(root, parent, O_PATH | O_DIRECTORY, 0);
  if (fd < 0) ThrowErrno(env, "openat2", rel.c_str());
  out->dir.reset(fd);
}

// openRoot(path) -> an O_PATH directory fd (CLOEXEC) to resolve the other calls in.
Napi::Value OpenRoot(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0);
  int fd = open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) ThrowErrno(info.Env(), "open", path.c_str());
  return Napi::Number::New(info.Env(), fd);
}

// openIn(root, rel, flags, mode) -> fd, resolved with openat2 inside the root.
Napi::Value OpenIn(const Napi::CallbackInfo& info) {
  std::string rel = StringArg(info, 1);
  int fd = OpenInRoot(IntArg(info, 0), rel, IntArg(info, 2), static_cast<mode_t>(IntArg(info, 3)));
  if (fd < 0) ThrowErrno(info.Env(), "openat2", rel.c_str());
  return Napi::Number::New(info.Env(), fd);
}

// mkdirIn(root, rel, mode).
Napi::Value MkdirIn(const Napi::CallbackInfo& info) {
  Parent p;
  std::string rel = StringArg(info, 1);
  ResolveParent(info.Env(), IntArg(info, 0), rel, &p);
  if (mkdirat(p.dir.get(), p.name.c_str(), static_cast<mode_t>(IntArg(info, 2))) < 0) {
    ThrowErrno(info.Env(), "mkdirat", rel.c_str());
  }
  return info.Env().Undefined();
}

// symlinkIn(root, rel, target): the target is stored as written (it is only data).
Napi::Value SymlinkIn(const Napi::CallbackInfo& info) {
  Parent p;
  std::string rel = StringArg(info, 1);
  std::string target = StringArg(info, 2);
  ResolveParent(info.Env(), IntArg(info, 0), rel, &p);
  if (symlinkat(target.c_str(), p.dir.get(), p.name.c_str()) < 0) {
    ThrowErrno(info.Env(), "symlinkat", rel.c_str());
  }
  return info.Env().Undefined();
}

// linkIn(root, rel, targetRel): a hard link to the object at targetRel, both resolved in the
// root; a symlink target is linked itself (never followed), so nothing outside is reachable.
Napi::Value LinkIn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int root = IntArg(info, 0);
  std::string rel = StringArg(info, 1);
  std::string target = StringArg(info, 2);
  Parent p, t;
  ResolveParent(env, root, rel, &p);
  ResolveParent(env, root, target, &t);
  if (linkat(t.dir.get(), t.name.c_str(), p.dir.get(), p.name.c_str(), 0) < 0) {
    ThrowErrno(env, "linkat", rel.c_str());
  }
  return env.Undefined();
}

// mknodIn(root, rel, mode, major, minor): mode carries the file type (S_IFCHR, ...).
Napi::Value MknodIn(const Napi::CallbackInfo& info) {
  Parent p;
  std::string rel = StringArg(info, 1);
  ResolveParent(info.Env(), IntArg(info, 0), rel, &p);
  dev_t dev = makedev(static_cast<unsigned>(IntArg(info, 3)), static_cast<unsigned>(IntArg(info, 4)));
  if (mknodat(p.dir.get(), p.name.c_str(), static_cast<mode_t>(IntArg(info, 2)), dev) < 0) {
    ThrowErrno(info.Env(), "mknodat", rel.c_str());
  }
  return info.Env().Undefined();
}

// Removes every entry of the directory `dirfd` (recursively, no symlink followed).
bool ClearDir(int dirfd) {
  int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    close(fd);
    return false;
  }
  bool ok = true;
  while (struct dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (unlinkat(fd, e->d_name, 0) == 0) continue;
    if (errno != EISDIR) { ok = false; break; }
    int sub = openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) { ok = false; break; }
    bool cleared = ClearDir(sub);
    int err = errno;
    close(sub);
    if (!cleared) { errno = err; ok = false; break; }
    if (unlinkat(fd, e->d_name, AT_REMOVEDIR) < 0) { ok = false; break; }
  }
  int err = errno;
  closedir(d);
  errno = err;
  return ok;
}

// unlinkIn(root, rel): removes a non-directory or an empty directory.
Napi::Value UnlinkIn(const Napi::CallbackInfo& info) {
  Parent p;
  std::string rel = StringArg(info, 1);
  ResolveParent(info.Env(), IntArg(info, 0), rel, &p);
  if (unlinkat(p.dir.get(), p.name.c_str(), 0) < 0) {
    if (errno != EISDIR || unlinkat(p.dir.get(), p.name.c_str(), AT_REMOVEDIR) < 0) {
      ThrowErrno(info.Env(), "unlinkat", rel.c_str());
    }
  }
  return info.Env().Undefined();
}

// rmtreeIn(root, rel, keepDir): removes rel and everything below it (ENOENT when absent);
// with keepDir a directory at rel is emptied but kept. A symlink at rel is removed itself.
Napi::Value RmtreeIn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int root = IntArg(info, 0);
  std::string rel = StringArg(info, 1);
  bool keepDir = BoolArg(info, 2);
  std::string trimmed = rel;
  while (!trimmed.empty() && trimmed.back() == '/') trimmed.pop_back();
  if (trimmed.empty() || trimmed == ".") {  // the root itself: only ever emptied
    Fd dir(OpenInRoot(root, "", O_RDONLY | O_DIRECTORY, 0));
    if (dir.get() < 0 || !ClearDir(dir.get())) ThrowErrno(env, "rmtree", rel.c_str());
    return env.Undefined();
  }
  Parent p;
  ResolveParent(env, root, rel, &p);
  const char* name = p.name.c_str();
  if (!keepDir && unlinkat(p.dir.get(), name, 0) == 0) return env.Undefined();
  if (!keepDir && errno != EISDIR) ThrowErrno(env, "unlinkat", rel.c_str());
  Fd sub(openat(p.dir.get(), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (sub.get() < 0) ThrowErrno(env, "openat", rel.c_str());
  if (!ClearDir(sub.get())) ThrowErrno(env, "rmtree", rel.c_str());
  if (!keepDir && unlinkat(p.dir.get(), name, AT_REMOVEDIR) < 0) ThrowErrno(env, "unlinkat", rel.c_str());
  return env.Undefined();
}

// chownIn(root, rel, uid, gid): lchown semantics.
Napi::Value ChownIn(const Napi::CallbackInfo& info) {
  Parent p;
  std::string rel = StringArg(info, 1);
  ResolveParent(info.Env(), IntArg(info, 0), rel, &p);
  uid_t uid = static_cast<uid_t>(info[2].As<Napi::Number>().Uint32Value());
  gid_t gid = static_cast<gid_t>(info[3].As<Napi::Number>().Uint32Value());
  if (fchownat(p.dir.get(), p.name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
    ThrowErrno(info.Env(), "fchownat", rel.c_str());
  }
  return info.Env().Undefined();
}

// chmodIn(root, rel, mode): never follows a symlink at rel (a symlink's mode is left alone).
Napi::Value ChmodIn(const Napi::CallbackInfo& info) {
  Parent p;
  std::string rel = StringArg(info, 1);
  ResolveParent(info.Env(), IntArg(info, 0), rel, &p);
  mode_t mode = static_cast<mode_t>(IntArg(info, 2));
  if (syscall(SYS_fchmodat2, p.dir.get(), p.name.c_str(), mode, AT_SYMLINK_NOFOLLOW) == 0) {
    return info.Env().Undefined();
  }
  if (errno == EOPNOTSUPP) return info.Env().Undefined();  // a symlink
  if (errno != ENOSYS) ThrowErrno(info.Env(), "fchmodat2", rel.c_str());
  struct stat st;
  if (fstatat(p.dir.get(), p.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    ThrowErrno(info.Env(), "fstatat", rel.c_str());
  }
  if (S_ISLNK(st.st_mode)) return info.Env().Undefined();
  if (fchmodat(p.dir.get(), p.name.c_str(), mode, 0) < 0) ThrowErrno(info.Env(), "fchmodat", rel.c_str());
  return info.Env().Undefined();
}

// Seconds as a double (possibly negative or fractional) as a timespec.
struct timespec ToTimespec(double s) {
  double whole = s < 0 ? -static_cast<double>(static_cast<int64_t>(-s)) : static_cast<double>(static_cast<int64_t>(s));
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(whole);
  ts.tv_nsec = static_cast<long>((s - whole) * 1e9);
  if (ts.tv_nsec < 0) { ts.tv_sec -= 1; ts.tv_nsec += 1000000000L; }
  if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
  return ts;
}

// utimesIn(root, rel, atime, mtime): seconds as doubles, AT_SYMLINK_NOFOLLOW.
Napi::Value UtimesIn(const Napi::CallbackInfo& info) {
  Parent p;
  std::string rel = StringArg(info, 1);
  ResolveParent(info.Env(), IntArg(info, 0), rel, &p);
  struct timespec ts[2] = {ToTimespec(info[2].As<Napi::Number>().DoubleValue()),
                           ToTimespec(info[3].As<Napi::Number>().DoubleValue())};
  if (utimensat(p.dir.get(), p.name.c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0) {
    ThrowErrno(info.Env(), "utimensat", rel.c_str());
  }
  return info.Env().Undefined();
}

// finishFile(fd, uid, gid, mode, mtime, xattrs): the metadata of a file just written through
// `fd`, in the order that keeps it: owner (uid < 0: left alone; chown clears setuid bits and
// capabilities), mode, extended attributes ([name, Buffer] pairs, values kept as given),
// then atime = mtime. The fd is closed whatever happens; the first failure is thrown.
Napi::Value FinishFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fd fd(IntArg(info, 0));
  int64_t uid = info[1].As<Napi::Number>().Int64Value();  // ids up to 2^32-1; negative: keep
  uint32_t gid = info[2].As<Napi::Number>().Uint32Value();
  if (uid >= 0 && fchown(fd.get(), static_cast<uid_t>(uid), static_cast<gid_t>(gid)) < 0) ThrowErrno(env, "fchown");
  if (fchmod(fd.get(), static_cast<mode_t>(IntArg(info, 3))) < 0) ThrowErrno(env, "fchmod");
  auto xattrs = info[5].As<Napi::Array>();
  for (uint32_t i = 0; i < xattrs.Length(); i++) {
    auto pair = xattrs.Get(i).As<Napi::Array>();
    std::string name = pair.Get(0u).As<Napi::String>().Utf8Value();
    auto value = pair.Get(1u).As<Napi::Buffer<uint8_t>>();
    if (fsetxattr(fd.get(), name.c_str(), value.Data(), value.Length(), 0) < 0) ThrowErrno(env, "fsetxattr", name.c_str());
  }
  struct timespec t = ToTimespec(info[4].As<Napi::Number>().DoubleValue());
  struct timespec ts[2] = {t, t};
  if (futimens(fd.get(), ts) < 0) ThrowErrno(env, "futimens");
  if (close(fd.release()) < 0 && errno != EINTR) ThrowErrno(env, "close");
  return env.Undefined();
}

// An object inside the root pinned by an O_PATH fd (never following a symlink at `rel`), and
// the /proc/self/fd path that names it for the path-only xattr calls.
struct Pinned {
  Fd fd;
  std::string proc;
};

// Pins the last component of `p` (which resolved `rel`) for a path-only call.
void Pin(Napi::Env env, const Parent& p, const std::string& rel, Pinned* out) {
  out->fd.reset(openat(p.dir.get(), p.name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (out->fd.get() < 0) ThrowErrno(env, "openat", rel.c_str());
  out->proc = "/proc/self/fd/" + std::to_string(out->fd.get());
}

// setxattrIn(root, rel, name, value): the value kept as given; never follows a symlink at rel.
Napi::Value SetxattrIn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Parent p;
  std::string rel = StringArg(info, 1);
  std::string name = StringArg(info, 2);
  auto value = info[3].As<Napi::Buffer<uint8_t>>();
  ResolveParent(env, IntArg(info, 0), rel, &p);
  XattrArgs args = {reinterpret_cast<uint64_t>(value.Data()), static_cast<uint32_t>(value.Length()), 0};
  if (syscall(SYS_setxattrat, p.dir.get(), p.name.c_str(), AT_SYMLINK_NOFOLLOW, name.c_str(), &args,
              sizeof args) == 0) {
    return env.Undefined();
  }
  if (errno != ENOSYS) ThrowErrno(env, "setxattrat", rel.c_str());
  // Older kernels: pin the object and name it through /proc.
  Pinned obj;
  Pin(env, p, rel, &obj);
  if (setxattr(obj.proc.c_str(), name.c_str(), value.Data(), value.Length(), 0) < 0) {
    ThrowErrno(env, "setxattr", rel.c_str());
  }
  return env.Undefined();
}

// getxattrIn(root, rel, name) -> Buffer; never follows a symlink at rel.
Napi::Value GetxattrIn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string rel = StringArg(info, 1);
  std::string name = StringArg(info, 2);
  Parent p;
  ResolveParent(env, IntArg(info, 0), rel, &p);
  Pinned obj;
  Pin(env, p, rel, &obj);
  char buf[65536];
  ssize_t n = getxattr(obj.proc.c_str(), name.c_str(), buf, sizeof buf);
  if (n < 0) ThrowErrno(env, "getxattr", rel.c_str());
  return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<uint8_t*>(buf), static_cast<size_t>(n));
}

// listxattrIn(root, rel) -> string[]: the names of the object's extended attributes (not
// following a symlink at rel).
Napi::Value ListxattrIn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string rel = StringArg(info, 1);
  Parent p;
  ResolveParent(env, IntArg(info, 0), rel, &p);
  Pinned obj;
  Pin(env, p, rel, &obj);
  char buf[65536];
  ssize_t n = listxattr(obj.proc.c_str(), buf, sizeof buf);
  if (n < 0) ThrowErrno(env, "listxattr", rel.c_str());
  Napi::Array names = Napi::Array::New(env);
  uint32_t count = 0;
  for (ssize_t i = 0; i < n;) {
    size_t len = strnlen(buf + i, static_cast<size_t>(n - i));
    names.Set(count++, Napi::String::New(env, buf + i, len));
    i += static_cast<ssize_t>(len) + 1;
  }
  return names;
}

}  // namespace

void RegisterSafeFs(Napi::Env env, Napi::Object exports) {
  exports.Set("openRoot", Napi::Function::New(env, OpenRoot, "openRoot"));
  exports.Set("openIn", Napi::Function::New(env, OpenIn, "openIn"));
  exports.Set("mkdirIn", Napi::Function::New(env, MkdirIn, "mkdirIn"));
  exports.Set("symlinkIn", Napi::Function::New(env, SymlinkIn, "symlinkIn"));
  exports.Set("linkIn", Napi::Function::New(env, LinkIn, "linkIn"));
  exports.Set("mknodIn", Napi::Function::New(env, MknodIn, "mknodIn"));
  exports.Set("unlinkIn", Napi::Function::New(env, UnlinkIn, "unlinkIn"));
  exports.Set("rmtreeIn", Napi::Function::New(env, RmtreeIn, "rmtreeIn"));
  exports.Set("chownIn", Napi::Function::New(env, ChownIn, "chownIn"));
  exports.Set("chmodIn", Napi::Function::New(env, ChmodIn, "chmodIn"));
  exports.Set("utimesIn", Napi::Function::New(env, UtimesIn, "utimesIn"));
  exports.Set("finishFile", Napi::Function::New(env, FinishFile, "finishFile"));
  exports.Set("setxattrIn", Napi::Function::New(env, SetxattrIn, "setxattrIn"));
  exports.Set("getxattrIn", Napi::Function::New(env, GetxattrIn, "getxattrIn"));
  exports.Set("listxattrIn", Napi::Function::New(env, ListxattrIn, "listxattrIn"));
}

}  // namespace berth
