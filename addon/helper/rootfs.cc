// The rootfs as a whole: propagation, self-bind, pivot_root, and the post-pivot masked and
// read-only paths (modelled on runc's libcontainer/rootfs_linux.go).
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "berth/protocol.h"
#include "mounts.h"
#include "paths.h"
#include "report.h"
#include "util.h"

#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif

// runc's pivot_root(".", "."): stack the old root under the new one, then detach it.
static void pivot_root_into(int newroot, const std::string& rootfs) {
  const char* detail = rootfs.c_str();
  int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (oldroot < 0) fail(STAGE_PIVOT_ROOT, errno, "/");
  if (fchdir(newroot) < 0) fail(STAGE_PIVOT_ROOT, errno, detail);
  if (sys_pivot_root(".", ".") < 0) fail(STAGE_PIVOT_ROOT, errno, detail);
  // We are in the new root, and the old root is mounted on top of it: leave it for good,
  // without letting the unmount propagate to the host.
  if (fchdir(oldroot) < 0) fail(STAGE_PIVOT_ROOT, errno, "old root");
  if (mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) < 0) fail(STAGE_PIVOT_ROOT, errno, "old root");
  if (umount2(".", MNT_DETACH) < 0) fail(STAGE_PIVOT_ROOT, errno, "old root");
  if (chdir("/") < 0) fail(STAGE_PIVOT_ROOT, errno, "/");
  close(oldroot);
}

// CFG_NO_PIVOT (rootfs on a ramfs, where pivot_root is impossible): move the rootfs onto "/".
static void move_root_into(int newroot, const std::string& rootfs) {
  const char* detail = rootfs.c_str();
  if (fchdir(newroot) < 0) fail(STAGE_PIVOT_ROOT, errno, detail);
  if (mount(".", "/", nullptr, MS_MOVE, nullptr) < 0) fail(STAGE_PIVOT_ROOT, errno, detail);
  if (chroot(".") < 0) fail(STAGE_PIVOT_ROOT, errno, detail);
  if (chdir("/") < 0) fail(STAGE_PIVOT_ROOT, errno, "/");
}

// Every mount is made a slave first, so nothing done here reaches the host and pivot_root
// never meets a shared mount; the requested rootfs propagation is applied to the new root
// once it is in place (as crun does: applied before, "shared" or "unbindable" would make
// pivot_root or the rootfs bind fail).
void prepare_rootfs(const Config& c) {
  const char* rootfs = c.rootfs.c_str();
  if (mount(nullptr, "/", nullptr, MS_SLAVE | MS_REC, nullptr) < 0)
    fail(STAGE_ROOTFS_PROPAGATION, errno, "/");
  for (const MountEntry& m : c.rootfs_mounts) mount_rootfs_layer(c.rootfs, m);
  if (mount(rootfs, rootfs, "bind", MS_BIND | MS_REC, nullptr) < 0) fail(STAGE_ROOTFS, errno, rootfs);
  // Opened after the bind, so it names the new mount and not the directory beneath it.
  int root = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (root < 0) fail(STAGE_ROOTFS, errno, rootfs);

  for (const MountEntry& m : c.mounts) mount_entry(root, m);
  for (const DeviceEntry& d : c.devices) make_device(root, d);
  for (const SymlinkEntry& l : c.symlinks) make_symlink(root, l);

  if (c.no_pivot)
    move_root_into(root, c.rootfs);
  else
    pivot_root_into(root, c.rootfs);
  close(root);
  if (c.rootfs_propagation != (MS_SLAVE | MS_REC) && mount(nullptr, "/", nullptr, c.rootfs_propagation, nullptr) < 0)
    fail(STAGE_ROOTFS_PROPAGATION, errno, "/");
}

// Opens /dev/null and checks it is the real one (char 1:3), not something planted in its
// place (runc CVE-2025-31133). Returns an O_PATH fd.
static int verified_dev_null() {
  int fd = open("/dev/null", O_PATH | O_CLOEXEC);
  if (fd < 0) fail(STAGE_MASKED_PATH, errno, "/dev/null");
  struct stat st;
  if (fstat(fd, &st) < 0) fail(STAGE_MASKED_PATH, errno, "/dev/null");
  if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) fail(STAGE_MASKED_PATH, ENODEV, "/dev/null");
  return fd;
}

// Hides a path: an empty read-only tmpfs over a directory, /dev/null over anything else.
static void mask_path(int root, const std::string& path, int* dev_null) {
  int fd = open_in_root(root, path, Create::kNone);
  if (fd == -ENOENT) return;
  if (fd < 0) fail(STAGE_MASKED_PATH, -fd, path);
  struct stat st;
  if (fstat(fd, &st) < 0) fail(STAGE_MASKED_PATH, errno, path);
  std::string at = fd_path(fd);
  int rc;
  if (S_ISDIR(st.st_mode)) {
    rc = mount("tmpfs", at.c_str(), "tmpfs", MS_RDONLY, nullptr);
  } else {
    if (*dev_null < 0) *dev_null = verified_dev_null();
    rc = mount(fd_path(*dev_null).c_str(), at.c_str(), nullptr, MS_BIND, nullptr);
  }
  if (rc < 0) fail(STAGE_MASKED_PATH, errno, path);
  close(fd);
}

// Makes a path read-only: bind it onto itself, then remount the bind read-only.
// True when `fd` is the root of a mount (statx's STATX_ATTR_MOUNT_ROOT, Linux 5.8+).
static bool is_mount_root(int fd) {
  struct statx stx = {};
  if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, 0, &stx) < 0) return false;
  return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

// A mount point (the cgroup tmpfs, a read-only /dev) is remounted read-only in place; any other
// path is first bound onto itself. Binding a mount point onto itself would stack a second copy
// of everything mounted below it.
static void readonly_path(int root, const std::string& path) {
  int fd = open_in_root(root, path, Create::kNone);
  if (fd == -ENOENT) return;
  if (fd < 0) fail(STAGE_READONLY_PATH, -fd, path);
  if (!is_mount_root(fd)) {
    std::string at = fd_path(fd);
    if (mount(at.c_str(), at.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0)
      fail(STAGE_READONLY_PATH, errno, path);
    close(fd);
    fd = open_in_root(root, path, Create::kNone);  // the new mount, not the one beneath
    if (fd < 0) fail(STAGE_READONLY_PATH, -fd, path);
  }
  int err = remount_bind(fd_path(fd), MS_RDONLY, true);
  if (err) fail(STAGE_READONLY_PATH, err, path);
  close(fd);
}

// Masked and read-only paths are mounted onto /proc/self/fd/N, which after pivot_root resolves
// through the container's own /proc: unless that is a real procfs, the image would decide
// where each mount lands. Both /proc and /proc/self/fd must be procfs (nothing mounted over).
static void require_procfs(int stage) {
  static const char* const kPaths[] = {"/proc", "/proc/self/fd"};
  for (const char* p : kPaths) {
    int fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC | (p[5] == 0 ? O_NOFOLLOW : 0));
    if (fd < 0) fail(stage, errno == ELOOP ? ELOOP : ENODEV, p);
    struct statfs sf;
    bool ok = fstatfs(fd, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC;
    close(fd);
    if (!ok) fail(stage, ENODEV, p);
  }
}

void finish_rootfs(const Config& c) {
  if (c.masked_paths.empty() && c.readonly_paths.empty() && !c.readonly_rootfs) return;
  if (!c.masked_paths.empty() || !c.readonly_paths.empty())
    require_procfs(c.masked_paths.empty() ? STAGE_READONLY_PATH : STAGE_MASKED_PATH);
  int root = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (root < 0) fail(STAGE_MASKED_PATH, errno, "/");
  int dev_null = -1;
  for (const std::string& p : c.masked_paths) mask_path(root, p, &dev_null);
  for (const std::string& p : c.readonly_paths) readonly_path(root, p);
  if (c.readonly_rootfs) {
    int err = remount_bind("/", MS_RDONLY, true);
    if (err) fail(STAGE_READONLY_ROOTFS, err, "/");
  }
  if (dev_null >= 0) close(dev_null);
  close(root);
}
