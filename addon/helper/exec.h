// Finding the program to run, as execvp(3) would, inside the container.
#ifndef BERTH_HELPER_EXEC_H
#define BERTH_HELPER_EXEC_H

#include <string>

#include "config.h"

// The path to execve for args[0]: used as is when it contains '/', else searched in the PATH
// of CFG_ENV. Not found: STAGE_EXECUTABLE ENOENT; found but not a regular file with an
// execute bit: EACCES. `cwd` is where relative paths will be resolved at execve time.
std::string find_executable(const Config& c, const std::string& cwd);

#endif
