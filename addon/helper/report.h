// Frames from the helper (H) and the container process (I) to the caller, over the socket.
#ifndef BERTH_HELPER_REPORT_H
#define BERTH_HELPER_REPORT_H

#include <stdint.h>
#include <sys/types.h>

#include <string>

// Sets the fd of the report socket (it moves around in I before the stdio fds are placed).
void report_set_socket(int fd);
int report_socket();

// Sends one frame; false if the peer is gone. Never raises SIGPIPE.
bool send_frame(uint32_t type, const void* payload, uint32_t length);

void send_pid(pid_t pid);
void send_ready();
// Sends FRAME_ERROR { stage, err, detail }; failures to send are ignored (the peer may be gone).
void send_error(uint32_t stage, int err, const std::string& detail);

// A process that fail() SIGKILLs before reporting (H sets it to I once I exists).
void report_set_victim(pid_t pid);

// Reports the failure, kills the victim if any, and exits 1.
[[noreturn]] void fail(uint32_t stage, int err, const std::string& detail);

#endif
