// Resolving container paths inside a root directory, never leaving it (CVE-2021-30465).
#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "util.h"

namespace {

// Path components without empty and "." parts.
std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string c = path.substr(i, j - i);
    if (!c.empty() && c != ".") out.push_back(c);
    i = j + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& comps, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < to; ++i) out += "/" + comps[i];
  return out;
}

// One in-root lookup of a whole path.
int lookup(int root, const std::string& path, uint64_t extra) {
  std::string rel = path;
  while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
  if (rel.empty()) rel = ".";
  return openat2_fd(root, rel.c_str(), O_PATH | O_CLOEXEC,
                    RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extra);
}

}  // namespace

int open_in_root(int root, const std::string& path, Create create, uint64_t extra) {
  std::string cur = path;
  int budget = 1024;  // creations plus symlink restarts; bounds any race or loop
  for (;;) {
    int fd = lookup(root, cur, extra);
    if (fd != -ENOENT || create == Create::kNone) return fd;

    // Walk down from the root to the first missing component and create from there.
    std::vector<std::string> comps = components(cur);
    int parent = fcntl(root, F_DUPFD_CLOEXEC, 0);
    if (parent < 0) return -errno;
    bool restart = false;
    for (size_t i = 0; i < comps.size() && !restart;) {
      if (--budget < 0) {
        close(parent);
        return -ELOOP;
      }
      fd = lookup(root, join(comps, 0, i + 1), extra);
      if (fd >= 0) {
        close(parent);
        parent = fd;
        ++i;
        continue;
      }
      if (fd != -ENOENT) {
        close(parent);
        return fd;
      }
      const char* name = comps[i].c_str();
      struct stat st;
      if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        // A dangling symlink: splice its text into the path and resolve again, in the root.
        char link[PATH_MAX];
        ssize_t n = readlinkat(parent, name, link, sizeof link - 1);
        if (n < 0) {
          int err = errno;
          close(parent);
          return -err;
        }
        std::string target(link, n);
        std::string rest = join(comps, i + 1, comps.size());
        cur = target[0] == '/' ? target + rest : join(comps, 0, i) + "/" + target + rest;
        restart = true;
        break;
      }
      bool last = i + 1 == comps.size();
      int rc;
      if (last && create == Create::kFile) {
        rc = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (rc >= 0) close(rc);
      } else {
        rc = mkdirat(parent, name, 0755);
      }
      if (rc < 0 && errno != EEXIST) {
        int err = errno;
        close(parent);
        return -err;
      }
      // Loop without advancing: the next lookup opens what was just created.
    }
    if (!restart) return parent;
    close(parent);
  }
}

bool split_parent(const std::string& path, std::string* parent, std::string* name) {
  std::vector<std::string> comps = components(path);
  if (comps.empty() || comps.back() == "..") return false;
  *name = comps.back();
  *parent = join(comps, 0, comps.size() - 1);
  if (parent->empty()) *parent = "/";
  return true;
}
