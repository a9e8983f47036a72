// The container's filesystem: mounts, devices, symlinks inside the rootfs, then pivot_root,
// masked and read-only paths.
#ifndef BERTH_HELPER_MOUNTS_H
#define BERTH_HELPER_MOUNTS_H

#include <string>

#include "config.h"

// Performs one CFG_MOUNT inside the directory fd `root` (STAGE_MOUNT on failure).
void mount_entry(int root, const MountEntry& m);
// Creates one CFG_DEVICE inside `root` (STAGE_DEVICE on failure).
void make_device(int root, const DeviceEntry& d);
// Creates one CFG_SYMLINK inside `root` (STAGE_SYMLINK on failure).
void make_symlink(int root, const SymlinkEntry& l);

// Remounts the mount at `path` with MS_BIND|MS_REMOUNT|flags. With keep_existing, the flags
// the mount already has (nosuid, nodev, noexec, atime) are kept; without, they are only added
// when the plain remount fails with EPERM (flags locked in a user namespace). Returns 0 or errno.
int remount_bind(const std::string& path, unsigned long flags, bool keep_existing);

// Mounts one CFG_ROOTFS_MOUNT onto the rootfs path (STAGE_ROOTFS_MOUNT on failure).
void mount_rootfs_layer(const std::string& rootfs, const MountEntry& m);

// Create mode, with a new mount namespace: rootfs propagation, CFG_ROOTFS_MOUNT, rootfs bind, CFG_MOUNT,
// CFG_DEVICE, CFG_SYMLINK, then pivot_root (or MS_MOVE + chroot). Afterwards "/" is the rootfs.
void prepare_rootfs(const Config& c);
// After pivot_root: masked paths, read-only paths, read-only rootfs.
void finish_rootfs(const Config& c);

#endif
