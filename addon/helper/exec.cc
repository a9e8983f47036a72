// Finding the program to run, as execvp(3) would, inside the container.
#include "exec.h"

#include <errno.h>
#include <sys/stat.h>

#include "berth/protocol.h"
#include "report.h"

static const char kDefaultPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// The first PATH= of the environment, or the default one.
static std::string env_path(const Config& c) {
  for (const std::string& e : c.env)
    if (e.compare(0, 5, "PATH=") == 0) return e.substr(5);
  return kDefaultPath;
}

// 0 if `path` is a regular file with an execute bit, else the errno execve would give.
static int check_executable(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) < 0) return errno;
  if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111)) return EACCES;
  return 0;
}

std::string find_executable(const Config& c, const std::string& cwd) {
  const std::string& name = c.args[0];
  auto from_cwd = [&](const std::string& p) { return p[0] == '/' ? p : cwd + "/" + p; };
  if (name.empty()) fail(STAGE_EXECUTABLE, ENOENT, name);
  if (name.find('/') != std::string::npos) {
    int err = check_executable(from_cwd(name));
    if (err) fail(STAGE_EXECUTABLE, err == ENOTDIR ? ENOENT : err, name);
    return name;
  }
  std::string path = env_path(c);
  bool denied = false;
  size_t i = 0;
  for (;;) {
    size_t j = path.find(':', i);
    std::string dir = path.substr(i, j == std::string::npos ? std::string::npos : j - i);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    int err = check_executable(from_cwd(candidate));
    if (err == 0) return candidate;
    if (err == EACCES) denied = true;
    if (j == std::string::npos) break;
    i = j + 1;
  }
  fail(STAGE_EXECUTABLE, denied ? EACCES : ENOENT, name);
}
