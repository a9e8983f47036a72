// Terminals and fd passing: pty pairs, window sizes, raw mode for a terminal berth reads from,
// and unix-socket calls Node has no API for (socketpair, connect to a path of any length,
// sending and receiving one fd with SCM_RIGHTS, as runc's --console-socket protocol does).
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "errors.h"
#include "module.h"

namespace berth {
namespace {

// openPty() -> { master, slave, path }: a new pair on the host's devpts, both CLOEXEC and
// O_NOCTTY (opening them makes nobody's controlling terminal).
Napi::Value OpenPty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fd master(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (master.get() < 0) ThrowErrno(env, "posix_openpt", "/dev/ptmx");
  if (grantpt(master.get()) < 0) ThrowErrno(env, "grantpt");
  if (unlockpt(master.get()) < 0) ThrowErrno(env, "unlockpt");
  char name[128];
  if (ptsname_r(master.get(), name, sizeof name) != 0) ThrowErrno(env, "ptsname_r");
  // TIOCGPTPEER opens the peer through the master, with no path lookup to race.
  int slave = ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) ThrowErrno(env, "open", name);
  Napi::Object out = Napi::Object::New(env);
  out.Set("master", Napi::Number::New(env, master.release()));
  out.Set("slave", Napi::Number::New(env, slave));
  out.Set("path", Napi::String::New(env, name));
  return out;
}

// setWinsize(fd, cols, rows): TIOCSWINSZ (the foreground process group gets SIGWINCH).
Napi::Value SetWinsize(const Napi::CallbackInfo& info) {
  struct winsize ws = {};
  ws.ws_col = static_cast<unsigned short>(IntArg(info, 1));
  ws.ws_row = static_cast<unsigned short>(IntArg(info, 2));
  if (ioctl(IntArg(info, 0), TIOCSWINSZ, &ws) < 0) ThrowErrno(info.Env(), "ioctl(TIOCSWINSZ)");
  return info.Env().Undefined();
}

// getWinsize(fd) -> { cols, rows }: TIOCGWINSZ.
Napi::Value GetWinsize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct winsize ws = {};
  if (ioctl(IntArg(info, 0), TIOCGWINSZ, &ws) < 0) ThrowErrno(env, "ioctl(TIOCGWINSZ)");
  Napi::Object out = Napi::Object::New(env);
  out.Set("cols", Napi::Number::New(env, ws.ws_col));
  out.Set("rows", Napi::Number::New(env, ws.ws_row));
  return out;
}

// makeRaw(fd) -> Buffer with the termios before: cfmakeraw's settings (no echo, no line
// editing, no signals from keys, no output processing), applied with TCSANOW.
Napi::Value MakeRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0);
  struct termios before;
  if (tcgetattr(fd, &before) < 0) ThrowErrno(env, "tcgetattr");
  struct termios raw = before;
  cfmakeraw(&raw);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  if (tcsetattr(fd, TCSANOW, &raw) < 0) ThrowErrno(env, "tcsetattr");
  return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<uint8_t*>(&before), sizeof before);
}

// setTermios(fd, saved): puts back what makeRaw returned.
Napi::Value SetTermios(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto saved = info[1].As<Napi::Buffer<uint8_t>>();
  if (saved.Length() != sizeof(struct termios)) ThrowErrnoValue(env, EINVAL, "tcsetattr");
  struct termios t;
  memcpy(&t, saved.Data(), sizeof t);
  if (tcsetattr(IntArg(info, 0), TCSANOW, &t) < 0) ThrowErrno(env, "tcsetattr");
  return env.Undefined();
}

// socketpair() -> [a, b]: AF_UNIX SOCK_STREAM, CLOEXEC, blocking.
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) ThrowErrno(env, "socketpair");
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, sv[0]));
  out.Set(1u, Napi::Number::New(env, sv[1]));
  return out;
}

// connectUnix(path) -> fd: a blocking, CLOEXEC SOCK_STREAM connection. A path longer than
// sun_path is reached through /proc/self/fd/N of its opened directory.
Napi::Value ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0);
  Fd dir;
  std::string target = path;
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos) ThrowErrnoValue(env, ENAMETOOLONG, "connect", path.c_str());
    dir.reset(open(slash == 0 ? "/" : path.substr(0, slash).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() < 0) ThrowErrno(env, "open", path.c_str());
    target = "/proc/self/fd/" + std::to_string(dir.get()) + path.substr(slash);
    if (target.size() >= sizeof addr.sun_path) ThrowErrnoValue(env, ENAMETOOLONG, "connect", path.c_str());
  }
  memcpy(addr.sun_path, target.c_str(), target.size() + 1);
  Fd sock(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) ThrowErrno(env, "socket");
  while (connect(sock.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) < 0) {
    if (errno != EINTR) ThrowErrno(env, "connect", path.c_str());
  }
  return Napi::Number::New(env, sock.release());
}

// sendFd(sock, fd, data): one sendmsg of `data` (at least one byte is sent) with `fd` as
// SCM_RIGHTS.
Napi::Value SendFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = IntArg(info, 0);
  int fd = IntArg(info, 1);
  std::string data = StringArg(info, 2);
  if (data.empty()) data = " ";
  char control[CMSG_SPACE(sizeof(int))] = {};
  struct iovec iov = {&data[0], data.size()};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
  while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) ThrowErrno(env, "sendmsg");
  }
  return env.Undefined();
}

// recvFd(sock, block) -> { fd, data } or null when nothing is queued (non-blocking unless
// `block`) or the peer closed without sending an fd. The fd is made CLOEXEC on receipt.
Napi::Value RecvFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = IntArg(info, 0);
  bool block = BoolArg(info, 1);
  char buf[4096];
  char control[CMSG_SPACE(sizeof(int) * 4)];
  struct iovec iov = {buf, sizeof buf};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | (block ? 0 : MSG_DONTWAIT))) < 0) {
    if (errno == EAGAIN) return env.Null();
    if (errno != EINTR) ThrowErrno(env, "recvmsg");
  }
  int fd = -1;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int got;
      memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
      if (fd < 0) fd = got;
      else close(got);  // one fd is the protocol; extra ones would leak
    }
  }
  if (fd < 0) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("data", Napi::String::New(env, buf, static_cast<size_t>(n)));
  return out;
}

// setBlocking(fd, blocking): clears or sets O_NONBLOCK.
Napi::Value SetBlocking(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) ThrowErrno(info.Env(), "fcntl");
  flags = BoolArg(info, 1) ? flags & ~O_NONBLOCK : flags | O_NONBLOCK;
  if (fcntl(fd, F_SETFL, flags) < 0) ThrowErrno(info.Env(), "fcntl");
  return info.Env().Undefined();
}

}  // namespace

void RegisterPty(Napi::Env env, Napi::Object exports) {
  exports.Set("openPty", Napi::Function::New(env, OpenPty, "openPty"));
  exports.Set("setWinsize", Napi::Function::New(env, SetWinsize, "setWinsize"));
  exports.Set("getWinsize", Napi::Function::New(env, GetWinsize, "getWinsize"));
  exports.Set("makeRaw", Napi::Function::New(env, MakeRaw, "makeRaw"));
  exports.Set("setTermios", Napi::Function::New(env, SetTermios, "setTermios"));
  exports.Set("socketPair", Napi::Function::New(env, SocketPair, "socketPair"));
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix, "connectUnix"));
  exports.Set("sendFd", Napi::Function::New(env, SendFd, "sendFd"));
  exports.Set("recvFd", Napi::Function::New(env, RecvFd, "recvFd"));
  exports.Set("setBlocking", Napi::Function::New(env, SetBlocking, "setBlocking"));
}

}  // namespace berth
