// Capabilities: the bounding set, capset(2) v3 and the ambient set.
#ifndef BERTH_HELPER_CAPS_H
#define BERTH_HELPER_CAPS_H

#include <stdint.h>

// The highest capability the running kernel knows (/proc/sys/kernel/cap_last_cap). Read by H
// while the host's /proc is still there.
int read_cap_last_cap();

// Drops from the bounding set every capability up to last_cap that `keep` does not have.
void drop_bounding_set(uint64_t keep, int last_cap);

// Sets effective, permitted and inheritable (capset v3), then the ambient set.
void apply_capabilities(const uint64_t caps[5], int last_cap);

#endif
