// Resolving container paths inside a root directory, never leaving it (CVE-2021-30465).
#ifndef BERTH_HELPER_PATHS_H
#define BERTH_HELPER_PATHS_H

#include <stdint.h>

#include <string>

// What to create when components of the path are missing.
enum class Create {
  kNone,  // nothing: a missing component is ENOENT
  kDir,   // directories all the way
  kFile,  // directories, then an empty regular file as the last component
};

// Opens `path` (a container path) inside the directory fd `root` as an O_PATH|O_CLOEXEC fd.
// Every lookup is openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS|extra_resolve), so ".." and
// symlinks (absolute or relative) are resolved as if `root` were "/". Missing components are
// created relative to the deepest existing one; a dangling symlink is followed (inside the
// root) to create what it points to. Returns the fd or -errno.
int open_in_root(int root, const std::string& path, Create create, uint64_t extra_resolve = 0);

// Splits "/a/b/c" into "/a/b" and "c". False when there is no last component ("/", "/a/..").
bool split_parent(const std::string& path, std::string* parent, std::string* name);

#endif
