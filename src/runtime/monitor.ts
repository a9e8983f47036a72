/**
 * Containers that outlive the process that starts them: berth-monitor (addon/monitor/), one
 * small native process per container, launches the container through the init helper, is its
 * init's parent (so it reaps it and records the exit), holds its stdio or terminal, writes the
 * output to a json-file log, serves attach on a unix socket, restarts the container under its
 * policy and runs the `--rm` cleanup. This module starts it, reads its state file and speaks
 * its attach protocol.
 * @module
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { ContainerStateError } from '../errors.js';
import * as native from '../native/index.js';
import { AttachFrame, FrameDecoder, MonitorFrame, MonitorTag, RecordWriter, encodeFrame } from '../native/protocol.js';
import type { LaunchVia } from './launch.js';
import { signalNumber, type SignalLike } from './process.js';

/** When the monitor starts the container again after it exits (Docker's restart policies). */
export interface RestartPolicy {
  /** `no` (default), `on-failure` (a non-zero exit), `always`, `unless-stopped` (as `always`; a stop ends both). */
  name: 'no' | 'on-failure' | 'always' | 'unless-stopped';
  /** For `on-failure`: at most this many restarts (0 or absent: no limit). */
  maximumRetryCount?: number;
}

/** What the monitor of a container is told. */
export interface MonitorOptions {
  /** Directory for `monitor.json` and `attach.sock` (the engine's container directory). */
  dir: string;
  /** The json-file log the output is appended to. */
  logPath: string;
  /** Keep stdin open for attachers (`-i`); otherwise it is /dev/null. */
  openStdin?: boolean;
  /** The restart policy (default `no`). */
  restart?: RestartPolicy;
  /** A command (argv, absolute program path) the monitor execs in its own place after the container's last exit: how `--rm` removes it with no berth process alive. */
  cleanup?: string[];
  /**
   * A command (argv, absolute program path) the monitor runs on every restart, with the new
   * init's pid appended, after the init is set up and before it may start the program: it
   * must exit 0 within 30 seconds, or the restart counts as failed (the init is killed, the
   * error recorded, the policy's backoff applies). A restarted init has a new, empty network
   * namespace: this is how the engine reconnects it to the container's networks.
   */
  restartHook?: string[];
  /** On every restart, bring `lo` up in the new init's network namespace (a container on `none`, whose namespace needs nothing else). */
  loopback?: boolean;
}

/** The monitor's record of a container (`monitor.json`, written atomically at each change). */
export interface MonitorState {
  /** Pid of the monitor (it may have ended: check it with {@link monitorAlive}). */
  monitorPid: number;
  /** The monitor's start time (field 22 of /proc/PID/stat), so a reused pid is not taken for it. */
  monitorStartTime: string;
  /** `created` (waiting for start), `running`, `restarting` (waiting out the backoff) or `exited`. */
  status: 'created' | 'running' | 'restarting' | 'exited';
  /** Host pid of the container's current init; 0 when none. */
  pid: number;
  /** That init's start time (field 22 of /proc/PID/stat). */
  pidStartTime: string;
  /** When the current (or last) run started its program (RFC 3339, UTC); empty before. */
  startedAt: string;
  /** When the last run ended; empty before. */
  finishedAt: string;
  /** Exit code of the last run (128 + n for signal n). */
  exitCode: number;
  /** How many times the monitor restarted the container. */
  restartCount: number;
  /** Whether a stop (or removal) asked for no more restarts. */
  stoppedByUser: boolean;
  /** After the last exit: an attached session (see {@link MonitorAttachOptions.removes}) removes the container, the monitor only waits for it to hang up. */
  removalBySession?: boolean;
  /** Why the last launch failed, if it did. */
  error: string;
}

const POLICY_CODES: Record<RestartPolicy['name'], number> = { no: 0, 'on-failure': 1, always: 2, 'unless-stopped': 3 };

/** Attach stream flags of the HELLO frame. */
const WANT = { stdin: 1, stdout: 2, stderr: 4, removes: 8 } as const;

/** Path of a container's monitor state file. */
export function monitorStatePath(dir: string): string {
  return path.join(dir, 'monitor.json');
}

/** Reads `monitor.json` of `dir`, or undefined when there is none (never monitored) or it cannot be read. */
export function readMonitorState(dir: string): MonitorState | undefined {
  try {
    return JSON.parse(readFileSync(monitorStatePath(dir), 'utf8')) as MonitorState;
  } catch {
    return undefined;
  }
}

/** Whether the monitor of a state is still running (or the cleanup it became): its pid alive, not a zombie, with its start time. */
export function monitorAlive(state: MonitorState | undefined): boolean {
  if (!state || !state.monitorPid) return false;
  try {
    const stat = readFileSync(`/proc/${state.monitorPid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] !== 'Z' && fields[19] === state.monitorStartTime;
  } catch {
    return false;
  }
}

/**
 * How {@link launch} goes through a new monitor: the monitor gets the init payload and the
 * sealed helper's memfd, and relays the helper's frames. `onMonitorPid` receives its pid.
 */
export function monitorVia(options: MonitorOptions, payload: Buffer, ctx: { tty: boolean; startFifo: string }, onMonitorPid: (pid: number) => void): LaunchVia {
  const w = new RecordWriter()
    .str(MonitorTag.DIR, path.resolve(options.dir))
    .str(MonitorTag.LOG_PATH, path.resolve(options.logPath))
    .bytes(MonitorTag.INIT_CONFIG, payload)
    .bool(MonitorTag.TTY, ctx.tty)
    .bool(MonitorTag.OPEN_STDIN, options.openStdin ?? false)
    .str(MonitorTag.START_FIFO, ctx.startFifo);
  const restart = options.restart ?? { name: 'no' };
  const code = POLICY_CODES[restart.name];
  if (code === undefined) throw new ContainerStateError(`unknown restart policy ${JSON.stringify(restart.name)}`, { code: 'EINVAL', stage: 'create' });
  const restartRecord = Buffer.alloc(8);
  restartRecord.writeUInt32LE(code, 0);
  restartRecord.writeUInt32LE(restart.maximumRetryCount ?? 0, 4);
  w.bytes(MonitorTag.RESTART, restartRecord);
  for (const arg of options.cleanup ?? []) w.str(MonitorTag.CLEANUP_ARG, arg);
  for (const arg of options.restartHook ?? []) w.str(MonitorTag.RESTART_HOOK_ARG, arg);
  if (options.loopback) w.bool(MonitorTag.LOOPBACK, true);
  const config = w.finish();
  return {
    spawn: () => native.spawnMonitor(),
    send: (sock) => native.sendFrame(sock, MonitorFrame.CONFIG, config, [native.helperFd() ?? native.initHelper()]),
    reap: false,
    onFrame: (type, p) => {
      if (type === MonitorFrame.PID && p.length === 4) onMonitorPid(p.readInt32LE(0));
    },
  };
}

/** Options of {@link attachMonitor}. */
export interface MonitorAttachOptions {
  /** Forward stdin (the session's `stdin` stream). */
  stdin?: boolean;
  /** Receive stdout (or the terminal's output). */
  stdout?: boolean;
  /** Receive stderr. */
  stderr?: boolean;
  /**
   * This session removes the container after its last exit (`run --rm` in the foreground). The
   * monitor, given a cleanup command, then leaves the removal to it: it keeps the connection
   * open after the exit and runs its cleanup only if the container's directory is still there
   * once the session hangs up. Close the session when the removal is done.
   */
  removes?: boolean;
}

/** A connection to a container's monitor: its output streams, its stdin, resize and stop. */
export class MonitorSession {
  /** Writable into the container's stdin (or terminal) when attached with `stdin`; ending it closes the container's stdin (not a terminal's). */
  readonly stdin: Writable | null;
  /** The container's stdout (or terminal output). */
  readonly stdout: Readable;
  /** The container's stderr (empty with a terminal). */
  readonly stderr: Readable;
  /** Resolves with the exit code when the container's run ends, or null when the session ends first (closed, detached, monitor gone). */
  readonly exited: Promise<number | null>;
  private readonly socket: net.Socket;
  /** @internal Resolves true once the monitor confirmed the attach, false if the connection ended first. */
  readonly ready: Promise<boolean>;

  /** @internal Use {@link attachMonitor}. */
  constructor(socket: net.Socket, options: MonitorAttachOptions) {
    this.socket = socket;
    const out = new PassThrough();
    const err = new PassThrough();
    this.stdout = out;
    this.stderr = err;
    const decoder = new FrameDecoder();
    let resolveExit!: (code: number | null) => void;
    this.exited = new Promise((r) => { resolveExit = r; });
    let resolveReady!: (ok: boolean) => void;
    this.ready = new Promise((r) => { resolveReady = r; });
    socket.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        if (f.type === AttachFrame.HELLO) resolveReady(true);
        else if (f.type === AttachFrame.STDOUT) out.write(f.payload);
        else if (f.type === AttachFrame.STDERR) err.write(f.payload);
        else if (f.type === AttachFrame.EXIT && f.payload.length >= 4) {
          out.end(); // all output came before the exit
          err.end();
          resolveExit(f.payload.readInt32LE(0));
        }
      }
    });
    const ended = (): void => {
      resolveReady(false);
      out.end();
      err.end();
      resolveExit(null);
    };
    socket.on('close', ended);
    socket.on('error', () => socket.destroy());
    const send = (type: number, payload?: Buffer): void => {
      if (!socket.destroyed) socket.write(encodeFrame(type, payload));
    };
    this.send = send;
    this.stdin = options.stdin
      ? new Writable({
        write: (chunk: Buffer, _enc, cb) => { send(AttachFrame.STDIN, chunk); cb(); },
        final: (cb) => { send(AttachFrame.CLOSE_STDIN); cb(); },
      })
      : null;
  }

  private readonly send: (type: number, payload?: Buffer) => void;

  /** Sets the container's terminal size (no effect without a terminal). */
  resize(cols: number, rows: number): void {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(cols, 0);
    b.writeUInt32LE(rows, 4);
    this.send(AttachFrame.RESIZE, b);
  }

  /** Asks the monitor to stop the container: no restart after this run; `signal` now, SIGKILL after `timeoutMs`. Resolves with the exit code. */
  async stop(signal: SignalLike = 'SIGTERM', timeoutMs = 10_000): Promise<number | null> {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(signalNumber(signal), 0);
    b.writeUInt32LE(Math.max(0, Math.round(timeoutMs)), 4);
    this.send(AttachFrame.STOP, b);
    this.socket.ref();
    return this.exited;
  }

  /** Keeps Node alive while the session is open (the default), or not. */
  setRef(ref: boolean): void {
    if (ref) this.socket.ref();
    else this.socket.unref();
  }

  /** Ends the session (detach); the container goes on. */
  close(): void {
    this.socket.destroy();
  }
}

/** Connects to the monitor of the container whose directory is `dir`; ECONNREFUSED/ENOENT (as a ContainerStateError) when no monitor serves it. */
export async function attachMonitor(dir: string, options: MonitorAttachOptions = {}): Promise<MonitorSession> {
  let fd: number;
  try {
    fd = native.connectUnix(path.join(dir, 'attach.sock'));
  } catch (err) {
    throw new ContainerStateError(`no monitor serves ${dir} (${(err as { code?: string }).code ?? 'error'})`, {
      code: (err as { code?: string }).code ?? 'ECONNREFUSED', stage: 'attach', path: dir, cause: err,
    });
  }
  const socket = new net.Socket({ fd, readable: true, writable: true });
  const flags = (options.stdin ? WANT.stdin : 0) | (options.stdout ?? true ? WANT.stdout : 0) | (options.stderr ?? true ? WANT.stderr : 0) | (options.removes ? WANT.removes : 0);
  const hello = Buffer.alloc(4);
  hello.writeUInt32LE(flags, 0);
  socket.write(encodeFrame(AttachFrame.HELLO, hello));
  const session = new MonitorSession(socket, options);
  if (!(await session.ready)) {
    throw new ContainerStateError(`the monitor of ${dir} ended the attach`, { code: 'ECONNRESET', stage: 'attach', path: dir });
  }
  return session;
}
