/**
 * The one place that loads `berth.node`. Everything else goes through `./index.js`, which wraps
 * these raw functions with types and maps their errors to {@link NativeError}.
 * @module
 */
import { createRequire } from 'node:module';
import { NativeError } from '../errors.js';
import { packagePath } from '../util/package-dir.js';

/** Directory with the native build products: `build/Release` under the package root (from src/native and dist/native alike). */
export const buildDir = `${packagePath('build', 'Release')}/`;

/** Absolute path of the Node-API module. */
export const addonPath = `${buildDir}berth.node`;

/** Absolute path of the container init helper executable (copied into a sealed memfd by `initHelper`). */
export const helperPath = `${buildDir}berth-init`;
/** The init `run --init` puts at a container's pid 1 (Docker's docker-init). */
export const dockerInitPath = `${buildDir}berth-docker-init`;

/** Exit status as the addon reports it: signal as a number; `reaped` false when the status is unknown (not our child). */
export interface RawExitStatus {
  /** Exit code when the process exited normally. */
  exitCode: number | null;
  /** Signal number when it was killed by a signal. */
  signal: number | null;
  /** Whether this watch reaped the process (only then are exitCode/signal known). */
  reaped: boolean;
}

/** The addon's exit-watch handle: a libuv poll on a pidfd, created unref'ed. */
export interface RawExitWatch {
  /** Keeps the event loop alive while the watch is pending. */
  ref(): void;
  /** Lets the event loop end while the watch is pending (the initial state). */
  unref(): void;
  /** Whether the watch currently keeps the event loop alive. */
  hasRef(): boolean;
  /** Stops watching without calling back; idempotent. */
  close(): void;
}

/** A helper process as spawnHelper returns it. */
export interface RawHelper {
  /** Its pid. */
  pid: number;
  /** A pidfd for it (CLOEXEC, from CLONE_PIDFD). */
  pidfd: number;
  /** Our end of its socketpair (CLOEXEC, blocking). */
  sock: number;
}

/** One rtnetlink operation of {@link BerthAddon.netlink} (`ns`: through the socket in the target namespace). */
export interface RawNetlinkOp {
  /** bridgeAdd, vethAdd, linkSet, linkDel, hairpin, addrAdd, routeAdd, links, addrs, routes. */
  op: string;
  /** Run in the target namespace. */
  ns?: boolean;
  /** The link. */
  name?: string;
  /** vethAdd: the peer's name. */
  peer?: string;
  /** vethAdd: an fd of the namespace the peer is made in. */
  peerNetns?: number;
  /** vethAdd: the peer's MAC address (`aa:bb:cc:dd:ee:ff`; default the kernel's random one). */
  peerMac?: string;
  /** MTU. */
  mtu?: number;
  /** Bridge to enslave the link to. */
  master?: string;
  /** linkSet: up or down. */
  up?: boolean;
  /** linkSet: an fd of the namespace to move the link to. */
  netns?: number;
  /** linkSet: new name. */
  rename?: string;
  /** linkDel: succeed when the link is absent. */
  missingOk?: boolean;
  /** hairpin: on or off. */
  on?: boolean;
  /** addrAdd: the IPv4 address. */
  address?: string;
  /** addrAdd/routeAdd: prefix length. */
  prefix?: number;
  /** routeAdd: destination network. */
  dst?: string;
  /** routeAdd: gateway. */
  gateway?: string;
}

/** The raw exports of berth.node (errors thrown carry code, errno, syscall and maybe path). */
export interface BerthAddon {
  /** Copies the helper into a sealed memfd once per process; returns the memfd. */
  initHelper(path: string): number;
  /** The sealed memfd, or -1 before initHelper. */
  helperFd(): number;
  /** Starts the helper (or, with `monitor`, berth-monitor) from its memfd (vfork+execveat) with the socket as its fd 3. */
  spawnHelper(monitor?: boolean): RawHelper;
  /** Copies berth-monitor into a sealed memfd once per process; returns the memfd. */
  initMonitor(path: string): number;
  /** Writes one frame (header + payload) with fds attached as SCM_RIGHTS. */
  sendFrame(sock: number, type: number, payload: Buffer, fds: number[]): void;
  /** pidfd_open(2). */
  pidfdOpen(pid: number): number;
  /** pidfd_send_signal(2). */
  pidfdSendSignal(pidfd: number, signo: number): void;
  /** close(2). */
  closeFd(fd: number): void;
  /** pipe2(O_CLOEXEC): [readEnd, writeEnd]. */
  pipe(): [number, number];
  /** Watches a pidfd for exit on the libuv loop; calls back once, then stops. */
  watchExit(pidfd: number, reap: boolean, callback: (err: Error | null, status: RawExitStatus | undefined) => void): RawExitWatch;
  /** mkfifo(3). */
  mkfifo(path: string, mode: number): void;
  /** flock(2), synchronous. */
  flock(fd: number, exclusive: boolean, nonblocking: boolean): void;
  /** ioctl(NS_GET_NSTYPE): the CLONE_NEW* type of a namespace fd. */
  nsType(fd: number): number;
  /** Loads a BPF_PROG_TYPE_CGROUP_DEVICE program and attaches it to a cgroup v2 directory, replacing the earlier one. */
  attachDeviceFilter(dir: string, insns: Buffer, license: string): void;
  /** Number of BPF_CGROUP_DEVICE programs attached to a cgroup v2 directory. */
  queryDeviceFilters(dir: string): number;
  /** eventfd(2) with EFD_CLOEXEC | EFD_NONBLOCK. */
  eventfd(initval: number): number;
  /** open(O_PATH|O_DIRECTORY): a root fd for the *In calls. */
  openRoot(path: string): number;
  /** openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) relative to a root fd. */
  openIn(root: number, rel: string, flags: number, mode: number): number;
  /** mkdirat on the last component, parent resolved in the root. */
  mkdirIn(root: number, rel: string, mode: number): void;
  /** symlinkat on the last component, parent resolved in the root. */
  symlinkIn(root: number, rel: string, target: string): void;
  /** linkat (no follow), both parents resolved in the root. */
  linkIn(root: number, rel: string, targetRel: string): void;
  /** mknodat on the last component, parent resolved in the root. */
  mknodIn(root: number, rel: string, mode: number, major: number, minor: number): void;
  /** unlinkat (or rmdir of an empty directory), parent resolved in the root. */
  unlinkIn(root: number, rel: string): void;
  /** Recursive removal (or emptying, with keepDir), parent resolved in the root. */
  rmtreeIn(root: number, rel: string, keepDir: boolean): void;
  /** fchownat(AT_SYMLINK_NOFOLLOW), parent resolved in the root. */
  chownIn(root: number, rel: string, uid: number, gid: number): void;
  /** fchmodat2(AT_SYMLINK_NOFOLLOW), parent resolved in the root. */
  chmodIn(root: number, rel: string, mode: number): void;
  /** utimensat(AT_SYMLINK_NOFOLLOW) with seconds as doubles, parent resolved in the root. */
  utimesIn(root: number, rel: string, atime: number, mtime: number): void;
  /** setxattrat(AT_SYMLINK_NOFOLLOW), parent resolved in the root. */
  setxattrIn(root: number, rel: string, name: string, value: Buffer): void;
  /** fchown (uid < 0: skipped), fchmod, fsetxattr of each pair, futimens, then close of a file just written. */
  finishFile(fd: number, uid: number, gid: number, mode: number, mtime: number, xattrs: Array<[string, Buffer]>): void;
  /** getxattr of the object itself (not followed), parent resolved in the root. */
  getxattrIn(root: number, rel: string, name: string): Buffer;
  /** listxattr of the object itself (not followed), parent resolved in the root. */
  listxattrIn(root: number, rel: string): string[];
  /** BTRFS_IOC_SUBVOL_CREATE: an empty subvolume `name` in the directory `parentDir`. */
  btrfsSubvolCreate(parentDir: string, name: string): void;
  /** BTRFS_IOC_SNAP_CREATE_V2: a snapshot `name` of the subvolume `src` in `destParentDir` (BTRFS_SUBVOL_RDONLY when readonly). */
  btrfsSnapshot(src: string, destParentDir: string, name: string, readonly: boolean): void;
  /** BTRFS_IOC_SNAP_DESTROY of the subvolume `name` in `parentDir`. */
  btrfsSubvolDelete(parentDir: string, name: string): void;
  /** BTRFS_IOC_SUBVOL_GETFLAGS/SETFLAGS: sets or clears a subvolume's BTRFS_SUBVOL_RDONLY. */
  btrfsSetReadonly(subvol: string, readonly: boolean): void;
  /** Whether `path` (not followed) is a subvolume root: a directory with inode 256 on btrfs. */
  btrfsIsSubvolume(path: string): boolean;
  /** posix_openpt + grantpt + unlockpt and the slave (both CLOEXEC, O_NOCTTY). */
  openPty(): { master: number; slave: number; path: string };
  /** TIOCSWINSZ. */
  setWinsize(fd: number, cols: number, rows: number): void;
  /** TIOCGWINSZ. */
  getWinsize(fd: number): { cols: number; rows: number };
  /** cfmakeraw via tcsetattr; returns the termios before. */
  makeRaw(fd: number): Buffer;
  /** tcsetattr with a termios makeRaw returned. */
  setTermios(fd: number, saved: Buffer): void;
  /** socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC). */
  socketPair(): [number, number];
  /** A blocking connection to a unix socket path (any length). */
  connectUnix(path: string): number;
  /** One message of `data` with `fd` as SCM_RIGHTS. */
  sendFd(sock: number, fd: number, data: string): void;
  /** One message with an fd, or null (nothing queued, or no fd in it). */
  recvFd(sock: number, block: boolean): { fd: number; data: string } | null;
  /** Clears (true) or sets (false) O_NONBLOCK. */
  setBlocking(fd: number, blocking: boolean): void;
  /** Runs rtnetlink operations on a worker thread: those marked `ns` through a socket opened inside the network namespace `nsFd`, the others in this process's; one result per op. */
  netlink(nsFd: number, ops: RawNetlinkOp[]): Promise<unknown[]>;
}

const require = createRequire(import.meta.url);
let loaded: BerthAddon | undefined;

/** Loads berth.node on first use, so importing berth needs no build until a native call is made. */
export function addon(): BerthAddon {
  if (loaded === undefined) {
    try {
      loaded = require(addonPath) as BerthAddon;
    } catch (cause) {
      const code = (cause as { code?: unknown }).code;
      throw new NativeError(`cannot load ${addonPath} (is the addon built? npm run build:addon): ${String(cause)}`, {
        code: typeof code === 'string' ? code : 'ERR_DLOPEN_FAILED',
        stage: 'dlopen',
        path: addonPath,
        cause,
      });
    }
  }
  return loaded;
}
