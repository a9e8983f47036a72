/**
 * One conversation with the init helper: start it sealed, hand it the config and the stdio
 * fds, and follow its reports until the container process is set up (or failed, with the
 * stage, errno and path turned into a typed error).
 * @module
 */
import net from 'node:net';
import util from 'node:util';
import { ContainerSetupError } from '../errors.js';
import * as native from '../native/index.js';
import { FrameDecoder, FrameType, decodeErrorFrame, decodePidFrame, stageName } from '../native/protocol.js';
import type { ExitStatus, ProcessExitWatch } from '../native/index.js';

/** What the helper reported about a failure. */
export interface HelperFailure {
  /** The stage name (`mount`, `executable`, ...). */
  stage: string;
  /** The errno the failing call returned. */
  errno: number;
  /** The path or name at fault. */
  detail: string;
}

/** Context used to word errors: which rootfs the paths are in. */
export interface LaunchContext {
  /** Container id, for messages. */
  id: string;
  /** Host path of the rootfs, or undefined for an exec. */
  rootfs?: string;
}

/** A container process the helper has set up and that is now the caller's child. */
export interface Launched {
  /** Host pid. */
  pid: number;
  /** A pidfd for it. */
  pidfd: number;
  /** Resolves when the process exits (the watch reaps it). */
  exit: ProcessExitWatch;
  /** Settles once the process has called execve (rejects with why it could not). Does not keep Node alive. */
  execOutcome: Promise<void>;
  /** The same, keeping Node alive until it settles. */
  waitExec(): Promise<void>;
  /** Closes the report channel without waiting for execve. */
  detach(): void;
}

/**
 * Another way to start the process that reads the config: berth-monitor, which launches the
 * helper itself, relays its frames, and is the container process's parent.
 */
export interface LaunchVia {
  /** Starts it (default: the sealed init helper). */
  spawn(): native.HelperProcess;
  /** Sends what it reads first (default: FRAME_CONFIG with the fds). */
  send(sock: number): void;
  /** False when the container process is not our child (a monitor's): it is then watched, not reaped. */
  reap: boolean;
  /** Frames of types other than PID, READY and ERROR. */
  onFrame?(type: number, payload: Buffer): void;
}

let helperReady = false;

/** Loads the sealed helper once per process. */
function ensureHelper(): void {
  if (!helperReady) {
    native.initHelper(native.helperPath);
    helperReady = true;
  }
}

/** Maps an errno number to its name (`ENOENT`). */
export function errnoName(errno: number): string {
  try {
    return util.getSystemErrorName(-Math.abs(errno));
  } catch {
    return `E${errno}`;
  }
}

function errnoMessage(errno: number): string {
  return util.getSystemErrorMap().get(-Math.abs(errno))?.[1] ?? `errno ${errno}`;
}

/** Turns a helper failure report into the typed error a user sees. */
export function setupError(f: HelperFailure, ctx: LaunchContext): ContainerSetupError {
  const code = errnoName(f.errno);
  const where = ctx.rootfs ? ` in rootfs ${ctx.rootfs}` : ` in container ${ctx.id}`;
  let message: string;
  switch (f.stage) {
    case 'executable':
      message = code === 'ENOENT'
        ? `executable ${f.detail} not found${where}`
        : `${f.detail}${where} is not an executable file (${errnoMessage(f.errno)})`;
      break;
    case 'cwd':
      message = code === 'ENOTDIR' ? `cwd ${f.detail} is not a directory${where}` : `cannot enter cwd ${f.detail}${where}: ${errnoMessage(f.errno)}`;
      break;
    case 'join_namespace':
      message = code === 'ENOENT'
        ? `namespace path ${f.detail} does not exist`
        : code === 'EINVAL'
          ? `namespace path ${f.detail} is not a namespace of the kind it is joined as`
          : `cannot join namespace ${f.detail}: ${errnoMessage(f.errno)}`;
      break;
    case 'mount':
      message = `mount on ${f.detail}${where} failed: ${errnoMessage(f.errno)}`;
      break;
    case 'user':
      message = `${f.detail} failed: ${errnoMessage(f.errno)}`;
      break;
    default:
      message = `${f.stage.replace(/_/g, ' ')} failed${f.detail ? ` for ${f.detail}` : ''}: ${errnoMessage(f.errno)}`;
  }
  return new ContainerSetupError(`${code}: ${message}`, { code, stage: f.stage, path: f.detail, errno: f.errno });
}

/** Reads frames from the helper socket as an async sequence; `null` marks end of stream. */
class FrameChannel {
  private readonly socket: net.Socket;
  private readonly decoder = new FrameDecoder();
  private readonly queue: Array<{ type: number; payload: Buffer } | null> = [];
  private waiter: (() => void) | null = null;
  private ended = false;
  private holds = 0;

  constructor(fd: number) {
    this.socket = new net.Socket({ fd, readable: true, writable: false });
    this.socket.unref();
    this.socket.on('data', (chunk: Buffer) => {
      for (const frame of this.decoder.push(chunk)) this.queue.push(frame);
      this.wake();
    });
    const finish = (): void => {
      if (this.ended) return;
      this.ended = true;
      this.queue.push(null);
      this.wake();
    };
    this.socket.on('end', finish);
    this.socket.on('close', finish);
    this.socket.on('error', finish);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** Keeps Node alive until the matching {@link FrameChannel.release}. */
  hold(): void {
    if (this.holds++ === 0) this.socket.ref();
  }

  /** Ends one {@link FrameChannel.hold}. */
  release(): void {
    if (--this.holds === 0) this.socket.unref();
  }

  /** The next frame, or null at end of stream. */
  async next(): Promise<{ type: number; payload: Buffer } | null> {
    while (this.queue.length === 0) await new Promise<void>((resolve) => { this.waiter = resolve; });
    const frame = this.queue.shift()!;
    if (frame === null) this.queue.unshift(null); // stay at end
    return frame;
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * Starts the helper with `payload` (a FRAME_CONFIG record set) and `stdioFds` (sent along, the
 * targets named in the payload), and returns once the container process reports READY.
 * With `cgroupFds` (a payload with CFG_CGROUP_FDS_LATER, direct launches only), it is called
 * once the config is sent, while the helper starts and clones, and the fds it resolves to (open
 * cgroup.procs files, the payload's order) follow in a FRAME_CGROUPS; should it throw, the
 * helper gets none, fails, and its error is replaced by this one.
 * On failure everything started is killed and reaped before the error is thrown.
 */
export async function launch(payload: Buffer, stdioFds: number[], ctx: LaunchContext, via?: LaunchVia, cgroupFds?: () => Promise<number[]>): Promise<Launched> {
  ensureHelper();
  const helper = via ? via.spawn() : native.spawnHelper();
  const helperExit = native.watchProcessExit(helper.pidfd, true);
  const channel = new FrameChannel(helper.sock);
  channel.hold();
  let child: { pid: number; pidfd: number; exit: ProcessExitWatch } | null = null;
  try {
    if (via) via.send(helper.sock);
    else native.sendFrame(helper.sock, FrameType.CONFIG, payload, stdioFds);
    let cgroupError: unknown;
    if (cgroupFds) {
      let fds: number[] = [];
      try {
        fds = await cgroupFds();
      } catch (err) {
        cgroupError = err; // the helper gets no fds: it fails, after its PID frame, which is still read
      }
      try {
        native.sendFrame(helper.sock, FrameType.CGROUPS, Buffer.alloc(0), fds);
      } catch {
        // The helper failed before it read them (EPIPE): its own frames say why.
      } finally {
        for (const fd of fds) native.closeFd(fd);
      }
    }
    for (;;) {
      const frame = await channel.next();
      if (frame === null) {
        if (cgroupError !== undefined) throw cgroupError;
        const status = await helperExit.promise;
        throw new ContainerSetupError(
          `EPROTO: the init helper ended before the container was ready (${describeExit(status)})`,
          { code: 'EPROTO', stage: 'helper' },
        );
      }
      if (frame.type === FrameType.PID) {
        const pid = decodePidFrame(frame.payload);
        let pidfd: number;
        try {
          pidfd = native.pidfdOpen(pid);
        } catch (err) {
          // Out of fds, say: the process must not go on to run anything. It is our unreaped
          // child, so its pid cannot name another process yet.
          process.kill(pid, 'SIGKILL');
          throw err;
        }
        child = { pid, pidfd, exit: native.watchProcessExit(pidfd, via?.reap ?? true) };
      } else if (frame.type === FrameType.ERROR) {
        const e = decodeErrorFrame(frame.payload);
        if (cgroupError !== undefined && stageName(e.stage) === 'cgroup') throw cgroupError; // it failed for want of the fds
        throw setupError({ stage: stageName(e.stage), errno: e.errno, detail: e.detail }, ctx);
      } else if (frame.type === FrameType.READY) {
        if (!child) throw new ContainerSetupError('EPROTO: the init helper reported READY before a pid', { code: 'EPROTO', stage: 'helper' });
        break;
      } else {
        via?.onFrame?.(frame.type, frame.payload);
      }
    }
  } catch (err) {
    channel.release();
    channel.close();
    if (child) {
      try { native.pidfdSendSignal(child.pidfd, 9); } catch { /* already gone */ }
      child.exit.ref();
      await child.exit.promise;
      native.closeFd(child.pidfd);
    }
    helperExit.ref();
    await helperExit.promise;
    native.closeFd(helper.pidfd);
    throw err;
  }
  channel.release();
  void helperExit.promise.then(() => native.closeFd(helper.pidfd));
  const launched = child;
  const outcome = (async () => {
    try {
      const frame = await channel.next();
      if (frame !== null && frame.type === FrameType.ERROR) {
        const e = decodeErrorFrame(frame.payload);
        throw setupError({ stage: stageName(e.stage), errno: e.errno, detail: e.detail }, ctx);
      }
    } finally {
      channel.close();
    }
  })();
  outcome.catch(() => undefined); // observed through execOutcome / waitExec
  const waitExec = (): Promise<void> => {
    channel.hold();
    return outcome.finally(() => channel.release());
  };
  return { ...launched, execOutcome: outcome, waitExec, detach: () => channel.close() };
}

/** Words an exit status for messages. */
export function describeExit(status: ExitStatus): string {
  return status.signal ? `killed by ${status.signal}` : `exit code ${status.exitCode}`;
}
