// Frames out: PID, READY and ERROR, written whole with MSG_NOSIGNAL.
#include "report.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "berth/protocol.h"

static int g_sock = BERTH_HELPER_SOCKET_FD;
static pid_t g_victim = 0;

void report_set_socket(int fd) { g_sock = fd; }
int report_socket() { return g_sock; }
void report_set_victim(pid_t pid) { g_victim = pid; }

// Writes header and payload with sendmsg, looping over short writes.
bool send_frame(uint32_t type, const void* payload, uint32_t length) {
  berth_frame_header hdr = {type, length};
  struct iovec iov[2] = {{&hdr, sizeof hdr}, {const_cast<void*>(payload), length}};
  struct iovec* cur = iov;
  int count = length ? 2 : 1;
  while (count > 0) {
    struct msghdr msg = {};
    msg.msg_iov = cur;
    msg.msg_iovlen = count;
    ssize_t n = sendmsg(g_sock, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    while (count > 0 && static_cast<size_t>(n) >= cur->iov_len) {
      n -= cur->iov_len;
      ++cur;
      --count;
    }
    if (count > 0) {
      cur->iov_base = static_cast<char*>(cur->iov_base) + n;
      cur->iov_len -= n;
    }
  }
  return true;
}

// FRAME_PID { int32 pid }.
void send_pid(pid_t pid) {
  int32_t v = pid;
  if (!send_frame(BERTH_FRAME_PID, &v, sizeof v)) fail(STAGE_CLONE, errno, "send pid");
}

// FRAME_READY {}.
void send_ready() { send_frame(BERTH_FRAME_READY, nullptr, 0); }

// FRAME_ERROR { u32 stage; i32 errno; detail }.
void send_error(uint32_t stage, int err, const std::string& detail) {
  std::string buf(8, '\0');
  int32_t e = err;
  memcpy(&buf[0], &stage, 4);
  memcpy(&buf[4], &e, 4);
  buf += detail;
  send_frame(BERTH_FRAME_ERROR, buf.data(), static_cast<uint32_t>(buf.size()));
}

// The one way out on failure, for H and for I before execve.
void fail(uint32_t stage, int err, const std::string& detail) {
  if (g_victim > 0) kill(g_victim, SIGKILL);
  send_error(stage, err, detail);
  _exit(1);
}
