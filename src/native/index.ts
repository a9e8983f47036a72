/**
 * Typed access to the native addon: the sealed init helper, pidfds and exit watching, framed
 * sends with fd passing, fifos, locks, namespace fds, safe in-root file calls and btrfs
 * subvolumes. Every failure is a {@link NativeError} whose `code` is the errno name, `errno`
 * the number, `stage` the system call and `path` the file at fault, when there is one.
 * @module
 */
import os from 'node:os';
import { NativeError } from '../errors.js';
export * from './terminal.js';
export * from './monitor.js';
import { addon, helperPath, type RawExitStatus, type RawNetlinkOp } from './addon.js';

export { addonPath, buildDir, dockerInitPath, helperPath } from './addon.js';

/** How a process ended: an exit code, or the signal that killed it (both null when unknown). */
export interface ExitStatus {
  /** Exit code when the process exited normally. */
  exitCode: number | null;
  /** Name of the signal that killed it. */
  signal: NodeJS.Signals | null;
}

/** An {@link ExitStatus} from {@link watchExit}, saying whether the watch reaped the process. */
export interface WatchedExit extends ExitStatus {
  /** True when this watch reaped the process; false when it only saw it end (not our child). */
  reaped: boolean;
}

/** A running init helper: its pid, a pidfd for it and our end of its socket. */
export interface HelperProcess {
  /** Host pid of the helper. */
  pid: number;
  /** pidfd of the helper (CLOEXEC); the caller closes it after the exit watch has fired. */
  pidfd: number;
  /** Our socket end (CLOEXEC, blocking); write the config with {@link sendFrame}, then read with `new net.Socket({ fd: sock, readable: true })`, which takes ownership. */
  sock: number;
}

/** A pending exit watch from {@link watchExit}; it starts unref'ed. */
export interface ExitWatchHandle {
  /** Keeps the event loop alive until the process exits. */
  ref(): void;
  /** Lets the event loop end while the watch is pending. */
  unref(): void;
  /** Whether the watch keeps the event loop alive. */
  hasRef(): boolean;
  /** Stops watching without calling back (then the pidfd may be closed); idempotent. */
  close(): void;
}

/** A promise for a process's exit plus control of whether waiting for it keeps Node alive. */
export interface ProcessExitWatch {
  /** Settles when the process exits (rejects only if the kernel reports an error); never settles after close(). */
  promise: Promise<ExitStatus>;
  /** Keeps the event loop alive until the process exits (call while someone awaits). */
  ref(): void;
  /** Lets the event loop end while the watch is pending (the initial state). */
  unref(): void;
  /** Stops watching; the promise then never settles. Call before closing the pidfd of a live process. */
  close(): void;
}

/** Converts an error thrown by berth.node (it carries `code` and `syscall`) into a NativeError. */
function toNativeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const e = err as Error & { code?: unknown; errno?: unknown; syscall?: unknown; path?: unknown };
  if (typeof e.code !== 'string' || typeof e.syscall !== 'string') return err;
  return new NativeError(e.message, {
    code: e.code,
    errno: typeof e.errno === 'number' ? e.errno : undefined,
    stage: e.syscall,
    path: typeof e.path === 'string' ? e.path : undefined,
  });
}

/** Runs a native call, rethrowing its errors as NativeError. */
function native<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    throw toNativeError(err);
  }
}

const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(os.constants.signals).map(([name, num]) => [num, name as NodeJS.Signals]),
);

/** Maps a signal number to its name (`9` → `SIGKILL`; real-time signals as `SIGRTMIN+n`). */
export function signalName(signo: number): NodeJS.Signals {
  const name = signalNames.get(signo);
  if (name !== undefined) return name;
  return (signo >= 34 ? `SIGRTMIN+${signo - 34}` : `SIG${signo}`) as NodeJS.Signals;
}

/** Maps a signal name or number to its number (throws EINVAL for an unknown name). */
function signalNumber(signal: NodeJS.Signals | number): number {
  if (typeof signal === 'number') return signal;
  const num = (os.constants.signals as Record<string, number | undefined>)[signal];
  if (num === undefined) throw new NativeError(`EINVAL: unknown signal ${signal}`, { code: 'EINVAL', stage: 'pidfd_send_signal', errno: os.constants.errno.EINVAL });
  return num;
}

/** Converts the addon's exit status (signal number) into a {@link WatchedExit}. */
function toWatchedExit(raw: RawExitStatus): WatchedExit {
  return { exitCode: raw.exitCode, signal: raw.signal === null ? null : signalName(raw.signal), reaped: raw.reaped };
}

/** Copies the helper executable into a sealed memfd, once per process (again with the same path: no-op; another path: EALREADY); returns the memfd. */
export function initHelper(path: string = helperPath): number {
  return native(() => addon().initHelper(path));
}

/** The sealed memfd holding the helper, or null before {@link initHelper}. */
export function helperFd(): number | null {
  const fd = native(() => addon().helperFd());
  return fd < 0 ? null : fd;
}

/** Starts the init helper from its sealed memfd (initialising it from {@link helperPath} if needed). */
export function spawnHelper(): HelperProcess {
  if (helperFd() === null) initHelper();
  return native(() => addon().spawnHelper());
}

/** Writes one protocol frame `{ u32 type; u32 length } + payload` with `fds` passed as SCM_RIGHTS; blocks until all of it is queued. */
export function sendFrame(sock: number, type: number, payload: Uint8Array, fds: readonly number[] = []): void {
  const buf = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  native(() => addon().sendFrame(sock, type, buf, [...fds]));
}

/** Opens a pidfd for `pid` (CLOEXEC); ESRCH when there is no such process. */
export function pidfdOpen(pid: number): number {
  return native(() => addon().pidfdOpen(pid));
}

/** Sends a signal through a pidfd (no pid-reuse race); ESRCH once the process has exited. */
export function pidfdSendSignal(pidfd: number, signal: NodeJS.Signals | number): void {
  const signo = signalNumber(signal);
  native(() => addon().pidfdSendSignal(pidfd, signo));
}

/** Closes a file descriptor. */
export function closeFd(fd: number): void {
  native(() => addon().closeFd(fd));
}

/** Creates a pipe: `[readEnd, writeEnd]`, both blocking and CLOEXEC. */
export function pipe(): [number, number] {
  return native(() => addon().pipe());
}

/** Watches a pidfd on the event loop (no thread, no waitpid(-1)) and calls back once when the process exits; reaps it when `reap` (it must be our child). */
export function watchExit(pidfd: number, reap: boolean, callback: (err: NativeError | null, status?: WatchedExit) => void): ExitWatchHandle {
  return native(() =>
    addon().watchExit(pidfd, reap, (err, raw) => {
      if (err !== null) callback(toNativeError(err) as NativeError);
      else callback(null, toWatchedExit(raw as RawExitStatus));
    }),
  );
}

/** Watches a pidfd for exit as a promise; starts unref'ed, so `ref()` while someone awaits it. The pidfd stays the caller's. */
export function watchProcessExit(pidfd: number, reap: boolean): ProcessExitWatch {
  let resolve!: (status: ExitStatus) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<ExitStatus>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // a watch nobody awaits must not become an unhandled rejection
  const handle = watchExit(pidfd, reap, (err, status) => {
    if (err !== null) reject(err);
    else resolve({ exitCode: status!.exitCode, signal: status!.signal });
  });
  return { promise, ref: () => handle.ref(), unref: () => handle.unref(), close: () => handle.close() };
}

/** Creates a fifo at `path` (EEXIST if something is there). */
export function mkfifo(path: string, mode = 0o600): void {
  native(() => addon().mkfifo(path, mode));
}

/** Takes a flock on `fd` (shared or exclusive); blocks the thread unless `nonblocking`, which throws EAGAIN when the lock is held elsewhere. Released by closing the fd. */
export function flock(fd: number, exclusive: boolean, nonblocking: boolean): void {
  native(() => addon().flock(fd, exclusive, nonblocking));
}

/** The kind of namespace an fd (e.g. of /proc/PID/ns/net) refers to, as its CLONE_NEW* flag; ENOTTY when it is not a namespace. */
export function nsType(fd: number): number {
  return native(() => addon().nsType(fd));
}

/** Loads a cgroup device eBPF program (encoded instructions) and attaches it to the cgroup v2 directory `dir`, replacing the program berth attached before; the verifier's log rides on a load error's message. */
export function attachDeviceFilter(dir: string, insns: Uint8Array, license = 'Apache'): void {
  const buf = Buffer.isBuffer(insns) ? insns : Buffer.from(insns.buffer, insns.byteOffset, insns.byteLength);
  native(() => addon().attachDeviceFilter(dir, buf, license));
}

/** How many device eBPF programs are attached to the cgroup v2 directory `dir`. */
export function queryDeviceFilters(dir: string): number {
  return native(() => addon().queryDeviceFilters(dir));
}

/** Creates an eventfd (CLOEXEC, non-blocking) with counter `initval`; read it with fs.readSync (8 bytes) once readable. */
export function eventfd(initval = 0): number {
  return native(() => addon().eventfd(initval));
}

/** Calls back once when `fd` polls readable (the same libuv poll as {@link watchExit}, without reaping); starts unref'ed. */
export function watchReadable(fd: number, callback: (err: NativeError | null) => void): ExitWatchHandle {
  return native(() => addon().watchExit(fd, false, (err) => callback(err === null ? null : (toNativeError(err) as NativeError))));
}

/** Opens a directory as a root for the `*In` calls (O_PATH, CLOEXEC); close it with {@link closeFd}. */
export function openRoot(path: string): number {
  return native(() => addon().openRoot(path));
}

/** Opens `rel` resolved inside `root` with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): `..`, absolute paths and symlinks cannot leave it. */
export function openIn(root: number, rel: string, flags: number, mode = 0o644): number {
  return native(() => addon().openIn(root, rel, flags, mode));
}

/** mkdir of `rel` inside `root` (its parent resolved in the root). */
export function mkdirIn(root: number, rel: string, mode = 0o755): void {
  native(() => addon().mkdirIn(root, rel, mode));
}

/** Creates the symlink `rel` → `target` inside `root`; the target is stored as written. */
export function symlinkIn(root: number, rel: string, target: string): void {
  native(() => addon().symlinkIn(root, rel, target));
}

/** Hard-links `rel` to `targetRel`, both resolved inside `root`; a symlink target is linked itself, never followed. */
export function linkIn(root: number, rel: string, targetRel: string): void {
  native(() => addon().linkIn(root, rel, targetRel));
}

/** mknod of `rel` inside `root`; `mode` carries the file type bits (S_IFCHR, S_IFBLK, S_IFIFO). */
export function mknodIn(root: number, rel: string, mode: number, major = 0, minor = 0): void {
  native(() => addon().mknodIn(root, rel, mode, major, minor));
}

/** Removes the non-directory or empty directory `rel` inside `root` (a symlink itself, never its target). */
export function unlinkIn(root: number, rel: string): void {
  native(() => addon().unlinkIn(root, rel));
}

/** Removes `rel` inside `root` and all below it (ENOENT when absent); with `keepDir` a directory is emptied and kept. */
export function rmtreeIn(root: number, rel: string, keepDir = false): void {
  native(() => addon().rmtreeIn(root, rel, keepDir));
}

/** lchown of `rel` inside `root`. */
export function chownIn(root: number, rel: string, uid: number, gid: number): void {
  native(() => addon().chownIn(root, rel, uid, gid));
}

/** chmod of `rel` inside `root`, never through a symlink (a symlink's own mode is left alone). */
export function chmodIn(root: number, rel: string, mode: number): void {
  native(() => addon().chmodIn(root, rel, mode));
}

/** Sets access and modification times (seconds) of `rel` inside `root`, not following a symlink. */
export function utimesIn(root: number, rel: string, atime: number, mtime: number): void {
  native(() => addon().utimesIn(root, rel, atime, mtime));
}

/** Sets the extended attribute `name` of `rel` inside `root` (not following a symlink). */
export function setxattrIn(root: number, rel: string, name: string, value: Uint8Array): void {
  const buf = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  native(() => addon().setxattrIn(root, rel, name, buf));
}

/**
 * Sets the metadata of a file just written through `fd` and closes it (always): owner (`uid`
 * < 0 leaves it; chown clears setuid bits and capabilities, so it goes first), mode, extended
 * attributes (values kept as given), then atime and mtime (seconds).
 */
export function finishFile(fd: number, uid: number, gid: number, mode: number, mtime: number, xattrs: Array<[string, Buffer]> = []): void {
  native(() => addon().finishFile(fd, uid, gid, mode, mtime, xattrs));
}

/** Reads the extended attribute `name` of `rel` inside `root` (not following a symlink). */
export function getxattrIn(root: number, rel: string, name: string): Buffer {
  return native(() => addon().getxattrIn(root, rel, name));
}

/** The names of the extended attributes of `rel` inside `root` (not following a symlink). */
export function listxattrIn(root: number, rel: string): string[] {
  return native(() => addon().listxattrIn(root, rel));
}

/** Creates an empty btrfs subvolume `name` in the directory `parentDir` (EEXIST if taken, ENOTTY off btrfs). */
export function btrfsSubvolCreate(parentDir: string, name: string): void {
  native(() => addon().btrfsSubvolCreate(parentDir, name));
}

/** Snapshots the subvolume `src` as `name` in the directory `destParentDir`, read-only when `readonly` (a writable snapshot of a read-only subvolume is fine). */
export function btrfsSnapshot(src: string, destParentDir: string, name: string, readonly = false): void {
  native(() => addon().btrfsSnapshot(src, destParentDir, name, readonly));
}

/** Deletes the subvolume `name` in the directory `parentDir` with its content (ENOTEMPTY when it holds nested subvolumes). */
export function btrfsSubvolDelete(parentDir: string, name: string): void {
  native(() => addon().btrfsSubvolDelete(parentDir, name));
}

/** Marks the subvolume at `subvol` read-only (writes then fail with EROFS) or writable again. */
export function btrfsSetReadonly(subvol: string, readonly: boolean): void {
  native(() => addon().btrfsSetReadonly(subvol, readonly));
}

/** Whether `path` (not followed) is the root of a btrfs subvolume; ENOENT when absent. */
export function btrfsIsSubvolume(path: string): boolean {
  return native(() => addon().btrfsIsSubvolume(path));
}

/** One rtnetlink operation for {@link netlink}; `ns: true` runs it in the target namespace. */
export type NetlinkOp =
  | { op: 'bridgeAdd'; ns?: boolean; name: string; mtu?: number }
  | { op: 'vethAdd'; ns?: boolean; name: string; peer: string; peerNetns?: number; peerMac?: string; mtu?: number; master?: string }
  | { op: 'linkSet'; ns?: boolean; name: string; up?: boolean; mtu?: number; master?: string; netns?: number; rename?: string }
  | { op: 'linkDel'; ns?: boolean; name: string; missingOk?: boolean }
  | { op: 'hairpin'; ns?: boolean; name: string; on: boolean }
  | { op: 'addrAdd'; ns?: boolean; name: string; address: string; prefix: number }
  | { op: 'routeAdd'; ns?: boolean; dst?: string; prefix?: number; gateway?: string; name?: string }
  | { op: 'links'; ns?: boolean }
  | { op: 'addrs'; ns?: boolean }
  | { op: 'routes'; ns?: boolean };

/** A link as a `links` dump reports it. */
export interface NetlinkLink {
  /** Interface index. */
  index: number;
  /** Name. */
  name: string;
  /** `IFLA_INFO_KIND` (`bridge`, `veth`, ...; empty for a plain device). */
  kind: string;
  /** MTU. */
  mtu: number;
  /** Index of its master (bridge), 0 when none. */
  master: number;
  /** IFF_UP. */
  up: boolean;
}

/** An IPv4 address as an `addrs` dump reports it. */
export interface NetlinkAddr {
  /** Interface index. */
  index: number;
  /** Dotted quad. */
  address: string;
  /** Prefix length. */
  prefix: number;
}

/** An IPv4 route as a `routes` dump reports it (all tables). */
export interface NetlinkRoute {
  /** Destination network. */
  dst: string;
  /** Destination prefix length (0: default route). */
  prefix: number;
  /** Gateway, empty when none. */
  gateway: string;
  /** Output interface index. */
  oif: number;
  /** Routing table (254 main, 255 local). */
  table: number;
  /** Route type (1 unicast, 2 local, 3 broadcast, ...). */
  type: number;
  /** Scope. */
  scope: number;
}

/**
 * Runs rtnetlink operations in order on a libuv worker thread, never on the JS thread. Ops
 * with `ns: true` go through a NETLINK_ROUTE socket opened inside the network namespace `nsFd`
 * (the worker setns()es there to open it and straight back); the others through one in this
 * process's namespace. Resolves to one result per op: the ifindex for link ops, rows for
 * dumps. A failure rejects with a NativeError: errno name, the message type as `stage`, the
 * link at fault as `path`; the ops before it stay done.
 */
export async function netlink(nsFd: number, ops: readonly NetlinkOp[]): Promise<unknown[]> {
  try {
    return await native(() => addon().netlink(nsFd, ops as RawNetlinkOp[]));
  } catch (err) {
    throw toNativeError(err);
  }
}
