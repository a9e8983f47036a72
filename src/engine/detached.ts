/**
 * Detached containers (`docker run -d`): what the engine adds on top of the runtime's
 * berth-monitor. A detached container is launched through a monitor that outlives the berth
 * process that started it; the monitor writes `<root>/containers/<id>/<id>-json.log` (Docker's
 * json-file lines), `monitor.json` (its state: exit code, times, restarts) and serves attach on
 * `attach.sock` there. Any later process reads the log (follow goes through the file, so
 * nothing is lost whichever berth process comes and goes), attaches, stops and removes it.
 *
 * `--rm` of a detached container: the monitor is given a cleanup command (node running
 * `dist/engine/detached-cleanup.js ROOT ID`) that it execs in its own place after the last
 * exit, so the container is removed with no other berth process alive. Should that fail (the
 * monitor killed, node missing), the next {@link Engine.open} removes it. A process attached in
 * the foreground (`berth run --rm`) removes it itself instead, which saves starting Node again:
 * the monitor then only waits for that session to end and cleans up if it ended first.
 *
 * Restarts: the monitor re-launches berth-init, which makes a new, empty network namespace,
 * while the first run was connected to its networks by the berth process that created it. So
 * a container with a restart policy on a network of its own (anything but `none` and `host`)
 * gets a restart hook, node running `dist/engine/detached-restart.js ROOT ID PID`, which the
 * monitor runs before it lets the new init start the program; it reconnects the container's
 * endpoints (same address and host ports) to the new namespace. On `none` the monitor only
 * brings `lo` up itself, so those restarts cost no node process.
 * @module
 */
import { createReadStream, existsSync, statSync, watch } from 'node:fs';
import path from 'node:path';
import { ContainerStateError } from '../errors.js';
import * as native from '../native/index.js';
import { attachMonitor, monitorAlive, readMonitorState, type MonitorAttachOptions, type MonitorOptions, type MonitorSession, type MonitorState, type RestartPolicy } from '../runtime/monitor.js';
import type { ExitResult } from '../runtime/process.js';
import { EngineError } from './errors.js';
import { packagePath } from '../util/package-dir.js';

/** `node dist/engine/detached-cleanup.js` (resolved from src/ and dist/ alike). */
const CLEANUP_SCRIPT = packagePath('dist/engine/detached-cleanup.js');

/** `node dist/engine/detached-restart.js` (resolved from src/ and dist/ alike). */
const RESTART_SCRIPT = packagePath('dist/engine/detached-restart.js');

/** One line of a container's json-file log. */
export interface LogEntry {
  /** Which stream the line came from (a terminal's output is `stdout`). */
  stream: 'stdout' | 'stderr';
  /** The text, with its newline (the last line of a run may lack one). */
  log: string;
  /** When the monitor read it (RFC 3339 with nanoseconds, UTC). */
  time: string;
}

/** Options of {@link EngineContainer.logs} (`docker logs`). */
export interface LogsOptions {
  /** Keep reading as the container writes, until it exits for good (`-f`). */
  follow?: boolean;
  /** Only the last N lines (`--tail`; default all). */
  tail?: number;
  /** Only lines at or after this time (`--since`: a Date, RFC 3339 text, or Unix seconds). */
  since?: Date | string | number;
  /** Only lines before this time (`--until`). */
  until?: Date | string | number;
  /** Which streams (default both). */
  stdout?: boolean;
  /** Which streams (default both). */
  stderr?: boolean;
  /** Stops a follow. */
  signal?: AbortSignal;
}

/** The run settings a detached container was created with (recorded in its options). */
export interface DetachSettings {
  /** Launched through a monitor. */
  detach?: boolean;
  /** A terminal for the main process. */
  tty?: boolean;
  /** stdin kept open for attachers. */
  interactive?: boolean;
  /** The restart policy. */
  restart?: string | RestartPolicy;
  /** Removed after its exit. */
  autoRemove?: boolean;
}

/** The state of a container as `docker ps` shows it, from the monitor's record. */
export interface DetachedState {
  /** `created`, `running`, `restarting`, `exited`. */
  status: MonitorState['status'];
  /** Exit code of the last run. */
  exitCode: number;
  /** When the last run started its program (RFC 3339); empty before. */
  startedAt: string;
  /** When the last run ended; empty before. */
  finishedAt: string;
  /** Restarts so far. */
  restartCount: number;
  /** Whether a monitor still looks after it. */
  monitored: boolean;
  /** Its monitor left the `--rm` removal to an attached session and only waits for that session to end. */
  removalBySession: boolean;
  /** Why the last launch failed, if it did. */
  error: string;
}

/** `<id>-json.log` in the container's directory. */
export function logPath(dir: string, id: string): string {
  return path.join(dir, `${id}-json.log`);
}

/** Parses Docker's `--restart` value: `no`, `on-failure[:N]`, `always`, `unless-stopped`. */
export function parseRestartPolicy(value: string | RestartPolicy | undefined): RestartPolicy {
  if (value === undefined) return { name: 'no' };
  if (typeof value !== 'string') return value;
  const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(value);
  if (m === null || (m[2] !== undefined && m[1] !== 'on-failure')) {
    throw new EngineError(`invalid restart policy ${JSON.stringify(value)}: use no, on-failure[:max-retries], always or unless-stopped`, 'EINVAL', 'restart');
  }
  return { name: m[1] as RestartPolicy['name'], ...(m[2] === undefined ? {} : { maximumRetryCount: Number(m[2]) }) };
}

/** Checks the detach settings of a new container (Docker's conflicts). */
export function checkDetachSettings(o: DetachSettings): void {
  const policy = parseRestartPolicy(o.restart);
  if (policy.name !== 'no' && o.autoRemove) throw new EngineError('conflicting options: cannot combine a restart policy with autoRemove (--rm)', 'EINVAL', 'restart');
  if (policy.name !== 'no' && !o.detach) throw new EngineError('a restart policy needs a detached container (detach: true): only a monitor can restart it', 'EINVAL', 'restart');
}

/**
 * What the monitor of a detached container is told. With a restart policy: on `none` it brings
 * `lo` up in each restarted init's namespace itself; on `host` nothing is needed; on any other
 * network (bridge, user-defined) it runs the restart hook, which reconnects the new namespace
 * to every network the container has an endpoint on at that time.
 */
export function monitorOptions(root: string, dir: string, id: string, o: DetachSettings & { network?: string }): MonitorOptions {
  const restart = parseRestartPolicy(o.restart);
  const network = o.network ?? 'bridge';
  const restarts = restart.name !== 'no';
  return {
    dir,
    logPath: logPath(dir, id),
    openStdin: o.interactive ?? false,
    restart,
    ...(o.autoRemove ? { cleanup: [process.execPath, CLEANUP_SCRIPT, root, id] } : {}),
    ...(restarts && network === 'none' ? { loopback: true } : {}),
    ...(restarts && network !== 'none' && network !== 'host' ? { restartHook: [process.execPath, RESTART_SCRIPT, root, id] } : {}),
  };
}

/** The monitor's view of a container, or undefined when it never had one. */
export function detachedState(dir: string): DetachedState | undefined {
  const s = readMonitorState(dir);
  if (s === undefined) return undefined;
  const monitored = monitorAlive(s);
  // A monitor killed mid-run leaves "running": its container's init went with... nothing; the
  // runtime's pid check decides. Here: without a monitor, nothing restarts it.
  const status = !monitored && (s.status === 'restarting' || s.status === 'created') ? 'exited' : s.status;
  return { status, exitCode: s.exitCode, startedAt: s.startedAt, finishedAt: s.finishedAt, restartCount: s.restartCount, monitored, removalBySession: s.removalBySession === true, error: s.error };
}

/** The init the monitor runs now, to load the runtime container with (its pid changes on each restart). */
export function monitoredInit(dir: string): { pid: number; pidStartTime: string } | undefined {
  const s = readMonitorState(dir);
  if (s === undefined || s.pid <= 0 || (s.status !== 'running' && s.status !== 'created')) return undefined;
  return { pid: s.pid, pidStartTime: s.pidStartTime };
}

/** Waits until the process `pid` with start time `startTime` is gone (pidfd poll on the event loop). */
async function waitPidGone(pid: number, alive: () => boolean): Promise<void> {
  let pidfd: number;
  try {
    pidfd = native.pidfdOpen(pid);
  } catch {
    return;
  }
  try {
    if (!alive()) return;
    const w = native.watchProcessExit(pidfd, false);
    w.ref();
    try {
      await w.promise;
    } finally {
      w.close();
    }
  } finally {
    native.closeFd(pidfd);
  }
}

/** Waits for the monitor of `dir` (and a cleanup it became) to end. */
export async function waitMonitorGone(dir: string): Promise<void> {
  const s = readMonitorState(dir);
  if (s === undefined || s.monitorPid === process.pid) return;
  await waitPidGone(s.monitorPid, () => monitorAlive(s));
}

/**
 * Stops a detached container through its monitor (no restart afterwards): `signal` now,
 * SIGKILL after `timeoutSeconds` (negative: never). Returns false when no monitor runs it.
 */
export async function stopThroughMonitor(dir: string, signal: string, timeoutSeconds: number): Promise<boolean> {
  const s = readMonitorState(dir);
  if (!monitorAlive(s) || s!.monitorPid === process.pid) return false;
  let session: MonitorSession;
  try {
    session = await attachMonitor(dir, { stdout: false, stderr: false });
  } catch {
    return false;
  }
  try {
    await session.stop(signal, timeoutSeconds < 0 ? 0xffff_ffff : timeoutSeconds * 1000);
  } finally {
    session.close();
  }
  return true;
}

/** Waits for a detached container's current run to end and returns how it ended, from the monitor. */
export async function waitDetached(dir: string): Promise<ExitResult> {
  const s = readMonitorState(dir);
  if (monitorAlive(s) && (s!.status === 'running' || s!.status === 'created')) {
    try {
      const session = await attachMonitor(dir, { stdout: false, stderr: false });
      await session.exited;
      session.close();
    } catch {
      // the monitor ended meanwhile: its record says how
    }
    const pid = s!.pid;
    if (pid > 0) await waitPidGone(pid, () => true);
  }
  const after = readMonitorState(dir) ?? s;
  const code = after?.exitCode ?? null;
  return { exitCode: code, signal: code !== null && code > 128 ? native.signalName(code - 128) : null, oomKilled: false };
}

function toMillis(t: Date | string | number): number {
  if (t instanceof Date) return t.getTime();
  if (typeof t === 'number') return t * 1000;
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const ms = Date.parse(t);
  if (Number.isNaN(ms)) throw new EngineError(`invalid time ${JSON.stringify(t)}: RFC 3339 or Unix seconds`, 'EINVAL', 'since');
  return ms;
}

/** Milliseconds of an RFC 3339 time (Date.parse drops what is below a millisecond). */
function entryMillis(time: string): number {
  return Date.parse(time);
}

/**
 * Reads a json-file log: the last `tail` lines, then (with `follow`) what is appended until
 * `done()` says no more will come and the file is read to its end. Bad lines (a write cut by
 * a crash) are skipped.
 */
export async function* readLog(file: string, options: LogsOptions, done: () => boolean): AsyncGenerator<LogEntry> {
  const since = options.since === undefined ? -Infinity : toMillis(options.since);
  const until = options.until === undefined ? Infinity : toMillis(options.until);
  const want = (e: LogEntry): boolean => {
    if (e.stream === 'stdout' ? options.stdout === false : options.stderr === false) return false;
    const t = entryMillis(e.time);
    return t >= since && t < until;
  };
  const parse = (line: string): LogEntry | undefined => {
    try {
      const e = JSON.parse(line) as LogEntry;
      return typeof e.log === 'string' && (e.stream === 'stdout' || e.stream === 'stderr') ? e : undefined;
    } catch {
      return undefined;
    }
  };
  let offset = 0;
  let rest = '';
  const readMore = async (): Promise<LogEntry[]> => {
    if (!existsSync(file)) return [];
    const size = statSync(file).size;
    if (size <= offset) return [];
    const chunks: Buffer[] = [];
    for await (const c of createReadStream(file, { start: offset, end: size - 1 })) chunks.push(c as Buffer);
    offset = size;
    const text = rest + Buffer.concat(chunks).toString('utf8');
    const lines = text.split('\n');
    rest = lines.pop() ?? '';
    return lines.map(parse).filter((e): e is LogEntry => e !== undefined && want(e));
  };
  let first = await readMore();
  if (options.tail !== undefined && options.tail >= 0) first = options.tail === 0 ? [] : first.slice(-options.tail);
  yield* first;
  if (!options.follow) return;
  const dir = path.dirname(file);
  let wake: (() => void) | null = null;
  const watcher = watch(dir, () => wake?.());
  watcher.on('error', () => undefined);
  try {
    for (;;) {
      if (options.signal?.aborted) return;
      const finished = done(); // asked before the read, so the read sees all a finished writer wrote
      yield* await readMore();
      if (finished) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 250);
        wake = () => { clearTimeout(timer); resolve(); };
        options.signal?.addEventListener('abort', () => wake?.(), { once: true });
      });
      wake = null;
    }
  } finally {
    watcher.close();
  }
}

/** Docker's `logs` output of an entry: the text, after its time with `timestamps`. */
export function formatLogEntry(e: LogEntry, options: { timestamps?: boolean } = {}): string {
  return options.timestamps ? `${e.time} ${e.log}` : e.log;
}

/** Attaches to a detached container's monitor (`docker attach`); ENOTCONN when nothing runs it now. */
export async function attachDetached(dir: string, name: string, options: MonitorAttachOptions): Promise<MonitorSession> {
  const notRunning = (cause?: unknown): ContainerStateError =>
    new ContainerStateError(`cannot attach to container ${name}: it is not running`, { code: 'ENOTCONN', stage: 'attach', cause });
  // The monitor writes its first state just after it relays READY, so a container created a
  // moment ago may have none yet: then its attach socket (bound before the launch) decides.
  const s = readMonitorState(dir);
  if (s !== undefined && (!monitorAlive(s) || s.status === 'exited')) throw notRunning();
  try {
    return await attachMonitor(dir, options);
  } catch (err) {
    throw notRunning(err);
  }
}
