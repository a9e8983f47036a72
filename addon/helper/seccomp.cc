// Installing the container's seccomp filter: seccomp(2) with the flags and program of the
// config (compiled by src/runtime/seccomp), prctl(PR_SET_SECCOMP) on kernels without it.
#include "seccomp.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "berth/protocol.h"
#include "report.h"
#include "util.h"

bool seccomp_before_user_switch(const Config& c) {
  if (!c.has_seccomp || c.no_new_privileges) return false;
  bool keeps_admin = c.has_capabilities && (c.caps[kCapEffective] & (1ULL << CAP_SYS_ADMIN));
  return !keeps_admin;
}

void install_seccomp(const Config& c) {
  if (!c.has_seccomp) return;
  // Copied out of the string so the instructions are aligned.
  std::vector<struct sock_filter> prog(c.seccomp_program.size() / sizeof(struct sock_filter));
  memcpy(prog.data(), c.seccomp_program.data(), prog.size() * sizeof(struct sock_filter));
  struct sock_fprog fprog = {static_cast<unsigned short>(prog.size()), prog.data()};
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, c.seccomp_flags, &fprog);
  if (rc == 0) return;
  int err = rc > 0 ? ESRCH : errno;  // TSYNC: a thread id that could not be synchronised
  if (err == ENOSYS && c.seccomp_flags == 0 &&
      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) == 0)
    return;
  char flags[16];
  snprintf(flags, sizeof flags, "0x%x", c.seccomp_flags);
  fail(STAGE_SECCOMP, err, "seccomp filter of " + num(static_cast<long long>(prog.size())) +
                               " instructions, flags " + flags);
}
