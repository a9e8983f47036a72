// berth-monitor: one small process per detached container, like conmon. It launches the
// container through berth-init (so the container's init is its child and it can reap it and
// record how it ended), holds the container's stdio (pipes or the pty master), writes the
// output to a json-file log, serves attach over a unix socket, re-launches the container under
// its restart policy, and runs the --rm cleanup after the last exit. Single-threaded: one
// poll() loop over the attach socket, its clients, the container's output, the init's pidfd
// and the helper socket; timers are the loop's timeout. The protocol is in
// addon/include/berth/protocol.h.
//
// A restart re-launches berth-init, which makes a new network namespace, empty but for a
// loopback that is down: the first run was connected to its networks by the berth process
// that created it, between create and start. So on a restart, once the new init is READY (set
// up, blocked on the start fifo) and before the fifo is released, the monitor brings `lo` up
// itself (MON_LOOPBACK: a container on `none`) or runs the engine's restart hook
// (MON_RESTART_HOOK_ARG: node reconnecting the container's endpoints to the new namespace),
// waiting for it with a timeout; nothing of the user's runs before its network is in place,
// as on the first start, and a hook that fails makes the launch fail (the init is killed, the
// error recorded, and the restart policy decides with its backoff).
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "berth/protocol.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace {

constexpr int kCallerFd = BERTH_HELPER_SOCKET_FD;
constexpr size_t kLogLineMax = 16 * 1024;       // Docker splits longer lines
constexpr size_t kClientBacklogMax = 4 << 20;   // a client this far behind is dropped
constexpr int64_t kDrainMs = 2000;              // output still open this long after the exit
constexpr int64_t kBackoffStartMs = 100;        // Docker's restart delay: 100 ms, doubled,
constexpr int64_t kBackoffMaxMs = 60 * 1000;    // at most a minute, reset after
constexpr int64_t kStableMs = 10 * 1000;        // a run of ten seconds
constexpr int64_t kHookTimeoutMs = 30 * 1000;   // the restart hook: node start, locks, netlink
constexpr int64_t kRemoverWaitMs = 30 * 1000;   // a session that removes the container (run --rm)
constexpr size_t kHookErrorMax = 2048;          // of its stderr, kept for monitor.json's error

int64_t now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// Go's time.RFC3339Nano in UTC, as Docker writes it: trailing zeros of the fraction dropped.
std::string rfc3339nano() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  if (ts.tv_nsec != 0) {
    char frac[16];
    snprintf(frac, sizeof frac, ".%09ld", ts.tv_nsec);
    std::string f = frac;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "Z";
}

// Length of the valid UTF-8 sequence at s (up to n bytes), 0 if invalid.
size_t utf8_len(const unsigned char* s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
  else return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
  return len;
}

// A JSON string body as Go's encoding/json writes it (<, >, & and U+2028/9 escaped; invalid
// UTF-8 becomes U+FFFD), so the log reads like Docker's.
void json_escape(std::string* out, const char* data, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char* s = reinterpret_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c < 0x80) {
      switch (c) {
        case '"': *out += "\\\""; break;
        case '\\': *out += "\\\\"; break;
        case '\n': *out += "\\n"; break;
        case '\r': *out += "\\r"; break;
        case '\t': *out += "\\t"; break;
        case '<': case '>': case '&':
          *out += "\\u00"; *out += hex[c >> 4]; *out += hex[c & 15]; break;
        default:
          if (c < 0x20) { *out += "\\u00"; *out += hex[c >> 4]; *out += hex[c & 15]; }
          else *out += static_cast<char>(c);
      }
      i++;
      continue;
    }
    size_t len = utf8_len(s + i, n - i);
    if (len == 0) { *out += "\\ufffd"; i++; continue; }
    if (len == 3 && s[i] == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) {
      *out += s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
    } else {
      out->append(data + i, len);
    }
    i += len;
  }
}

void quote(std::string* out, const std::string& s) {
  *out += '"';
  json_escape(out, s.data(), s.size());
  *out += '"';
}

bool write_all(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

std::string frame(uint32_t type, const void* payload, uint32_t len) {
  berth_frame_header h = {type, len};
  std::string out(reinterpret_cast<const char*>(&h), sizeof h);
  out.append(static_cast<const char*>(payload), len);
  return out;
}

// Sends a whole frame with fds (blocking socket).
bool send_frame_fds(int sock, uint32_t type, const std::string& payload, const std::vector<int>& fds) {
  std::string buf = frame(type, payload.data(), static_cast<uint32_t>(payload.size()));
  std::vector<char> control(fds.empty() ? 0 : CMSG_SPACE(sizeof(int) * fds.size()));
  size_t off = 0;
  while (off < buf.size()) {
    struct iovec iov = {&buf[off], buf.size() - off};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (off == 0 && !fds.empty()) {
      msg.msg_control = control.data();
      msg.msg_controllen = control.size();
      struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads exactly len bytes (blocking), collecting fds that ride along. False on EOF or error.
bool recv_exact(int sock, char* buf, size_t len, std::vector<int>* fds) {
  while (len > 0) {
    struct iovec iov = {buf, len};
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 8)];
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (fds) fds->push_back(fd);
        else close(fd);
      }
    }
    buf += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Reads one frame; false on EOF, error or an oversized frame.
bool recv_frame(int sock, uint32_t* type, std::string* payload, std::vector<int>* fds) {
  berth_frame_header h;
  if (!recv_exact(sock, reinterpret_cast<char*>(&h), sizeof h, fds)) return false;
  if (h.length > BERTH_MAX_FRAME) return false;
  payload->assign(h.length, '\0');
  if (h.length && !recv_exact(sock, &(*payload)[0], h.length, fds)) return false;
  *type = h.type;
  return true;
}

void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Field 22 of /proc/PID/stat (start time in clock ticks), as the runtime records it.
std::string start_time(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return "";
  buf[n] = 0;
  char* p = strrchr(buf, ')');
  if (!p) return "";
  p++;
  for (int field = 2; field < 22; field++) {  // fields after ')' start at 3
    while (*p == ' ') p++;
    if (field == 21) break;
    while (*p && *p != ' ') p++;
  }
  std::string out;
  while (*p && *p != ' ') out += *p++;
  return out;
}

struct Client {
  int fd = -1;
  uint32_t flags = 0;
  bool hello = false;
  bool closing = false;  // close once `out` is flushed
  std::string in, out;
};

struct Monitor {
  // From the config.
  std::string dir, log_path, init_config, start_fifo;
  bool tty = false, open_stdin = false;
  uint32_t policy = 0, max_restarts = 0;
  std::vector<std::string> cleanup;
  std::vector<std::string> restart_hook;  // argv; the new init's pid is appended
  bool loopback = false;
  int init_memfd = -1;

  int caller = kCallerFd;  // until the first launch has exec'd
  int dirfd = -1, listen_fd = -1, log_fd = -1;
  std::vector<Client*> clients;

  // The current run.
  pid_t pid = 0;
  int pidfd = -1;
  std::string pid_start;
  int helper_sock = -1;    // after READY, until the exec's EOF
  int out_fd[2] = {-1, -1};  // stdout, stderr; a terminal's master is out_fd[0]
  int in_fd = -1;          // stdin's write end, or the master
  std::string in_pending;
  std::string line[2];
  bool reaped = false;
  int64_t drain_deadline = -1, kill_deadline = -1, restart_at = -1;
  int64_t run_started = 0, backoff = kBackoffStartMs;

  // State, as monitor.json says it.
  std::string status = "created", started_at, finished_at, error;
  int exit_code = 0, restart_count = 0;
  bool stopped_by_user = false;
  bool removal_by_session = false;  // an attached session removes the container (run --rm)
};

Monitor M;

// Writes monitor.json atomically; false when it could not (a full disk, say).
bool write_state() {
  static const std::string self_start = start_time(getpid());
  std::string j = "{\"monitorPid\":" + std::to_string(getpid()) + ",\"monitorStartTime\":";
  quote(&j, self_start);
  j += ",\"status\":";
  quote(&j, M.status);
  j += ",\"pid\":" + std::to_string(M.reaped ? 0 : M.pid) + ",\"pidStartTime\":";
  quote(&j, M.pid_start);
  j += ",\"startedAt\":";
  quote(&j, M.started_at);
  j += ",\"finishedAt\":";
  quote(&j, M.finished_at);
  j += ",\"exitCode\":" + std::to_string(M.exit_code) + ",\"restartCount\":" + std::to_string(M.restart_count);
  j += ",\"stoppedByUser\":";
  j += M.stopped_by_user ? "true" : "false";
  j += ",\"removalBySession\":";
  j += M.removal_by_session ? "true" : "false";
  j += ",\"error\":";
  quote(&j, M.error);
  j += "}\n";
  int fd = openat(M.dirfd, "monitor.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = write_all(fd, j.data(), j.size());
  if (close(fd) < 0) ok = false;
  return ok && renameat(M.dirfd, "monitor.json.tmp", M.dirfd, "monitor.json") == 0;
}

// One json-file line per complete line of output (longer ones split at 16 KiB, as Docker).
void log_line(int stream, const char* data, size_t n) {
  if (M.log_fd < 0) return;
  std::string j = "{\"log\":\"";
  json_escape(&j, data, n);
  j += stream == 0 ? "\",\"stream\":\"stdout\",\"time\":\"" : "\",\"stream\":\"stderr\",\"time\":\"";
  j += rfc3339nano();
  j += "\"}\n";
  write_all(M.log_fd, j.data(), j.size());
}

void log_output(int stream, const char* data, size_t n, bool flush) {
  std::string& buf = M.line[stream];
  buf.append(data, n);
  size_t start = 0;
  for (;;) {
    size_t nl = buf.find('\n', start);
    if (nl == std::string::npos) break;
    log_line(stream, buf.data() + start, nl + 1 - start);
    start = nl + 1;
  }
  buf.erase(0, start);
  while (buf.size() >= kLogLineMax) {
    log_line(stream, buf.data(), kLogLineMax);
    buf.erase(0, kLogLineMax);
  }
  if (flush && !buf.empty()) {
    log_line(stream, buf.data(), buf.size());
    buf.clear();
  }
}

void client_send(Client* c, uint32_t type, const void* data, uint32_t n) {
  if (c->closing) return;
  c->out += frame(type, data, n);
  if (c->out.size() > kClientBacklogMax) {  // too slow: drop it rather than grow
    c->out.clear();
    c->closing = true;
  }
}

void fan_out(int stream, const char* data, size_t n) {
  uint32_t want = stream == 0 ? 2 : 4;
  for (Client* c : M.clients)
    if (c->hello && (c->flags & want)) client_send(c, stream == 0 ? BERTH_ATTACH_STDOUT : BERTH_ATTACH_STDERR, data, static_cast<uint32_t>(n));
}

void close_fd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

// Relays a helper frame to the caller while it listens (first launch only).
void relay(uint32_t type, const std::string& payload) {
  if (M.caller < 0) return;
  if (!send_frame_fds(M.caller, type, payload, {})) close_fd(&M.caller);
}

// Starts berth-init from the memfd with `sock` as its fd 3 (fork: this process is small and
// single-threaded). Returns its pid.
pid_t spawn_helper(int sock) {
  pid_t h = fork();
  if (h != 0) return h;
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  int s = fcntl(sock, F_DUPFD_CLOEXEC, 10);
  if (devnull < 0 || s < 0) _exit(127);
  dup2(devnull, 0);
  dup2(devnull, 1);
  dup2(devnull, 2);
  dup2(s, BERTH_HELPER_SOCKET_FD);
  syscall(SYS_close_range, BERTH_HELPER_SOCKET_FD + 1, ~0U, CLOSE_RANGE_CLOEXEC);
  signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  char arg0[] = "berth-init";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {nullptr};
  syscall(SYS_execveat, M.init_memfd, "", argv, envp, AT_EMPTY_PATH);
  _exit(127);
}

// Brings `lo` up in the network namespace of `pid` (the new init, an unreaped child of ours, so
// the pid is its). In a forked child, so the monitor itself never leaves its own namespace: the
// child joins the container's, and SIOCSIFFLAGS acts in the namespace of the socket it made.
bool loopback_up(pid_t pid, std::string* err) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/net", pid);
  int ns = open(path, O_RDONLY | O_CLOEXEC);
  if (ns < 0) { *err = std::string("open ") + path + ": " + strerror(errno); return false; }
  pid_t c = fork();
  if (c == 0) {
    if (setns(ns, CLONE_NEWNET) < 0) _exit(10);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) _exit(11);
    struct ifreq ifr = {};
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) _exit(12);
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) _exit(13);
    _exit(0);
  }
  close(ns);
  if (c < 0) { *err = std::string("fork: ") + strerror(errno); return false; }
  int status = 0;
  while (waitpid(c, &status, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *err = "bringing lo up in the container's network namespace failed (step " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")";
    return false;
  }
  return true;
}

// Runs the restart hook with `pid` appended and waits for it (at most kHookTimeoutMs, then its
// process group is killed). True when it exited 0; otherwise *err says why, with the start of
// what it wrote to stderr. Blocks the loop meanwhile, as the launch itself does: attach clients
// are served once it is done.
bool run_restart_hook(pid_t pid, std::string* err) {
  std::vector<std::string> args = M.restart_hook;
  args.push_back(std::to_string(pid));
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(&a[0]);
  argv.push_back(nullptr);
  int errp[2];
  if (pipe2(errp, O_CLOEXEC) < 0) { *err = "pipe"; return false; }
  pid_t h = fork();
  if (h == 0) {
    setpgid(0, 0);  // its children (nft) are killed with it on a timeout
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0) _exit(127);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(errp[1], 2);
    syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    char path[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    char* envp[] = {path, nullptr};
    execve(argv[0], argv.data(), envp);
    dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
    _exit(127);
  }
  close(errp[1]);
  if (h < 0) { close(errp[0]); *err = std::string("fork: ") + strerror(errno); return false; }
  setpgid(h, h);  // also here, so a kill right after fork finds the group
  int pfd = static_cast<int>(syscall(SYS_pidfd_open, h, 0));
  if (pfd < 0) {
    *err = std::string("pidfd_open: ") + strerror(errno);
    kill(-h, SIGKILL);
    kill(h, SIGKILL);
    while (waitpid(h, nullptr, 0) < 0 && errno == EINTR) {}
    close(errp[0]);
    return false;
  }
  std::string out;
  int64_t deadline = now_ms() + kHookTimeoutMs;
  bool exited = false, timed_out = false;
  siginfo_t si = {};
  int rfd = errp[0];
  while (!exited) {
    struct pollfd p[2] = {{pfd, POLLIN, 0}, {rfd, POLLIN, 0}};
    int64_t left = deadline - now_ms();
    if (left <= 0) { timed_out = true; break; }
    int n = poll(p, rfd >= 0 ? 2 : 1, static_cast<int>(left));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    if (rfd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[1024];
      ssize_t r = read(rfd, buf, sizeof buf);
      if (r > 0 && out.size() < kHookErrorMax) out.append(buf, std::min(static_cast<size_t>(r), kHookErrorMax - out.size()));
      if (r == 0 || (r < 0 && errno != EINTR)) close_fd(&rfd);
    }
    if (p[0].revents & POLLIN) exited = true;
  }
  if (!exited) {
    kill(-h, SIGKILL);
    kill(h, SIGKILL);
  }
  while (waitid(static_cast<idtype_t>(P_PIDFD), pfd, &si, WEXITED) < 0 && errno == EINTR) {}
  if (exited) kill(-h, SIGKILL);  // nothing of it may linger
  close_fd(&pfd);
  if (rfd >= 0) {  // what is left in the pipe, without waiting for a straggler holding it
    set_nonblock(rfd);
    char buf[1024];
    ssize_t r;
    while (out.size() < kHookErrorMax && (r = read(rfd, buf, sizeof buf)) > 0) out.append(buf, std::min(static_cast<size_t>(r), kHookErrorMax - out.size()));
    close_fd(&rfd);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  if (!timed_out && si.si_code == CLD_EXITED && si.si_status == 0) return true;
  std::string why = timed_out ? "timed out after " + std::to_string(kHookTimeoutMs / 1000) + " s"
                    : si.si_code == CLD_EXITED ? "exit status " + std::to_string(si.si_status)
                    : "killed by signal " + std::to_string(si.si_status);
  *err = "the restart hook failed (" + why + ")" + (out.empty() ? "" : ": " + out);
  return false;
}

// What a restarted container's new network namespace needs before the start fifo is released.
bool network_for_restart() {
  std::string err;
  if (M.loopback && !loopback_up(M.pid, &err)) { M.error = err; return false; }
  if (!M.restart_hook.empty() && !run_restart_hook(M.pid, &err)) { M.error = err; return false; }
  return true;
}

// One launch of the container: stdio, the helper, its frames up to READY. On a restart the
// monitor also gives the new network namespace what it needs (network_for_restart) and then
// releases the start fifo. False (with M.error set) when it could not be set up.
bool launch(bool first) {
  M.reaped = false;
  M.pid = 0;
  M.pid_start.clear();
  M.error.clear();
  M.line[0].clear();
  M.line[1].clear();
  M.in_pending.clear();
  std::vector<int> child_fds;
  int console[2] = {-1, -1};
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) { M.error = "socketpair"; return false; }
  if (M.tty) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, console) < 0) { M.error = "socketpair"; return false; }
    child_fds.push_back(console[1]);
  } else {
    int in[2] = {-1, -1}, out[2], err[2];
    if (M.open_stdin) {
      if (pipe2(in, O_CLOEXEC) < 0) { M.error = "pipe"; return false; }
    } else {
      in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) { M.error = "pipe"; return false; }
    child_fds = {in[0], out[1], err[1]};
    M.in_fd = in[1];
    M.out_fd[0] = out[0];
    M.out_fd[1] = err[0];
  }
  if (!first && !M.start_fifo.empty()) {
    unlink(M.start_fifo.c_str());
    mkfifo(M.start_fifo.c_str(), 0600);
  }
  pid_t helper = spawn_helper(sv[1]);
  close(sv[1]);
  bool ok = helper > 0 && send_frame_fds(sv[0], BERTH_FRAME_CONFIG, M.init_config, child_fds);
  for (int fd : child_fds) close(fd);
  bool ready = false;
  while (ok) {
    uint32_t type;
    std::string payload;
    if (!recv_frame(sv[0], &type, &payload, nullptr)) { M.error = "the init helper ended before the container was ready"; break; }
    if (first) relay(type, payload);
    if (type == BERTH_FRAME_PID && payload.size() == 4) {
      int32_t p;
      memcpy(&p, payload.data(), 4);
      M.pid = p;
      M.pidfd = static_cast<int>(syscall(SYS_pidfd_open, M.pid, 0));
      M.pid_start = start_time(M.pid);
    } else if (type == BERTH_FRAME_READY) {
      ready = M.pid > 0 && M.pidfd >= 0;
      break;
    } else if (type == BERTH_FRAME_ERROR) {
      M.error = payload.size() > 8 ? payload.substr(8) : "setup failed";
      break;
    }
  }
  if (helper > 0) while (waitpid(helper, nullptr, 0) < 0 && errno == EINTR) {}
  if (ready && M.tty) {
    std::vector<int> got;
    char buf[256];
    struct iovec iov = {buf, sizeof buf};
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    if (recvmsg(console[0], &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) > 0) {
      for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
          int fd;
          memcpy(&fd, CMSG_DATA(c), sizeof fd);
          got.push_back(fd);
        }
    }
    if (got.empty()) { ready = false; M.error = "no terminal from the container"; }
    else { M.out_fd[0] = got[0]; M.in_fd = dup(got[0]); for (size_t i = 1; i < got.size(); i++) close(got[i]); }
  }
  close_fd(&console[0]);
  if (ready && !first) ready = network_for_restart();
  if (!ready) {
    close(sv[0]);
    if (M.pidfd >= 0) {  // it may have started: end it and reap it
      syscall(SYS_pidfd_send_signal, M.pidfd, SIGKILL, nullptr, 0);
      siginfo_t si;
      while (waitid(static_cast<idtype_t>(P_PIDFD), M.pidfd, &si, WEXITED) < 0 && errno == EINTR) {}
      close_fd(&M.pidfd);
    }
    close_fd(&M.out_fd[0]);
    close_fd(&M.out_fd[1]);
    close_fd(&M.in_fd);
    M.reaped = true;
    return false;
  }
  M.helper_sock = sv[0];
  for (int fd : {M.out_fd[0], M.out_fd[1], M.in_fd})
    if (fd >= 0) set_nonblock(fd);
  M.status = "created";
  write_state();
  if (!first && !M.start_fifo.empty()) {
    int fifo = open(M.start_fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fifo >= 0) {
      write_all(fifo, "\0", 1);
      close(fifo);
    }
    unlink(M.start_fifo.c_str());
  }
  return true;
}

// Whether a session that said it removes the container (BERTH_ATTACH_REMOVES) is attached.
bool removing_session_attached() {
  for (Client* c : M.clients)
    if (c->hello && (c->flags & BERTH_ATTACH_REMOVES) && !c->closing) return true;
  return false;
}

// After the final exit: nothing more will run here. With --rm, a session that removes the
// container itself is waited for (until it hangs up); the cleanup command runs only if the
// container's directory is still there then, that is, if that process went away first.
[[noreturn]] void finish() {
  std::vector<int> removers;
  for (Client* c : M.clients) {  // best effort: the last frames, then the socket closes
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
    if (!c->out.empty()) write_all(c->fd, c->out.data(), c->out.size());
    if (M.removal_by_session && (c->flags & BERTH_ATTACH_REMOVES)) removers.push_back(c->fd);
    else close(c->fd);
  }
  close_fd(&M.listen_fd);
  unlinkat(M.dirfd, "attach.sock", 0);
  close_fd(&M.log_fd);
  // Whatever they send, until EOF (or an error: gone either way), for at most
  // kRemoverWaitMs in all: a session stopped with Ctrl-Z must not hold the removal forever (the
  // cleanup and a late session serialise on the engine's lock; the second finds nothing).
  int64_t give_up = now_ms() + kRemoverWaitMs;
  for (int fd : removers) {
    char buf[4096];
    for (;;) {
      int64_t left = give_up - now_ms();
      struct pollfd p = {fd, POLLIN, 0};
      int r = left > 0 ? poll(&p, 1, static_cast<int>(left)) : 0;
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      ssize_t n = read(fd, buf, sizeof buf);
      if (n > 0 || (n < 0 && errno == EINTR)) continue;
      break;
    }
    close(fd);
  }
  struct stat st;
  if (!removers.empty() && fstat(M.dirfd, &st) == 0 && st.st_nlink == 0) _exit(0);  // removed
  if (!M.cleanup.empty()) {
    std::vector<char*> argv;
    for (std::string& a : M.cleanup) argv.push_back(&a[0]);
    argv.push_back(nullptr);
    char path[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    char* envp[] = {path, nullptr};
    execve(argv[0], argv.data(), envp);
    _exit(1);
  }
  _exit(0);
}

bool wants_restart() {
  if (M.stopped_by_user) return false;
  switch (M.policy) {
    case 1: return M.exit_code != 0 && (M.max_restarts == 0 || static_cast<uint32_t>(M.restart_count) < M.max_restarts);
    case 2: case 3: return true;
    default: return false;
  }
}

// The run is over (init reaped, output drained or given up on): record it, tell attachers,
// and either schedule the restart or finish.
void run_ended() {
  for (int s = 0; s < 2; s++) {
    log_output(s, "", 0, true);
    close_fd(&M.out_fd[s]);
  }
  close_fd(&M.in_fd);
  close_fd(&M.helper_sock);
  close_fd(&M.caller);
  M.drain_deadline = -1;
  M.kill_deadline = -1;
  M.finished_at = rfc3339nano();
  int32_t code = M.exit_code;
  bool restart = wants_restart();
  if (!restart && !M.cleanup.empty() && removing_session_attached()) {
    // Said before the session hears of the exit (and only if said: a remover that read an old
    // state would wait for this monitor, which would wait for it).
    M.status = "exited";
    M.removal_by_session = true;
    if (!write_state()) M.removal_by_session = false;
  }
  for (Client* c : M.clients) {
    client_send(c, BERTH_ATTACH_EXIT, &code, sizeof code);
    c->closing = true;
  }
  if (restart) {
    if (now_ms() - M.run_started >= kStableMs) M.backoff = kBackoffStartMs;
    M.status = "restarting";
    M.restart_at = now_ms() + M.backoff;
    M.backoff = M.backoff * 2 > kBackoffMaxMs ? kBackoffMaxMs : M.backoff * 2;
    write_state();
    return;
  }
  M.status = "exited";
  write_state();
  finish();
}

void reap() {
  siginfo_t si = {};
  if (waitid(static_cast<idtype_t>(P_PIDFD), M.pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0) return;
  M.exit_code = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
  M.reaped = true;
  close_fd(&M.pidfd);
  M.drain_deadline = now_ms() + kDrainMs;
}

void try_restart() {
  M.restart_at = -1;
  M.restart_count++;
  M.run_started = now_ms();
  if (launch(false)) return;
  M.exit_code = 127;  // could not even start: counts as a failed run
  run_ended();
}

void stop(uint32_t sig, uint32_t timeout_ms) {
  M.stopped_by_user = true;
  write_state();
  if (M.restart_at >= 0) {  // waiting to restart: there is nothing to stop, only to cancel
    M.restart_at = -1;
    M.status = "exited";
    write_state();
    int32_t code = M.exit_code;
    for (Client* c : M.clients) client_send(c, BERTH_ATTACH_EXIT, &code, sizeof code);
    finish();
  }
  if (M.reaped || M.pidfd < 0) return;
  syscall(SYS_pidfd_send_signal, M.pidfd, sig ? sig : SIGTERM, nullptr, 0);
  int64_t deadline = now_ms() + timeout_ms;
  if (M.kill_deadline < 0 || deadline < M.kill_deadline) M.kill_deadline = deadline;
}

void client_frame(Client* c, uint32_t type, const std::string& p) {
  if (type == BERTH_ATTACH_HELLO && p.size() >= 4) {
    memcpy(&c->flags, p.data(), 4);
    c->hello = true;
    client_send(c, BERTH_ATTACH_HELLO, p.data(), 4);  // attached from here on: the client may start it
  } else if (type == BERTH_ATTACH_STDIN) {
    if (M.in_fd >= 0) M.in_pending += p;
  } else if (type == BERTH_ATTACH_CLOSE_STDIN) {
    if (!M.tty && M.in_pending.empty()) close_fd(&M.in_fd);
  } else if (type == BERTH_ATTACH_RESIZE && p.size() >= 8 && M.tty && M.out_fd[0] >= 0) {
    uint32_t cols, rows;
    memcpy(&cols, p.data(), 4);
    memcpy(&rows, p.data() + 4, 4);
    struct winsize ws = {};
    ws.ws_col = static_cast<unsigned short>(cols);
    ws.ws_row = static_cast<unsigned short>(rows);
    ioctl(M.out_fd[0], TIOCSWINSZ, &ws);
  } else if (type == BERTH_ATTACH_STOP && p.size() >= 8) {
    uint32_t sig, timeout;
    memcpy(&sig, p.data(), 4);
    memcpy(&timeout, p.data() + 4, 4);
    stop(sig, timeout);
  }
}

void client_read(Client* c) {
  char buf[16384];
  for (;;) {
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) { c->closing = true; c->out.clear(); return; }
    c->in.append(buf, static_cast<size_t>(n));
  }
  while (c->in.size() >= sizeof(berth_frame_header)) {
    berth_frame_header h;
    memcpy(&h, c->in.data(), sizeof h);
    if (h.length > BERTH_MAX_FRAME) { c->closing = true; c->out.clear(); return; }
    if (c->in.size() < sizeof h + h.length) break;
    std::string payload = c->in.substr(sizeof h, h.length);
    c->in.erase(0, sizeof h + h.length);
    client_frame(c, h.type, payload);
  }
}

// Reads what the container wrote to one stream; at EOF (or EIO on a terminal) closes it.
void output_read(int s) {
  char buf[32768];
  for (;;) {
    ssize_t n = read(M.out_fd[s], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      log_output(s, "", 0, true);
      close_fd(&M.out_fd[s]);
      if (s == 0 && M.tty) close_fd(&M.in_fd);
      return;
    }
    log_output(s, buf, static_cast<size_t>(n), false);
    fan_out(s, buf, static_cast<size_t>(n));
  }
}

void stdin_write() {
  while (!M.in_pending.empty()) {
    ssize_t n = write(M.in_fd, M.in_pending.data(), M.in_pending.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) { M.in_pending.clear(); if (!M.tty) close_fd(&M.in_fd); return; }
    M.in_pending.erase(0, static_cast<size_t>(n));
  }
}

void client_flush(Client* c) {
  while (!c->out.empty()) {
    ssize_t n = send(c->fd, c->out.data(), c->out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) { c->out.clear(); c->closing = true; return; }
    c->out.erase(0, static_cast<size_t>(n));
  }
}

// The attach socket, bound through the directory fd so that a long path still fits sun_path.
int listen_attach() {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/attach.sock", M.dirfd);
  unlinkat(M.dirfd, "attach.sock", 0);
  mode_t old = umask(0077);
  int rc = bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr);
  umask(old);
  if (rc < 0 || listen(fd, 16) < 0) { close(fd); return -1; }
  return fd;
}

bool get_u32(const char* p, uint32_t len, uint32_t* out) {
  if (len != 4) return false;
  memcpy(out, p, 4);
  return true;
}

// Decodes FRAME_MONITOR_CONFIG; false on anything malformed.
bool decode_config(const std::string& payload) {
  size_t off = 0;
  while (off + 8 <= payload.size()) {
    uint32_t tag, len;
    memcpy(&tag, payload.data() + off, 4);
    memcpy(&len, payload.data() + off + 4, 4);
    off += 8;
    if (len > payload.size() - off) return false;
    const char* p = payload.data() + off;
    std::string s(p, len);
    uint32_t v = 0;
    switch (tag) {
      case MON_DIR: M.dir = s; break;
      case MON_LOG_PATH: M.log_path = s; break;
      case MON_INIT_CONFIG: M.init_config = s; break;
      case MON_TTY: if (!get_u32(p, len, &v)) return false; M.tty = v != 0; break;
      case MON_OPEN_STDIN: if (!get_u32(p, len, &v)) return false; M.open_stdin = v != 0; break;
      case MON_RESTART:
        if (len != 8) return false;
        memcpy(&M.policy, p, 4);
        memcpy(&M.max_restarts, p + 4, 4);
        break;
      case MON_CLEANUP_ARG: M.cleanup.push_back(s); break;
      case MON_START_FIFO: M.start_fifo = s; break;
      case MON_RESTART_HOOK_ARG: M.restart_hook.push_back(s); break;
      case MON_LOOPBACK: if (!get_u32(p, len, &v)) return false; M.loopback = v != 0; break;
      default: return false;
    }
    off += len;
  }
  return off == payload.size() && !M.dir.empty() && M.dir[0] == '/' && !M.init_config.empty() && !M.log_path.empty() &&
         (M.restart_hook.empty() || M.restart_hook[0][0] == '/');
}

void report_error(const std::string& detail) {
  std::string p(8, '\0');
  uint32_t stage = STAGE_CONFIG;
  int32_t err = EINVAL;
  memcpy(&p[0], &stage, 4);
  memcpy(&p[4], &err, 4);
  p += detail;
  send_frame_fds(kCallerFd, BERTH_FRAME_ERROR, p, {});
}

}  // namespace

int main() {
  if (fcntl(kCallerFd, F_SETFD, FD_CLOEXEC) < 0) return 2;
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  uint32_t type;
  std::string payload;
  std::vector<int> fds;
  if (!recv_frame(kCallerFd, &type, &payload, &fds) || type != BERTH_FRAME_MONITOR_CONFIG || fds.size() != 1 ||
      !decode_config(payload)) {
    report_error("bad monitor config");
    return 2;
  }
  M.init_memfd = fds[0];

  // Detach: a new session, and a fork whose parent exits at once, so the monitor is never the
  // caller's child and no terminal signal of the caller's reaches it.
  if (setsid() < 0) { report_error("setsid"); return 2; }
  pid_t child = fork();
  if (child < 0) { report_error("fork"); return 2; }
  if (child > 0) _exit(0);

  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) {  // nothing of the caller's stdio is held on to
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    close(devnull);
  }
  M.dirfd = open(M.dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (M.dirfd < 0 || chdir("/") < 0) { report_error("cannot open " + M.dir); return 2; }
  M.log_fd = open(M.log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  M.listen_fd = listen_attach();
  if (M.log_fd < 0 || M.listen_fd < 0) { report_error("cannot open the log or the attach socket in " + M.dir); return 2; }
  int32_t self = getpid();
  send_frame_fds(kCallerFd, BERTH_FRAME_MONITOR_PID, std::string(reinterpret_cast<char*>(&self), 4), {});

  M.run_started = now_ms();
  if (!launch(true)) {
    M.status = "exited";
    M.exit_code = 127;
    M.finished_at = rfc3339nano();
    write_state();
    M.cleanup.clear();  // the caller got the helper's error and cleans up itself
    finish();
  }

  std::vector<struct pollfd> pfds;
  std::vector<int> kinds;  // what each pollfd is: -1 listen, -2 pidfd, -3 helper, -4 stdin, 0/1 output, >=100 client
  for (;;) {
    pfds.clear();
    kinds.clear();
    auto add = [&](int fd, short events, int kind) { pfds.push_back({fd, events, 0}); kinds.push_back(kind); };
    add(M.listen_fd, POLLIN, -1);
    if (M.pidfd >= 0) add(M.pidfd, POLLIN, -2);
    if (M.helper_sock >= 0) add(M.helper_sock, POLLIN, -3);
    if (M.in_fd >= 0 && !M.in_pending.empty()) add(M.in_fd, POLLOUT, -4);
    for (int s = 0; s < 2; s++)
      if (M.out_fd[s] >= 0) add(M.out_fd[s], POLLIN, s);
    for (size_t i = 0; i < M.clients.size(); i++)
      add(M.clients[i]->fd, static_cast<short>(POLLIN | (M.clients[i]->out.empty() ? 0 : POLLOUT)), 100 + static_cast<int>(i));

    int64_t now = now_ms(), wake = -1;
    for (int64_t t : {M.drain_deadline, M.kill_deadline, M.restart_at})
      if (t >= 0 && (wake < 0 || t < wake)) wake = t;
    int timeout = wake < 0 ? -1 : static_cast<int>(wake > now ? wake - now : 0);
    int n = poll(pfds.data(), pfds.size(), timeout);
    if (n < 0 && errno != EINTR) _exit(3);

    for (size_t i = 0; n > 0 && i < pfds.size(); i++) {
      short ev = pfds[i].revents;
      if (!ev) continue;
      int kind = kinds[i];
      if (kind == -1) {
        for (;;) {
          int fd = accept4(M.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          Client* c = new Client();
          c->fd = fd;
          M.clients.push_back(c);
        }
      } else if (kind == -2) {
        reap();
      } else if (kind == -3) {
        uint32_t t;
        std::string p;
        fcntl(M.helper_sock, F_SETFL, fcntl(M.helper_sock, F_GETFL) & ~O_NONBLOCK);
        if (recv_frame(M.helper_sock, &t, &p, nullptr)) {
          relay(t, p);  // an ERROR after READY: the exec failed; the exit follows
          if (t == BERTH_FRAME_ERROR) M.error = p.size() > 8 ? p.substr(8) : "exec failed";
        } else {  // EOF: the user's program runs
          close_fd(&M.helper_sock);
          close_fd(&M.caller);
          if (M.error.empty()) {
            M.status = "running";
            M.started_at = rfc3339nano();
            M.run_started = now_ms();
            write_state();
          }
        }
      } else if (kind == -4) {
        stdin_write();
      } else if (kind == 0 || kind == 1) {
        output_read(kind);
      } else if (kind >= 100) {
        Client* c = M.clients[static_cast<size_t>(kind - 100)];
        if (ev & (POLLIN | POLLHUP | POLLERR)) client_read(c);
        if (ev & POLLOUT) client_flush(c);
      }
    }
    for (size_t i = 0; i < M.clients.size();) {
      Client* c = M.clients[i];
      if (!c->out.empty()) client_flush(c);
      if (c->closing && c->out.empty()) {
        close(c->fd);
        delete c;
        M.clients.erase(M.clients.begin() + static_cast<long>(i));
      } else {
        i++;
      }
    }
    now = now_ms();
    if (M.kill_deadline >= 0 && now >= M.kill_deadline) {
      M.kill_deadline = -1;
      if (M.pidfd >= 0) syscall(SYS_pidfd_send_signal, M.pidfd, SIGKILL, nullptr, 0);
    }
    if (M.reaped && M.pid > 0 && ((M.out_fd[0] < 0 && M.out_fd[1] < 0) || (M.drain_deadline >= 0 && now >= M.drain_deadline))) {
      M.pid = 0;
      run_ended();
    }
    if (M.restart_at >= 0 && now >= M.restart_at) try_restart();
  }
}
