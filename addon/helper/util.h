// Small syscall wrappers and file helpers shared by H and I.
#ifndef BERTH_HELPER_UTIL_H
#define BERTH_HELPER_UTIL_H

#include <stdint.h>

#include <string>

#ifndef RESOLVE_NO_XDEV
#define RESOLVE_NO_XDEV 0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#define RESOLVE_IN_ROOT 0x10
#endif

// openat2(2) with O_PATH-style arguments; returns an fd or -errno. Retries EAGAIN (a rename
// raced the lookup) a few times.
int openat2_fd(int dirfd, const char* path, uint64_t flags, uint64_t resolve);

int sys_pivot_root(const char* new_root, const char* put_old);

// "/proc/self/fd/N": the magic link that names exactly the file the fd holds.
std::string fd_path(int fd);

// Writes all of `data` to `path` (relative to dirfd) opened O_WRONLY. Returns 0 or errno.
int write_file_at(int dirfd, const char* path, const std::string& data);
// Writes all of `data` to an open fd. Returns 0 or errno.
int write_all(int fd, const void* data, size_t len);
// Reads up to `max` bytes of a small file. Returns 0 or errno.
int read_file_at(int dirfd, const char* path, std::string* out, size_t max = 4096);

// close(2) that keeps errno.
void close_keep_errno(int fd);

// "RLIMIT_NOFILE" for 7; "RLIMIT_<n>" for numbers this helper does not know.
std::string rlimit_name(uint32_t resource);

// Decimal text of a number.
std::string num(long long v);

#endif
