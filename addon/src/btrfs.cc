// btrfs subvolume primitives for the btrfs graph driver: create, snapshot, delete, the
// read-only flag, and "is this a subvolume". Each is one ioctl on a directory fd (plus the
// opens it needs); synchronous, since they are fast metadata operations. Names are single
// path components inside the given parent directory.
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "errors.h"
#include "module.h"

namespace berth {
namespace {

// The inode number of every subvolume's root directory (BTRFS_FIRST_FREE_OBJECTID).
constexpr ino_t kSubvolRootIno = 256;

// Opens `path` as a directory (O_RDONLY, as the btrfs ioctls need); throws on failure.
int OpenDir(Napi::Env env, const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) ThrowErrno(env, "open", path.c_str());
  return fd;
}

// Copies a subvolume name into an ioctl's fixed-size name field; EINVAL for an empty name,
// ".", "..", one holding '/', or one too long for the field.
void CopyName(Napi::Env env, const std::string& name, char* field, size_t fieldSize,
              const char* syscall) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.size() >= fieldSize) {
    ThrowErrnoValue(env, EINVAL, syscall, name.c_str());
  }
  memcpy(field, name.c_str(), name.size() + 1);
}

// btrfsSubvolCreate(parentDir, name): BTRFS_IOC_SUBVOL_CREATE of an empty subvolume.
Napi::Value SubvolCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string parent = StringArg(info, 0);
  std::string name = StringArg(info, 1);
  struct btrfs_ioctl_vol_args args = {};
  CopyName(env, name, args.name, sizeof args.name, "BTRFS_IOC_SUBVOL_CREATE");
  Fd dir(OpenDir(env, parent));
  if (ioctl(dir.get(), BTRFS_IOC_SUBVOL_CREATE, &args) < 0) {
    ThrowErrno(env, "BTRFS_IOC_SUBVOL_CREATE", (parent + "/" + name).c_str());
  }
  return env.Undefined();
}

// btrfsSnapshot(srcSubvol, destParentDir, name, readonly): BTRFS_IOC_SNAP_CREATE_V2, with
// BTRFS_SUBVOL_RDONLY when readonly.
Napi::Value Snapshot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string src = StringArg(info, 0);
  std::string parent = StringArg(info, 1);
  std::string name = StringArg(info, 2);
  bool readonly = BoolArg(info, 3);
  struct btrfs_ioctl_vol_args_v2 args = {};
  CopyName(env, name, args.name, sizeof args.name, "BTRFS_IOC_SNAP_CREATE_V2");
  Fd srcFd(OpenDir(env, src));
  Fd dir(OpenDir(env, parent));
  args.fd = srcFd.get();
  args.flags = readonly ? BTRFS_SUBVOL_RDONLY : 0;
  if (ioctl(dir.get(), BTRFS_IOC_SNAP_CREATE_V2, &args) < 0) {
    ThrowErrno(env, "BTRFS_IOC_SNAP_CREATE_V2", (parent + "/" + name).c_str());
  }
  return env.Undefined();
}

// btrfsSubvolDelete(parentDir, name): BTRFS_IOC_SNAP_DESTROY. ENOTEMPTY when the subvolume
// holds nested subvolumes; a caller without CAP_SYS_ADMIN (user_subvol_rm_allowed) cannot
// delete a read-only one (clear the flag first).
Napi::Value SubvolDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string parent = StringArg(info, 0);
  std::string name = StringArg(info, 1);
  struct btrfs_ioctl_vol_args args = {};
  CopyName(env, name, args.name, sizeof args.name, "BTRFS_IOC_SNAP_DESTROY");
  Fd dir(OpenDir(env, parent));
  if (ioctl(dir.get(), BTRFS_IOC_SNAP_DESTROY, &args) < 0) {
    ThrowErrno(env, "BTRFS_IOC_SNAP_DESTROY", (parent + "/" + name).c_str());
  }
  return env.Undefined();
}

// btrfsSetReadonly(subvol, readonly): sets or clears BTRFS_SUBVOL_RDONLY through
// BTRFS_IOC_SUBVOL_GETFLAGS/SETFLAGS (no call when it already is as asked).
Napi::Value SetReadonly(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0);
  bool readonly = BoolArg(info, 1);
  Fd fd(OpenDir(env, path));
  __u64 flags = 0;
  if (ioctl(fd.get(), BTRFS_IOC_SUBVOL_GETFLAGS, &flags) < 0) {
    ThrowErrno(env, "BTRFS_IOC_SUBVOL_GETFLAGS", path.c_str());
  }
  __u64 wanted = readonly ? (flags | BTRFS_SUBVOL_RDONLY) : (flags & ~BTRFS_SUBVOL_RDONLY);
  if (wanted != flags && ioctl(fd.get(), BTRFS_IOC_SUBVOL_SETFLAGS, &wanted) < 0) {
    ThrowErrno(env, "BTRFS_IOC_SUBVOL_SETFLAGS", path.c_str());
  }
  return env.Undefined();
}

// btrfsIsSubvolume(path): whether `path` (not followed) is a directory with inode 256 on a
// btrfs file system, i.e. a subvolume's root. Throws for a path it cannot lstat (ENOENT).
Napi::Value IsSubvolume(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0);
  struct stat st;
  if (lstat(path.c_str(), &st) < 0) ThrowErrno(env, "lstat", path.c_str());
  if (!S_ISDIR(st.st_mode) || st.st_ino != kSubvolRootIno) return Napi::Boolean::New(env, false);
  struct statfs fs;
  if (statfs(path.c_str(), &fs) < 0) ThrowErrno(env, "statfs", path.c_str());
  return Napi::Boolean::New(env, static_cast<unsigned long>(fs.f_type) == BTRFS_SUPER_MAGIC);
}

}  // namespace

void RegisterBtrfs(Napi::Env env, Napi::Object exports) {
  exports.Set("btrfsSubvolCreate", Napi::Function::New(env, SubvolCreate, "btrfsSubvolCreate"));
  exports.Set("btrfsSnapshot", Napi::Function::New(env, Snapshot, "btrfsSnapshot"));
  exports.Set("btrfsSubvolDelete", Napi::Function::New(env, SubvolDelete, "btrfsSubvolDelete"));
  exports.Set("btrfsSetReadonly", Napi::Function::New(env, SetReadonly, "btrfsSetReadonly"));
  exports.Set("btrfsIsSubvolume", Napi::Function::New(env, IsSubvolume, "btrfsIsSubvolume"));
}

}  // namespace berth
