// berth helper protocol: the one message format between berth.node's caller (TypeScript,
// src/native/protocol.ts mirrors every number here) and the container init helper.
//
// Transport: a SOCK_STREAM unix socketpair. The helper finds its end as fd 3.
// Every message is a frame: struct FrameHeader { uint32 type; uint32 length; } then `length`
// payload bytes. All integers are little-endian (host order on every Linux we run on).
//
// A payload that carries fields is a sequence of records: { uint32 tag; uint32 length; bytes }.
// Strings are raw bytes without a terminating NUL. A tag may repeat (lists). A record whose
// tag is a *_NESTED kind holds records itself. Unknown tags are an error (no silent loss).
//
// Conversation (create):
//   caller -> helper  FRAME_CONFIG (records below); stdio fds ride on it as SCM_RIGHTS,
//                     in the order given by CFG_STDIO_FDS.
//   helper -> caller  FRAME_PID { int32 pid }      the container process, in the caller's pid
//                                                  namespace; it is the caller's child
//                                                  (CLONE_PARENT), so the caller reaps it.
//   helper -> caller  FRAME_READY {}               set up, blocked on the start fifo
//                                                  (CFG_START_FIFO) or, without one, about
//                                                  to execve.
//   EOF on the socket after FRAME_READY            execve succeeded (the socket is CLOEXEC).
//   helper -> caller  FRAME_ERROR at any point     { uint32 stage; int32 errno; bytes detail }
//                                                  then the sender exits non-zero.
#ifndef BERTH_PROTOCOL_H
#define BERTH_PROTOCOL_H

#include <stdint.h>

#define BERTH_PROTOCOL_VERSION 1
#define BERTH_HELPER_SOCKET_FD 3
#define BERTH_MAX_FRAME (16u * 1024u * 1024u)

struct berth_frame_header {
  uint32_t type;
  uint32_t length;
};

enum berth_frame_type {
  BERTH_FRAME_CONFIG = 1,
  BERTH_FRAME_PID = 2,
  BERTH_FRAME_READY = 3,
  BERTH_FRAME_ERROR = 4,
  BERTH_FRAME_CGROUPS = 5,  // caller -> helper, after FRAME_CONFIG when it has CFG_CGROUP_FDS_LATER:
                            // no payload; SCM_RIGHTS: one open cgroup.procs fd per CFG_CGROUP_PROCS,
                            // in order. The caller makes the cgroup while the helper starts and
                            // clones; none (or too few) fds: the launch fails at STAGE_CGROUP.
};

// Records of FRAME_CONFIG.
enum berth_config_tag {
  CFG_VERSION = 1,           // u32 BERTH_PROTOCOL_VERSION; must be first
  CFG_MODE = 2,              // u32: 0 = create a container, 1 = exec into a running one
  CFG_NEW_NAMESPACES = 3,    // u64: CLONE_NEW* flags to create (CLONE_NEWTIME included)
  CFG_JOIN_NAMESPACE = 4,    // nested: NS_TYPE, NS_PATH. Joined in the order given.
  CFG_UID_MAP = 5,           // string written to /proc/PID/uid_map ("0 100000 65536\n")
  CFG_GID_MAP = 6,           // string written to /proc/PID/gid_map
  CFG_SETGROUPS_DENY = 7,    // u32 bool: write "deny" to /proc/PID/setgroups first
  CFG_TIME_OFFSETS = 8,      // string written to /proc/self/timens_offsets after unshare
  CFG_ROOTFS = 9,            // string: absolute host path of the root filesystem
  CFG_ROOTFS_PROPAGATION = 10,  // u64 mount flags applied to "/" first (MS_SLAVE|MS_REC)
  CFG_READONLY_ROOTFS = 11,  // u32 bool
  CFG_NO_PIVOT = 12,         // u32 bool: MS_MOVE + chroot instead of pivot_root
  CFG_MOUNT = 13,            // nested: M_*; performed in order
  CFG_DEVICE = 14,           // nested: D_*; created after the mounts
  CFG_SYMLINK = 15,          // nested: L_TARGET, L_PATH; created after the devices
  CFG_MASKED_PATH = 16,      // string, container path
  CFG_READONLY_PATH = 17,    // string, container path
  CFG_HOSTNAME = 18,         // string
  CFG_DOMAINNAME = 19,       // string
  CFG_SYSCTL = 20,           // nested: S_KEY, S_VALUE
  CFG_RLIMIT = 21,           // nested: R_RESOURCE, R_SOFT, R_HARD
  CFG_CAPABILITIES = 22,     // 5 x u64: bounding, effective, inheritable, permitted, ambient
  CFG_NO_NEW_PRIVILEGES = 23,  // u32 bool
  CFG_UID = 24,              // u32
  CFG_GID = 25,              // u32
  CFG_ADDITIONAL_GIDS = 26,  // u32 array (length/4 entries)
  CFG_UMASK = 27,            // u32 (absent: leave as inherited, 0022 from the helper)
  CFG_CWD = 28,              // string, absolute container path
  CFG_ENV = 29,              // string "KEY=value", repeated
  CFG_ARG = 30,              // string, repeated; the first is looked up in the container's PATH
  CFG_OOM_SCORE_ADJ = 31,    // i32
  CFG_START_FIFO = 32,       // string: host path of a fifo; the process blocks reading one byte
                             // from it (opened O_RDWR) before execve. Absent: no wait.
  CFG_STDIO_FDS = 33,        // u32 array: for each fd passed with the frame, the target fd
                             // number (0, 1 or 2) in the container process
  CFG_CGROUP_PROCS = 34,     // string: host path of a cgroup.procs file the container
                             // process is written to before it runs anything of the user's
  CFG_SETSID = 35,           // u32 bool: start a new session (default for create)
  CFG_EXEC_FD_PASSTHROUGH = 36,  // u32: keep fds 3..3+N-1 open for the user (LISTEN_FDS style)
                                 // The N fds ride on FRAME_CONFIG as SCM_RIGHTS right after
                                 // the CFG_STDIO_FDS ones, in order (fd 3 first).
  CFG_CONTROLLING_TTY = 37,  // u32 bool (added with the helper): after stdio is in place, make
                             // fd 0 (a pty slave) the controlling terminal (TIOCSCTTY); needs
                             // a new session (CFG_SETSID) and a CFG_STDIO_FDS entry for fd 0.
  CFG_SECCOMP = 38,          // u32 SECCOMP_FILTER_FLAG_* flags, then the struct sock_filter array
                             // (8 bytes each, 1..4096 of them). Installed with seccomp(2) right
                             // before execve; before the user switch when no_new_privs is off
                             // and the final effective set lacks CAP_SYS_ADMIN (runc's order).
  CFG_ROOTFS_MOUNT = 39,     // nested: M_* with M_TARGET "/"; mounted onto CFG_ROOTFS, in order,
                             // in the container's mount namespace before anything else there
                             // (a graph driver's snapshot). With M_CWD the helper mounts from
                             // that directory, so relative paths in M_DATA resolve against it;
                             // an overlay whose data exceeds a page goes through fsopen(2) with
                             // one "lowerdir+" per layer.
  CFG_CONSOLE = 40,          // 2 x u32: rows, cols (0, 0: size left alone). Give the process a
                             // terminal: once the rootfs is ready (exec: once the namespaces
                             // are joined) it opens the container's /dev/ptmx, makes the new
                             // slave its fds 0-2 and its controlling terminal (needs a new
                             // session, CFG_SETSID; excludes CFG_STDIO_FDS), sets the size on
                             // the master and sends the master over a unix socket: one message
                             // whose data is the slave's path and whose SCM_RIGHTS is the
                             // master (runc's --console-socket message). That socket rides on
                             // FRAME_CONFIG last, after the stdio and passthrough fds.
  CFG_CGROUP_FDS_LATER = 41,  // u32 bool: do not open the CFG_CGROUP_PROCS paths; their fds come
                               // in a FRAME_CGROUPS, read after FRAME_PID is sent
};

// Records nested in CFG_JOIN_NAMESPACE.
enum berth_ns_tag {
  NS_TYPE = 1,  // u32: one CLONE_NEW* flag
  NS_PATH = 2,  // string
};

// Records nested in CFG_MOUNT.
enum berth_mount_tag {
  M_SOURCE = 1,       // string: for binds (MS_BIND in M_FLAGS) an absolute host path, else
                      // the filesystem's source name ("proc", "tmpfs", a device)
  M_TARGET = 2,       // string, absolute container path (resolved inside the rootfs)
  M_FSTYPE = 3,       // string ("proc", "tmpfs", "bind" for binds, ...)
  M_FLAGS = 4,        // u64 MS_* flags for mount(2) (MS_BIND/MS_REC for binds)
  M_PROPAGATION = 5,  // u64 MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE(|MS_REC), 0 = none
  M_DATA = 6,         // string: fs-specific options ("mode=755,size=65536k")
  M_REMOUNT_FLAGS = 7,  // u64: for binds, flags applied with MS_BIND|MS_REMOUNT afterwards
                        // (MS_RDONLY, MS_NOSUID, ...); 0 = no remount
  M_CWD = 8,            // string: CFG_ROOTFS_MOUNT only; absolute host directory to mount from
};

// Records nested in CFG_DEVICE.
enum berth_device_tag {
  D_PATH = 1,   // string, absolute container path
  D_TYPE = 2,   // u32: 'c', 'b', 'p' (fifo)
  D_MAJOR = 3,  // u64
  D_MINOR = 4,  // u64
  D_MODE = 5,   // u32 permission bits
  D_UID = 6,    // u32
  D_GID = 7,    // u32
  D_BIND = 8,   // u32 bool: bind-mount the host's D_PATH instead of mknod (user namespaces)
};

// Records nested in CFG_SYMLINK.
enum berth_symlink_tag {
  L_TARGET = 1,  // string: what the link points to
  L_PATH = 2,    // string: absolute container path of the link
};

// Records nested in CFG_SYSCTL.
enum berth_sysctl_tag {
  S_KEY = 1,    // string "net.ipv4.ip_forward"
  S_VALUE = 2,  // string
};

// Records nested in CFG_RLIMIT.
enum berth_rlimit_tag {
  R_RESOURCE = 1,  // u32 RLIMIT_* number
  R_SOFT = 2,      // u64 (RLIM_INFINITY = ~0)
  R_HARD = 3,      // u64
};

// Where a failure happened. FRAME_ERROR carries one of these, the errno and a detail (the
// path or name at fault).
enum berth_stage {
  STAGE_CONFIG = 1,           // reading or decoding the config
  STAGE_JOIN_NAMESPACE = 2,   // open or setns of a namespace path
  STAGE_TIME_NAMESPACE = 3,   // unshare(CLONE_NEWTIME) or writing the offsets
  STAGE_CLONE = 4,            // creating the container process
  STAGE_ID_MAPPING = 5,       // writing uid_map / gid_map / setgroups
  STAGE_CGROUP = 6,           // joining a cgroup
  STAGE_SETSID = 7,
  STAGE_ROOTFS_PROPAGATION = 8,
  STAGE_ROOTFS = 9,           // bind of the rootfs onto itself, rootfs checks
  STAGE_MOUNT = 10,           // detail: the mount target
  STAGE_DEVICE = 11,          // detail: the device path
  STAGE_SYMLINK = 12,
  STAGE_PIVOT_ROOT = 13,
  STAGE_MASKED_PATH = 14,
  STAGE_READONLY_PATH = 15,
  STAGE_READONLY_ROOTFS = 16,
  STAGE_HOSTNAME = 17,
  STAGE_SYSCTL = 18,          // detail: the key
  STAGE_RLIMIT = 19,          // detail: the resource name
  STAGE_OOM_SCORE_ADJ = 20,
  STAGE_CWD = 21,             // detail: the cwd
  STAGE_EXECUTABLE = 22,      // detail: the program name; ENOENT not found, EACCES not executable
  STAGE_USER = 23,            // setgroups/setgid/setuid; detail: which
  STAGE_CAPABILITIES = 24,
  STAGE_NO_NEW_PRIVILEGES = 25,
  STAGE_START_WAIT = 26,      // opening or reading the start fifo
  STAGE_EXEC = 27,            // execve itself
  STAGE_UMASK = 28,
  STAGE_STDIO = 29,
  STAGE_SECCOMP = 30,         // installing the seccomp filter
  STAGE_ROOTFS_MOUNT = 31,    // a CFG_ROOTFS_MOUNT; detail: its source
};

// ---- berth-monitor --------------------------------------------------------------------------
// The per-container monitor (addon/monitor/), started sealed like the helper with its end of a
// socketpair as fd 3. Conversation on that socket:
//   caller  -> monitor  FRAME_MONITOR_CONFIG (MON_* records); SCM_RIGHTS: the sealed berth-init
//                       memfd, which the monitor keeps to launch (and re-launch) the container.
//   monitor             forks; the parent exits (the caller reaps it), the child starts a new
//                       session, so it outlives the caller and is never the caller's child.
//   monitor -> caller   FRAME_MONITOR_PID { int32 pid }: the monitor that stays, once its attach
//                       socket is listening.
//   monitor -> caller   the helper's own frames, relayed as they come (FRAME_PID, FRAME_READY,
//                       FRAME_ERROR); the container process is the monitor's child
//                       (CLONE_PARENT), so the monitor reaps it and records its exit.
//   EOF                 once the container process has called execve (or failed).
// Files the monitor keeps in MON_DIR: `monitor.json` (its state, replaced atomically on every
// change: status created|running|restarting|exited, pid, pidStartTime, startedAt, finishedAt,
// exitCode, restartCount, stoppedByUser, monitorPid) and `attach.sock` (the attach socket).
// MON_LOG_PATH gets the output as Docker's json-file lines {"log","stream","time"}.
enum berth_monitor_frame_type {
  BERTH_FRAME_MONITOR_CONFIG = 16,
  BERTH_FRAME_MONITOR_PID = 17,
};

// Records of FRAME_MONITOR_CONFIG.
enum berth_monitor_tag {
  MON_DIR = 1,            // string: absolute directory for monitor.json and attach.sock
  MON_LOG_PATH = 2,       // string: absolute path of the json-file log (appended to)
  MON_INIT_CONFIG = 3,    // bytes: the FRAME_CONFIG payload berth-init gets on every launch
  MON_TTY = 4,            // u32 bool: the payload has CFG_CONSOLE; the monitor sends the console
                          // socket and holds the master. Else it has CFG_STDIO_FDS [0, 1, 2]
                          // and the monitor sends stdin, stdout and stderr (pipes).
  MON_OPEN_STDIN = 5,     // u32 bool: stdin stays open for attachers (else /dev/null)
  MON_RESTART = 6,        // 2 x u32: policy (0 no, 1 on-failure, 2 always, 3 unless-stopped),
                          // maximum restarts for on-failure (0: no limit)
  MON_CLEANUP_ARG = 7,    // string, repeated: argv exec'd in place of the monitor after the last
                          // exit (--rm); absent: the monitor just exits
  MON_START_FIFO = 8,     // string: the start fifo named in the payload; re-made and written by
                          // the monitor itself on a restart
  MON_RESTART_HOOK_ARG = 9,  // string, repeated: argv of a program the monitor runs (fork+exec,
                          // stdout /dev/null, stderr captured, own process group) on every
                          // restart, with the new init's pid appended, once berth-init is READY
                          // and before the start fifo is released; the init is the monitor's
                          // unreaped child meanwhile, so the pid cannot be reused. Exit 0 within
                          // the hook timeout or the launch fails (init killed, error recorded,
                          // the restart policy's backoff applies). How the engine reconnects the
                          // new network namespace of a restarted container to its networks.
  MON_LOOPBACK = 10,      // u32 bool: on a restart, bring `lo` up in the new init's network
                          // namespace (a container on `none`, which no hook reconnects)
};

// Attach socket (MON_DIR/attach.sock, SOCK_STREAM): frames both ways, header as above.
enum berth_attach_frame_type {
  BERTH_ATTACH_HELLO = 32,        // client: u32 flags (1 stdin, 2 stdout, 4 stderr, 8 removes:
                                  // BERTH_ATTACH_REMOVES); first frame. The monitor answers with
                                  // the same frame once the client gets output (so output written
                                  // after the answer is never missed)
  BERTH_ATTACH_STDIN = 33,        // client: bytes for the container's stdin (or terminal)
  BERTH_ATTACH_CLOSE_STDIN = 34,  // client: close the container's stdin (EOF for it)
  BERTH_ATTACH_RESIZE = 35,       // client: u32 cols, u32 rows of the terminal
  BERTH_ATTACH_STOP = 36,         // client: u32 signal, u32 timeout ms: no restart after this
                                  // exit; the signal now, SIGKILL when the timeout passes
  BERTH_ATTACH_STDOUT = 40,       // monitor: bytes the container wrote to stdout (or terminal)
  BERTH_ATTACH_STDERR = 41,       // monitor: bytes the container wrote to stderr
  BERTH_ATTACH_EXIT = 42,         // monitor: i32 exit code (128+n for signal n); then it closes
};

// HELLO flag of a client that removes the container itself after its last exit (`run --rm` in
// the foreground). When such a client is attached at that exit, the monitor records
// "removalBySession" in monitor.json before it sends EXIT (if that write fails it cleans up
// itself, as without such a client), then keeps that connection open and waits for the client to
// hang up, 30 s at most; it runs its cleanup command (MON_CLEANUP_ARG) only if the container's
// directory is still there then (the client died first, or is stuck). A second Node process
// for the removal is saved, and the removal is still done whoever dies when.
#define BERTH_ATTACH_REMOVES 8u

#endif  // BERTH_PROTOCOL_H
