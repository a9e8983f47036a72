// The container process I: everything between clone and execve of the user's program.
#ifndef BERTH_HELPER_INIT_H
#define BERTH_HELPER_INIT_H

#include "config.h"

// What H hands to I besides the config.
struct InitContext {
  int release_fd = -1;  // read end of the pipe H writes one byte to when I may go on
  int start_fifo = -1;  // CFG_START_FIFO, opened O_RDWR by H, or -1
  int last_cap = 0;     // highest capability the kernel knows
};

// Runs I's steps in order and execs the user's program; never returns. Every failure is
// reported on the socket (I writes only after H is done writing).
[[noreturn]] void container_init(const Config& c, const InitContext& ctx);

#endif
