// Capabilities: the bounding set, capset(2) v3 and the ambient set.
#include "caps.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "berth/protocol.h"
#include "config.h"
#include "report.h"
#include "util.h"

int read_cap_last_cap() {
  std::string s;
  if (read_file_at(AT_FDCWD, "/proc/sys/kernel/cap_last_cap", &s, 16) == 0) {
    int v = atoi(s.c_str());
    if (v > 0 && v < 64) return v;
  }
  return CAP_LAST_CAP;
}

// Bits 0..last_cap.
static uint64_t known_mask(int last_cap) {
  return last_cap >= 63 ? ~0ULL : (1ULL << (last_cap + 1)) - 1;
}

void drop_bounding_set(uint64_t keep, int last_cap) {
  for (int cap = 0; cap <= last_cap; ++cap) {
    if (keep & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
      fail(STAGE_CAPABILITIES, errno, "bounding set: cap " + num(cap));
  }
}

void apply_capabilities(const uint64_t caps[5], int last_cap) {
  uint64_t mask = known_mask(last_cap);  // bits the kernel does not know would be EPERM
  uint64_t eff = caps[kCapEffective] & mask, perm = caps[kCapPermitted] & mask;
  uint64_t inh = caps[kCapInheritable] & mask, amb = caps[kCapAmbient] & mask;
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  for (int i = 0; i < 2; ++i) {
    data[i].effective = static_cast<uint32_t>(eff >> (32 * i));
    data[i].permitted = static_cast<uint32_t>(perm >> (32 * i));
    data[i].inheritable = static_cast<uint32_t>(inh >> (32 * i));
  }
  if (syscall(SYS_capset, &hdr, data) < 0) fail(STAGE_CAPABILITIES, errno, "capset");

  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    fail(STAGE_CAPABILITIES, errno, "ambient");
  for (int cap = 0; cap <= last_cap; ++cap) {
    if (!(amb & (1ULL << cap))) continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
      fail(STAGE_CAPABILITIES, errno, "ambient: cap " + num(cap));
  }
}
