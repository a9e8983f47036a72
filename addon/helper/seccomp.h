// Installing the container's seccomp filter (CFG_SECCOMP).
#ifndef BERTH_HELPER_SECCOMP_H
#define BERTH_HELPER_SECCOMP_H

#include "config.h"

// True when the filter must go in before the user switch: without no_new_privs seccomp(2)
// needs CAP_SYS_ADMIN, so runc installs it before dropping capabilities. berth does that only
// when the process would not keep CAP_SYS_ADMIN in its effective set; otherwise (and always
// with no_new_privs) the filter goes in right before execve, so the fewest of the helper's own
// syscalls run under it.
bool seccomp_before_user_switch(const Config& c);

// seccomp(SECCOMP_SET_MODE_FILTER, flags, prog); failure is STAGE_SECCOMP. No-op without a
// filter.
void install_seccomp(const Config& c);

#endif
