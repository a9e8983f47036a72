// The container process I: everything between clone and execve of the user's program, in
// the order of runc's libcontainer init.
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

#include "berth/protocol.h"
#include "exec.h"
#include "mounts.h"
#include "report.h"
#include "seccomp.h"
#include "user.h"
#include "util.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace {

// Blocks until H has written the id maps and joined the cgroups. EOF means H failed (and has
// reported it): leave quietly.
void wait_release(int fd) {
  char b;
  ssize_t n;
  do n = read(fd, &b, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) _exit(1);
  close(fd);
}

void set_hostname(const Config& c) {
  if (c.has_hostname && sethostname(c.hostname.data(), c.hostname.size()) < 0)
    fail(STAGE_HOSTNAME, errno, c.hostname);
  if (c.has_domainname && setdomainname(c.domainname.data(), c.domainname.size()) < 0)
    fail(STAGE_HOSTNAME, errno, c.domainname);
}

// Writes each sysctl under /proc/sys, never leaving it ("a.b/c" names a/b.c as sysctl(8)).
void write_sysctls(const Config& c) {
  if (c.sysctls.empty()) return;
  int dir = open("/proc/sys", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) fail(STAGE_SYSCTL, errno, "/proc/sys");
  for (const SysctlEntry& s : c.sysctls) {
    std::string rel = s.key;
    for (char& ch : rel) ch = ch == '.' ? '/' : ch == '/' ? '.' : ch;
    int fd = openat2_fd(dir, rel.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY,
                        RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    if (fd < 0) fail(STAGE_SYSCTL, -fd, s.key);
    int err = write_all(fd, s.value.data(), s.value.size());
    if (err) fail(STAGE_SYSCTL, err, s.key);
    close(fd);
  }
  close(dir);
}

// Sets the exact limits. Last of the setup steps, so a low RLIMIT_NOFILE cannot starve the
// mounts; H has already raised hard limits that an unprivileged I could not raise.
void set_rlimits(const Config& c) {
  for (const RlimitEntry& l : c.rlimits) {
    struct rlimit rl = {l.soft, l.hard};
    if (setrlimit(static_cast<__rlimit_resource>(l.resource), &rl) < 0)
      fail(STAGE_RLIMIT, errno, rlimit_name(l.resource));
  }
}

// Moves fd to a number >= floor (close-on-exec), closing the old one.
int lift(int fd, int floor) {
  if (fd < 0 || fd >= floor) return fd;
  int nfd = fcntl(fd, F_DUPFD_CLOEXEC, floor);
  if (nfd < 0) fail(STAGE_STDIO, errno, "fd " + num(fd));
  close(fd);
  return nfd;
}

// CFG_CONSOLE: a pty from the container's own /dev/ptmx (so the slave is a /dev/pts entry the
// process can name with ttyname), sized, its master sent to the caller and closed here.
// Returns the slave (CLOEXEC), which setup_fds makes fds 0-2.
int open_console(const Config& c) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) fail(STAGE_STDIO, errno, "/dev/ptmx");
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) fail(STAGE_STDIO, errno, "/dev/ptmx (unlock)");
  unsigned int n = 0;
  if (ioctl(master, TIOCGPTN, &n) < 0) fail(STAGE_STDIO, errno, "/dev/ptmx (TIOCGPTN)");
  std::string name = "/dev/pts/" + num(n);
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) slave = open(name.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) fail(STAGE_STDIO, errno, name);
  if (c.console_rows || c.console_cols) {
    struct winsize ws = {};
    ws.ws_row = static_cast<unsigned short>(c.console_rows);
    ws.ws_col = static_cast<unsigned short>(c.console_cols);
    if (ioctl(master, TIOCSWINSZ, &ws) < 0) fail(STAGE_STDIO, errno, "TIOCSWINSZ");
  }
  char control[CMSG_SPACE(sizeof(int))] = {};
  struct iovec iov = {const_cast<char*>(name.data()), name.size()};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &master, sizeof master);
  ssize_t sent;
  do sent = sendmsg(c.console_socket, &msg, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) fail(STAGE_STDIO, errno, "console socket");
  close(master);
  close(c.console_socket);
  return slave;
}

// Places stdio on 0-2 and passthrough fds on 3..3+N-1 and marks every other fd close-on-exec.
// The report socket and the start fifo are moved above that range first.
void setup_fds(const Config& c, int* fifo, int console_slave) {
  int n = static_cast<int>(c.passthrough_fds.size());
  int floor = 3 + n;
  report_set_socket(lift(report_socket(), floor));
  *fifo = lift(*fifo, floor);
  console_slave = lift(console_slave, floor);
  std::vector<int> stdio, pass;
  for (int fd : c.stdio_fds) stdio.push_back(lift(fd, floor));
  for (int fd : c.passthrough_fds) pass.push_back(lift(fd, floor));

  if (c.has_stdio) {
    int dev_null = -1;
    if (c.stdio_fds.size() < 3) {
      dev_null = lift(open("/dev/null", O_RDWR | O_CLOEXEC), floor);
      if (dev_null < 0) fail(STAGE_STDIO, errno, "/dev/null");
    }
    for (int target = 0; target < 3; ++target) {
      int src = dev_null;
      for (size_t i = 0; i < stdio.size(); ++i)
        if (c.stdio_targets[i] == static_cast<uint32_t>(target)) src = stdio[i];
      if (dup2(src, target) < 0) fail(STAGE_STDIO, errno, "fd " + num(target));
    }
    if (dev_null >= 0) close(dev_null);
  }
  if (console_slave >= 0) {
    for (int target = 0; target < 3; ++target)
      if (dup2(console_slave, target) < 0) fail(STAGE_STDIO, errno, "fd " + num(target));
    close(console_slave);
  }
  for (int i = 0; i < n; ++i)
    if (dup2(pass[i], 3 + i) < 0) fail(STAGE_STDIO, errno, "fd " + num(3 + i));
  for (int fd : stdio) close(fd);
  for (int fd : pass) close(fd);

  if (syscall(SYS_close_range, floor, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = floor; fd < max; ++fd) fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
  }
  if ((c.controlling_tty || c.has_console) && ioctl(0, TIOCSCTTY, 0) < 0) fail(STAGE_STDIO, errno, "TIOCSCTTY");
}

// Empty signal mask and default dispositions, as a freshly exec'd program expects.
void reset_signals() {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction sa = {};
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < _NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &sa, nullptr);  // glibc's own: EINVAL
}

// Blocks until berth's start() writes one byte into the fifo.
void wait_start(const Config& c, int fifo) {
  if (fifo < 0) return;
  char b;
  ssize_t n;
  do n = read(fifo, &b, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) fail(STAGE_START_WAIT, n < 0 ? errno : EIO, c.start_fifo);
  close(fifo);
}

// argv/envp arrays pointing into the config's strings.
std::vector<char*> c_array(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const std::string& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

// CVE-2024-21626: a cwd reached through /proc/self/fd/N of an fd still open here could lie
// outside the container's root. The kernel then reports the cwd as unreachable (glibc's
// getcwd fails with ENOENT): refuse to run the user's program there.
static void check_cwd_inside_root(const std::string& cwd) {
  char buf[4096];
  if (getcwd(buf, sizeof buf) == nullptr) fail(STAGE_CWD, errno == ERANGE ? ENAMETOOLONG : ENOENT, cwd);
  if (buf[0] != '/') fail(STAGE_CWD, ENOENT, cwd);
}

void container_init(const Config& c, const InitContext& ctx) {
  wait_release(ctx.release_fd);
  umask(0);  // directories and device nodes get exactly the modes asked for
  if (c.new_namespaces & CLONE_NEWUSER) become_userns_root();
  // H has moved us into the container's cgroups: a cgroup namespace made now is rooted there.
  if ((c.new_namespaces & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0) fail(STAGE_CLONE, errno, "unshare(CLONE_NEWCGROUP)");
  if (c.setsid && setsid() < 0) fail(STAGE_SETSID, errno, "");
  bool rootfs = c.sets_up_rootfs();
  if (rootfs) prepare_rootfs(c);
  int console_slave = c.has_console ? open_console(c) : -1;  // before read-only paths (runc's order)
  set_hostname(c);
  write_sysctls(c);  // before finish_rootfs makes /proc/sys read-only (runc's order)
  if (rootfs) finish_rootfs(c);

  std::string cwd = c.has_cwd ? c.cwd : "/";
  std::string exe = find_executable(c, cwd);
  int cwd_err = chdir(cwd.c_str()) < 0 ? errno : 0;
  if (cwd_err && cwd_err != EACCES) fail(STAGE_CWD, cwd_err, cwd);
  if (!cwd_err) check_cwd_inside_root(cwd);  // before a filter that may deny getcwd
  // Without no_new_privs the filter needs CAP_SYS_ADMIN: then it goes in before the switch
  // drops it (runc's order), and what follows runs under it.
  bool seccomp_early = seccomp_before_user_switch(c);
  if (seccomp_early) install_seccomp(c);
  switch_user(c, ctx.last_cap);
  if (cwd_err) {  // now as the user
    if (chdir(cwd.c_str()) < 0) fail(STAGE_CWD, errno, cwd);
    check_cwd_inside_root(cwd);
  }
  umask(c.has_umask ? c.umask : 022);
  if (c.no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    fail(STAGE_NO_NEW_PRIVILEGES, errno, "");

  int fifo = ctx.start_fifo;
  setup_fds(c, &fifo, console_slave);
  reset_signals();
  set_rlimits(c);
  send_ready();
  wait_start(c, fifo);

  std::vector<char*> argv = c_array(c.args), envp = c_array(c.env);
  if (!seccomp_early) install_seccomp(c);  // as late as possible: only execve runs under it
  execve(exe.c_str(), argv.data(), envp.data());
  send_error(STAGE_EXEC, errno, exe);
  _exit(127);
}
