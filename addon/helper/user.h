// Switching to the container user: groups, gid, uid, with the capabilities of the config.
#ifndef BERTH_HELPER_USER_H
#define BERTH_HELPER_USER_H

#include "config.h"

// Bounding set, keep-caps, setgroups/setresgid/setresuid, capset, ambient set.
void switch_user(const Config& c, int last_cap);

// In a new user namespace: become its root (uid/gid 0 as mapped by H).
void become_userns_root();

#endif
