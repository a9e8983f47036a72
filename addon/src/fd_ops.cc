// One-call fd primitives: framed sends with SCM_RIGHTS, pidfds, pipes, fifos, flock and
// namespace-type queries. Synchronous; each maps errno to a thrown error.
#include <fcntl.h>
#include <linux/nsfs.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "berth/protocol.h"
#include "errors.h"
#include "module.h"

namespace berth {
namespace {

// Waits until `sock` is writable (it is non-blocking and its buffer is full).
void WaitWritable(Napi::Env env, int sock) {
  struct pollfd pfd = {sock, POLLOUT, 0};
  while (poll(&pfd, 1, -1) < 0) {
    if (errno != EINTR) ThrowErrno(env, "poll");
  }
}

// sendFrame(sock, type, payload, fds): writes { u32 type; u32 length } + payload, the fds
// riding as SCM_RIGHTS on the first chunk. Completes partial writes, waiting with poll() when
// the socket is non-blocking and full, so it returns only once the whole frame is queued.
Napi::Value SendFrame(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = IntArg(info, 0);
  uint32_t type = info[1].As<Napi::Number>().Uint32Value();
  auto payload = info[2].As<Napi::Buffer<uint8_t>>();
  auto fdList = info[3].As<Napi::Array>();
  if (payload.Length() > BERTH_MAX_FRAME) ThrowErrnoValue(env, EMSGSIZE, "sendFrame");

  std::vector<int> fds(fdList.Length());
  for (uint32_t i = 0; i < fds.size(); i++) {
    fds[i] = fdList.Get(i).As<Napi::Number>().Int32Value();
  }
  std::vector<char> control(fds.empty() ? 0 : CMSG_SPACE(sizeof(int) * fds.size()));
  if (!fds.empty()) {
    struct msghdr proto = {};
    proto.msg_control = control.data();
    proto.msg_controllen = control.size();
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&proto);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }

  berth_frame_header header = {type, static_cast<uint32_t>(payload.Length())};
  const size_t headerSize = sizeof header;
  const size_t total = headerSize + payload.Length();
  size_t sent = 0;
  while (sent < total) {
    struct iovec iov[2];
    int iovcnt = 0;
    if (sent < headerSize) {
      iov[iovcnt++] = {reinterpret_cast<char*>(&header) + sent, headerSize - sent};
      if (payload.Length() > 0) iov[iovcnt++] = {payload.Data(), payload.Length()};
    } else {
      iov[iovcnt++] = {payload.Data() + (sent - headerSize), total - sent};
    }
    struct msghdr msg = {};
    msg.msg_iov = iov;
    msg.msg_iovlen = iovcnt;
    if (sent == 0 && !control.empty()) {
      msg.msg_control = control.data();
      msg.msg_controllen = control.size();
    }
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        WaitWritable(env, sock);
        continue;
      }
      ThrowErrno(env, "sendmsg");
    }
    sent += static_cast<size_t>(n);
  }
  return env.Undefined();
}

// pidfdOpen(pid) -> pidfd (CLOEXEC).
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, IntArg(info, 0), 0));
  if (fd < 0) ThrowErrno(info.Env(), "pidfd_open");
  return Napi::Number::New(info.Env(), fd);
}

// pidfdSendSignal(pidfd, signo): ESRCH once the process has exited.
Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  if (syscall(SYS_pidfd_send_signal, IntArg(info, 0), IntArg(info, 1), nullptr, 0) < 0) {
    ThrowErrno(info.Env(), "pidfd_send_signal");
  }
  return info.Env().Undefined();
}

// closeFd(fd). EINTR counts as closed (Linux always releases the fd).
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  if (close(IntArg(info, 0)) < 0 && errno != EINTR) ThrowErrno(info.Env(), "close");
  return info.Env().Undefined();
}

// pipe() -> [readEnd, writeEnd], both blocking and CLOEXEC.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) ThrowErrno(env, "pipe2");
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, fds[0]));
  result.Set(1u, Napi::Number::New(env, fds[1]));
  return result;
}

// mkfifo(path, mode).
Napi::Value Mkfifo(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0);
  if (mkfifo(path.c_str(), static_cast<mode_t>(IntArg(info, 1))) < 0) {
    ThrowErrno(info.Env(), "mkfifo", path.c_str());
  }
  return info.Env().Undefined();
}

// flock(fd, exclusive, nonblocking): blocks the thread unless nonblocking, which throws
// EAGAIN (== EWOULDBLOCK) when another open file description holds a conflicting lock.
Napi::Value Flock(const Napi::CallbackInfo& info) {
  int op = (BoolArg(info, 1) ? LOCK_EX : LOCK_SH) | (BoolArg(info, 2) ? LOCK_NB : 0);
  int fd = IntArg(info, 0);
  while (flock(fd, op) < 0) {
    if (errno != EINTR) ThrowErrno(info.Env(), "flock");
  }
  return info.Env().Undefined();
}

// nsType(fd) -> the CLONE_NEW* constant of the namespace fd refers to (ENOTTY: not one).
Napi::Value NsType(const Napi::CallbackInfo& info) {
  int type = ioctl(IntArg(info, 0), NS_GET_NSTYPE);
  if (type < 0) ThrowErrno(info.Env(), "ioctl");
  return Napi::Number::New(info.Env(), type);
}

}  // namespace

void RegisterFdOps(Napi::Env env, Napi::Object exports) {
  exports.Set("sendFrame", Napi::Function::New(env, SendFrame, "sendFrame"));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen, "pidfdOpen"));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal, "pidfdSendSignal"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("mkfifo", Napi::Function::New(env, Mkfifo, "mkfifo"));
  exports.Set("flock", Napi::Function::New(env, Flock, "flock"));
  exports.Set("nsType", Napi::Function::New(env, NsType, "nsType"));
}

}  // namespace berth
