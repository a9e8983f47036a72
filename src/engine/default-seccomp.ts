/**
 * The seccomp profile every engine container gets unless told otherwise, as Docker's: an
 * allow-list of the system calls ordinary programs make, everything else failing with EPERM.
 * Calls that only a capability makes useful are allowed with that capability (so `capAdd`
 * widens the filter as it widens the capability set), and a few are allowed with their
 * arguments checked: `clone` without namespace flags (new namespaces need CAP_SYS_ADMIN),
 * `socket` of any family but AF_VSOCK, `personality` to the harmless personas. `clone3`, whose
 * flags a filter cannot see, returns ENOSYS without CAP_SYS_ADMIN, so that libc falls back to
 * `clone`. Left out, as Docker leaves them out: keyrings (`keyctl`, `add_key`, `request_key`),
 * `userfaultfd`, io_uring, `pivot_root`, swap, kexec, modules and the clock (without their
 * capabilities). System calls newer than any the profile names fail with ENOSYS, not EPERM, as
 * under runc: a program probing for one (statmount, mseal) then falls back instead of giving up.
 * @module
 */
import { X86_64_SYSCALLS } from '../runtime/seccomp/syscall-table.js';
import type { LinuxSeccomp, LinuxSyscall } from '../runtime/spec.js';
import { EngineError } from './errors.js';

/** Allowed for every container. */
const BASE = `accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown
chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64
fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64
fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs
fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv
futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid
getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority
getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid
getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr
inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy
io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill
landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link
linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock
mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd
msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat
openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll
ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64
pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall
rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr
sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send
sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32
setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt
set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown
sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64
statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64
times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat
utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
arch_prctl modify_ldt process_vm_readv process_vm_writev ptrace`;

/** Allowed with a capability. */
const BY_CAPABILITY: Record<string, string> = {
  CAP_DAC_READ_SEARCH: 'open_by_handle_at',
  CAP_SYS_ADMIN: `bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount
    mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname
    setns syslog umount umount2 unshare`,
  CAP_SYS_BOOT: 'reboot',
  CAP_SYS_CHROOT: 'chroot',
  CAP_SYS_MODULE: 'delete_module init_module finit_module',
  CAP_SYS_PACCT: 'acct',
  CAP_SYS_PTRACE: 'kcmp pidfd_getfd process_madvise',
  CAP_SYS_RAWIO: 'iopl ioperm',
  CAP_SYS_TIME: 'settimeofday stime clock_settime clock_settime64',
  CAP_SYS_TTY_CONFIG: 'vhangup',
  CAP_SYS_NICE: 'get_mempolicy mbind set_mempolicy set_mempolicy_home_node',
  CAP_SYSLOG: 'syslog',
  CAP_BPF: 'bpf',
  CAP_PERFMON: 'perf_event_open',
};

/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET (0x7e020000). */
const CLONE_NAMESPACE_FLAGS = 0x7e02_0000;
/** AF_VSOCK. */
const AF_VSOCK = 40;
/** PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, and 0xffffffff (a query). */
const HARMLESS_PERSONAS = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];
/** ENOSYS. */
const ENOSYS = 38;

const names = (list: string): string[] => list.split(/\s+/).filter(Boolean);

/**
 * Docker's default seccomp profile for a container with the capabilities `caps` (`CAP_*`
 * names, after `capAdd`/`capDrop`), as an OCI `linux.seccomp` object.
 */
export function defaultSeccomp(caps: readonly string[]): LinuxSeccomp {
  const has = new Set(caps);
  const allowed = names(BASE);
  for (const [cap, list] of Object.entries(BY_CAPABILITY)) if (has.has(cap)) allowed.push(...names(list));
  const syscalls: LinuxSyscall[] = [{ names: [...new Set(allowed)], action: 'SCMP_ACT_ALLOW' }];
  syscalls.push({ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' }] });
  for (const persona of HARMLESS_PERSONAS) {
    syscalls.push({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: persona, op: 'SCMP_CMP_EQ' }] });
  }
  if (!has.has('CAP_SYS_ADMIN')) {
    syscalls.push({ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] });
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  // Newer than anything named above: ENOSYS, runc's answer for system calls a profile predates.
  const named = new Set(syscalls.flatMap((r) => r.names));
  const newest = Math.max(...[...named].map((n) => X86_64_SYSCALLS[n] ?? -1));
  const newer = Object.keys(X86_64_SYSCALLS).filter((n) => X86_64_SYSCALLS[n]! > newest);
  if (newer.length > 0) syscalls.push({ names: newer, action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls,
  };
}

const PROFILE_KEYS = new Set(['defaultAction', 'defaultErrnoRet', 'architectures', 'flags', 'listenerPath', 'listenerMetadata', 'syscalls']);
const RULE_KEYS = new Set(['names', 'action', 'errnoRet', 'args']);

/**
 * The filter of a container with capabilities `caps`: none for `unconfined`; a profile of the
 * caller's own, checked; else Docker's default — on x86_64 only, the ABIs berth's seccomp
 * compiler knows (elsewhere none, rather than every container failing).
 */
export function containerSeccomp(choice: 'unconfined' | LinuxSeccomp | undefined, caps: readonly string[]): LinuxSeccomp | undefined {
  if (choice === 'unconfined') return undefined;
  if (choice !== undefined) {
    checkSeccompProfile(choice);
    return choice;
  }
  return process.arch === 'x64' ? defaultSeccomp(caps) : undefined;
}

/**
 * Refuses a seccomp profile with keys an OCI `linux.seccomp` object does not have (EngineError
 * EINVALIDSPEC naming the key): a Docker-format profile (`archMap`, rules with `includes`,
 * `excludes`, `minKernel`) read as OCI would lose the conditions on its rules and allow, for
 * one, `unshare` and `mount` to every container.
 */
function checkSeccompProfile(profile: LinuxSeccomp, field = 'seccomp'): void {
  if (typeof profile !== 'object' || profile === null || Array.isArray(profile)) throw new EngineError(`${field}: a seccomp profile is a JSON object`, 'EINVALIDSPEC', field);
  const unknown = (keys: string[], known: Set<string>): string | undefined => keys.find((k) => !known.has(k));
  const top = unknown(Object.keys(profile), PROFILE_KEYS);
  const docker = 'a Docker-format profile is not an OCI linux.seccomp object; give the OCI form (rules with names, action, errnoRet, args)';
  if (top !== undefined) throw new EngineError(`${field}.${top}: unknown key (${docker})`, 'EINVALIDSPEC', `${field}.${top}`);
  (profile.syscalls ?? []).forEach((rule, i) => {
    const key = typeof rule === 'object' && rule !== null ? unknown(Object.keys(rule), RULE_KEYS) : undefined;
    if (key !== undefined) throw new EngineError(`${field}.syscalls[${i}].${key}: unknown key (${docker})`, 'EINVALIDSPEC', `${field}.syscalls[${i}].${key}`);
  });
}
