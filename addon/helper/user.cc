// Switching to the container user: groups, gid, uid, with the capabilities of the config
// (runc's finalizeNamespace order).
#include "user.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "berth/protocol.h"
#include "caps.h"
#include "report.h"
#include "util.h"

// True in a user namespace whose /proc/self/setgroups says "deny".
static bool setgroups_denied() {
  std::string s;
  return read_file_at(AT_FDCWD, "/proc/self/setgroups", &s, 16) == 0 && s.compare(0, 4, "deny") == 0;
}

void become_userns_root() {
  if (setresgid(0, 0, 0) < 0) fail(STAGE_USER, errno, "setgid");
  if (setresuid(0, 0, 0) < 0) fail(STAGE_USER, errno, "setuid");
}

void switch_user(const Config& c, int last_cap) {
  if (c.has_capabilities) {
    drop_bounding_set(c.caps[kCapBounding], last_cap);
    // Keep the permitted set across the uid change; capset below decides what remains.
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail(STAGE_CAPABILITIES, errno, "keepcaps");
  }
  if (c.has_additional_gids) {
    if (setgroups(c.additional_gids.size(), c.additional_gids.data()) < 0)
      fail(STAGE_USER, errno, "setgroups");
  } else if (setgroups(0, nullptr) < 0 && !(errno == EPERM && setgroups_denied())) {
    fail(STAGE_USER, errno, "setgroups");
  }
  if (setresgid(c.gid, c.gid, c.gid) < 0) fail(STAGE_USER, errno, "setgid");
  if (setresuid(c.uid, c.uid, c.uid) < 0) fail(STAGE_USER, errno, "setuid");
  if (c.has_capabilities) {
    apply_capabilities(c.caps, last_cap);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) fail(STAGE_CAPABILITIES, errno, "keepcaps");
  }
}
