// CFG_ROOTFS_MOUNT: the mounts that assemble the root filesystem itself (a graph driver's
// snapshot: an overlay of layer directories, or a bind of one directory), made onto the rootfs
// path inside the container's fresh mount namespace, so the host's mount table never holds them.
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "berth/protocol.h"
#include "mounts.h"
#include "report.h"

// Splits s at sep.
static std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); i++) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

// The new mount API, for an overlay whose options exceed a page: every option is its own
// fsconfig call and every lower dir its own "lowerdir+" (Linux 6.8), so no length limit applies.
static void mount_overlay_fsconfig(const std::string& rootfs, const MountEntry& m) {
  const char* detail = m.source.c_str();
  int fs = fsopen("overlay", FSOPEN_CLOEXEC);
  if (fs < 0) fail(STAGE_ROOTFS_MOUNT, errno, detail);
  for (const std::string& opt : split(m.data, ',')) {
    if (opt.empty()) continue;
    size_t eq = opt.find('=');
    int rc;
    if (eq == std::string::npos) {
      rc = fsconfig(fs, FSCONFIG_SET_FLAG, opt.c_str(), nullptr, 0);
    } else if (opt.compare(0, eq, "lowerdir") == 0) {
      rc = 0;
      for (const std::string& dir : split(opt.substr(eq + 1), ':'))
        if (rc == 0) rc = fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", dir.c_str(), 0);
    } else {
      rc = fsconfig(fs, FSCONFIG_SET_STRING, opt.substr(0, eq).c_str(), opt.c_str() + eq + 1, 0);
    }
    if (rc < 0) fail(STAGE_ROOTFS_MOUNT, errno, opt.substr(0, eq));
  }
  if (fsconfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) fail(STAGE_ROOTFS_MOUNT, errno, detail);
  unsigned int attrs = (m.flags & MS_RDONLY) ? MOUNT_ATTR_RDONLY : 0;
  int mnt = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
  if (mnt < 0) fail(STAGE_ROOTFS_MOUNT, errno, detail);
  if (move_mount(mnt, "", AT_FDCWD, rootfs.c_str(), MOVE_MOUNT_F_EMPTY_PATH) < 0)
    fail(STAGE_ROOTFS_MOUNT, errno, rootfs);
  close(mnt);
  close(fs);
}

void mount_rootfs_layer(const std::string& rootfs, const MountEntry& m) {
  const char* detail = m.source.c_str();
  if (!m.cwd.empty() && chdir(m.cwd.c_str()) < 0) fail(STAGE_ROOTFS_MOUNT, errno, m.cwd);
  long page = sysconf(_SC_PAGESIZE);
  if (m.fstype == "overlay" && static_cast<long>(m.data.size()) >= page) {
    mount_overlay_fsconfig(rootfs, m);
  } else {
    const char* fstype = (m.flags & MS_BIND) ? nullptr : m.fstype.c_str();
    const char* data = m.data.empty() ? nullptr : m.data.c_str();
    if (mount(m.source.c_str(), rootfs.c_str(), fstype, m.flags, data) < 0) fail(STAGE_ROOTFS_MOUNT, errno, detail);
    int err = m.remount_flags ? remount_bind(rootfs, m.remount_flags, true) : 0;
    if (err != 0) fail(STAGE_ROOTFS_MOUNT, err, rootfs);
  }
  if (!m.cwd.empty() && chdir("/") < 0) fail(STAGE_ROOTFS_MOUNT, errno, "/");
}
