// Mounts, devices and symlinks inside the rootfs. Each target is resolved with open_in_root()
// to an O_PATH fd and the mount goes onto /proc/self/fd/N, so what is mounted on is exactly
// what was resolved inside the root, whatever symlinks the rootfs holds.
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "berth/protocol.h"
#include "paths.h"
#include "report.h"
#include "util.h"

#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif

// The MS_* flags of the mount a path is on that a bind remount must repeat.
static unsigned long existing_flags(const std::string& path) {
  struct statfs sf;
  if (statfs(path.c_str(), &sf) < 0) return 0;
  static const struct { unsigned long st, ms; } kMap[] = {
      {ST_NOSUID, MS_NOSUID},     {ST_NODEV, MS_NODEV},         {ST_NOEXEC, MS_NOEXEC},
      {ST_NOATIME, MS_NOATIME},   {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME},
      {ST_RDONLY, MS_RDONLY},
  };
  unsigned long out = 0;
  for (const auto& m : kMap)
    if (sf.f_flags & m.st) out |= m.ms;
  return out;
}

int remount_bind(const std::string& path, unsigned long flags, bool keep_existing) {
  unsigned long base = MS_BIND | MS_REMOUNT | flags;
  if (keep_existing) base |= existing_flags(path);
  if (mount(nullptr, path.c_str(), nullptr, base, nullptr) == 0) return 0;
  if (errno != EPERM || keep_existing) return errno;
  if (mount(nullptr, path.c_str(), nullptr, base | existing_flags(path), nullptr) == 0) return 0;
  return errno;
}

void mount_entry(int root, const MountEntry& m) {
  const char* target = m.target.c_str();
  bool bind = m.flags & MS_BIND;
  // /proc and /sys must not be reached through a symlink (runc CVE-2019-19921 and friends).
  uint64_t extra = (m.fstype == "proc" || m.fstype == "sysfs") ? RESOLVE_NO_SYMLINKS : 0;
  Create create = Create::kDir;
  struct stat st;
  if (bind && stat(m.source.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) create = Create::kFile;

  int fd = open_in_root(root, m.target, create, extra);
  if (fd < 0) fail(STAGE_MOUNT, -fd, target);
  std::string at = fd_path(fd);
  int rc = bind ? mount(m.source.c_str(), at.c_str(), nullptr, m.flags, nullptr)
                : mount(m.source.c_str(), at.c_str(), m.fstype.c_str(), m.flags,
                        m.data.empty() ? nullptr : m.data.c_str());
  if (rc < 0) fail(STAGE_MOUNT, errno, target);
  close(fd);

  if (!(bind && m.remount_flags) && m.fstype != "proc" && !m.propagation) return;
  // The fd above names the dentry under the new mount; look the target up again to get the
  // new mount itself.
  fd = open_in_root(root, m.target, Create::kNone, extra);
  if (fd < 0) fail(STAGE_MOUNT, -fd, target);
  at = fd_path(fd);
  if (bind && m.remount_flags) {
    int err = remount_bind(at, m.remount_flags, false);
    if (err) fail(STAGE_MOUNT, err, target);
  }
  if (m.fstype == "proc") {
    struct statfs sf;
    if (fstatfs(fd, &sf) < 0) fail(STAGE_MOUNT, errno, target);
    if (sf.f_type != PROC_SUPER_MAGIC) fail(STAGE_MOUNT, EINVAL, target);
  }
  if (m.propagation && mount(nullptr, at.c_str(), nullptr, m.propagation, nullptr) < 0)
    fail(STAGE_MOUNT, errno, target);
  close(fd);
}

void make_device(int root, const DeviceEntry& d) {
  const char* path = d.path.c_str();
  if (d.bind) {
    // In a user namespace mknod is not allowed: bind the host's node onto an empty file.
    int fd = open_in_root(root, d.path, Create::kFile);
    if (fd < 0) fail(STAGE_DEVICE, -fd, path);
    if (mount(path, fd_path(fd).c_str(), nullptr, MS_BIND, nullptr) < 0) fail(STAGE_DEVICE, errno, path);
    close(fd);
    return;
  }
  std::string parent, name;
  if (!split_parent(d.path, &parent, &name)) fail(STAGE_DEVICE, EINVAL, path);
  int dir = open_in_root(root, parent, Create::kDir);
  if (dir < 0) fail(STAGE_DEVICE, -dir, path);
  mode_t type = d.type == 'b' ? S_IFBLK : d.type == 'p' ? S_IFIFO : S_IFCHR;
  dev_t dev = d.type == 'p' ? 0 : makedev(d.major, d.minor);
  if (mknodat(dir, name.c_str(), type | (d.mode & 07777), dev) < 0) {
    if (errno != EEXIST) fail(STAGE_DEVICE, errno, path);
    close(dir);
    return;  // as runc: an existing node is left alone
  }
  if (fchownat(dir, name.c_str(), d.uid, d.gid, AT_SYMLINK_NOFOLLOW) < 0) fail(STAGE_DEVICE, errno, path);
  close(dir);
}

void make_symlink(int root, const SymlinkEntry& l) {
  const char* path = l.path.c_str();
  std::string parent, name;
  if (!split_parent(l.path, &parent, &name)) fail(STAGE_SYMLINK, EINVAL, path);
  int dir = open_in_root(root, parent, Create::kDir);
  if (dir < 0) fail(STAGE_SYMLINK, -dir, path);
  if (symlinkat(l.target.c_str(), dir, name.c_str()) < 0) {
    if (errno != EEXIST) fail(STAGE_SYMLINK, errno, path);
    char buf[PATH_MAX];
    ssize_t n = readlinkat(dir, name.c_str(), buf, sizeof buf);
    if (n < 0 || std::string(buf, n) != l.target) fail(STAGE_SYMLINK, EEXIST, path);
  }
  close(dir);
}
