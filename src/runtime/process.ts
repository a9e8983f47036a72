/**
 * A process running in a container — the init or an exec'd one. It is awaitable:
 * `await proc` gives its {@link ExitResult}.
 * @module
 */
import os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { ContainerStateError } from '../errors.js';
import * as native from '../native/index.js';
import type { ProcessExitWatch } from '../native/index.js';
import type { StdioStreams } from './stdio.js';

/** How a container process ended. */
export interface ExitResult {
  /** The exit code; for a signal death, 128 + the signal number as shells and Docker report it. Null when unknown (a process berth did not start). */
  exitCode: number | null;
  /** The signal that killed it, if one did. */
  signal: NodeJS.Signals | null;
  /** True when the kernel's OOM killer ended it (set by the cgroup layer). */
  oomKilled: boolean;
}

/** A signal given by name (`SIGTERM`, `TERM`) or number. */
export type SignalLike = NodeJS.Signals | string | number;

/** Turns `SIGTERM`, `TERM`, `term` or `15` into a signal number; throws on anything else. */
export function signalNumber(signal: SignalLike): number {
  if (typeof signal === 'number' || /^\d+$/.test(String(signal))) {
    const n = Number(signal);
    if (Number.isInteger(n) && n > 0 && n <= 64) return n;
  } else {
    const name = String(signal).toUpperCase();
    const full = (name.startsWith('SIG') ? name : `SIG${name}`) as NodeJS.Signals;
    const n = os.constants.signals[full];
    if (n !== undefined) return n;
    const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(full) ?? /^SIGRTMAX(?:-(\d+))?$/.exec(full);
    if (rt) return full.startsWith('SIGRTMIN') ? 34 + Number(rt[1] ?? 0) : 64 - Number(rt[1] ?? 0);
  }
  throw new ContainerStateError(`unknown signal ${JSON.stringify(signal)}`, { code: 'EINVAL', stage: 'kill', path: String(signal) });
}

/** A running (or finished) process in a container. */
export class ContainerProcess implements PromiseLike<ExitResult> {
  /** Host pid. */
  readonly pid: number;
  /** Writable stdin, when it was `pipe`. */
  readonly stdin: Writable | null;
  /** Readable stdout, when it was `pipe`. */
  readonly stdout: Readable | null;
  /** Readable stderr, when it was `pipe`. */
  readonly stderr: Readable | null;
  private readonly pidfd: number;
  private readonly watch: ProcessExitWatch;
  private readonly result: Promise<ExitResult>;
  private exited = false;

  /** @internal Built by Container; not for direct use. */
  constructor(pid: number, pidfd: number, watch: ProcessExitWatch, streams: StdioStreams) {
    this.pid = pid;
    this.pidfd = pidfd;
    this.watch = watch;
    this.stdin = streams.stdin;
    this.stdout = streams.stdout;
    this.stderr = streams.stderr;
    this.result = watch.promise.then((status) => {
      this.exited = true;
      native.closeFd(pidfd);
      const signo = status.signal ? os.constants.signals[status.signal] : undefined;
      return {
        exitCode: status.exitCode ?? (signo !== undefined ? 128 + signo : null),
        signal: status.signal,
        oomKilled: false,
      };
    });
  }

  /** True once the process has exited. */
  get hasExited(): boolean {
    return this.exited;
  }

  /** Waits for the process to end; keeps Node alive meanwhile. */
  wait(): Promise<ExitResult> {
    this.watch.ref();
    return this.result.finally(() => this.watch.unref());
  }

  /** Sends a signal (default SIGTERM) through the pidfd, so it can never hit a recycled pid. */
  kill(signal: SignalLike = 'SIGTERM'): void {
    if (this.exited) {
      throw new ContainerStateError(`process ${this.pid} has already exited`, { code: 'ESRCH', stage: 'kill' });
    }
    native.pidfdSendSignal(this.pidfd, signalNumber(signal));
  }

  /** Makes `await proc` wait for the exit. */
  then<T1 = ExitResult, T2 = never>(
    onfulfilled?: ((value: ExitResult) => T1 | PromiseLike<T1>) | null,
    onrejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null,
  ): Promise<T1 | T2> {
    return this.wait().then(onfulfilled, onrejected);
  }
}
