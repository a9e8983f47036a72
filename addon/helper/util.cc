// Small syscall wrappers and file helpers shared by H and I.
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

namespace {
// struct open_how of <linux/openat2.h>, defined here so older headers do not matter.
struct OpenHow {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};
}  // namespace

int openat2_fd(int dirfd, const char* path, uint64_t flags, uint64_t resolve) {
  OpenHow how = {flags, 0, resolve};
  for (int tries = 0;; ++tries) {
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if ((errno != EAGAIN && errno != EINTR) || tries > 32) return -errno;
  }
}

int sys_pivot_root(const char* new_root, const char* put_old) {
  return static_cast<int>(syscall(SYS_pivot_root, new_root, put_old));
}

std::string fd_path(int fd) { return "/proc/self/fd/" + num(fd); }

int write_all(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += n;
    len -= n;
  }
  return 0;
}

int write_file_at(int dirfd, const char* path, const std::string& data) {
  int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return errno;
  int err = write_all(fd, data.data(), data.size());
  if (close(fd) < 0 && err == 0 && errno != EINTR) err = errno;
  return err;
}

int read_file_at(int dirfd, const char* path, std::string* out, size_t max) {
  int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return errno;
  out->assign(max, '\0');
  size_t got = 0;
  while (got < max) {
    ssize_t n = read(fd, &(*out)[got], max - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return err;
    }
    if (n == 0) break;
    got += n;
  }
  out->resize(got);
  close(fd);
  return 0;
}

void close_keep_errno(int fd) {
  int saved = errno;
  if (fd >= 0) close(fd);
  errno = saved;
}

std::string rlimit_name(uint32_t resource) {
  static const char* const kNames[] = {
      "RLIMIT_CPU",     "RLIMIT_FSIZE",    "RLIMIT_DATA",  "RLIMIT_STACK",  "RLIMIT_CORE",
      "RLIMIT_RSS",     "RLIMIT_NPROC",    "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS",
      "RLIMIT_LOCKS",   "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO",
      "RLIMIT_RTTIME"};
  if (resource < sizeof kNames / sizeof kNames[0]) return kNames[resource];
  return "RLIMIT_" + num(resource);
}

std::string num(long long v) {
  char buf[24];
  int i = sizeof buf;
  bool neg = v < 0;
  unsigned long long u = neg ? 0ULL - static_cast<unsigned long long>(v) : v;
  do {
    buf[--i] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u);
  if (neg) buf[--i] = '-';
  return std::string(buf + i, sizeof buf - i);
}
