// berth-docker-init: the small init `run --init` puts at pid 1 of a container (Docker's
// docker-init, tini): it starts the command as its child, forwards the signals a container
// gets to it, reaps every zombie (orphans are re-parented to pid 1), and exits with the
// command's status (128 + signal when a signal ended it).
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  // "--" ends the init's own options (it has none), as tini takes it.
  if (argc > 1 && strcmp(argv[1], "--") == 0) {
    argv++;
    argc--;
  }
  if (argc < 2) {
    fprintf(stderr, "usage: %s COMMAND [ARG...]\n", argv[0]);
    return 2;
  }
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  pid_t child = fork();
  if (child < 0) {
    perror("berth-docker-init: fork");
    return 1;
  }
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &old, nullptr);
    setpgid(0, 0);
    execvp(argv[1], argv + 1);
    fprintf(stderr, "berth-docker-init: exec %s: %s\n", argv[1], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  // The command leads its own process group and, on a terminal, is its foreground group, so
  // Ctrl-C reaches it (SIGTTOU is blocked here, as every signal is).
  setpgid(child, child);
  if (isatty(0)) tcsetpgrp(0, child);
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&all, &info);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    for (;;) {
      int status;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      if (pid == child) {
        // Reap what is left, then leave with the command's status.
        while (waitpid(-1, nullptr, WNOHANG) > 0) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    }
  }
}
