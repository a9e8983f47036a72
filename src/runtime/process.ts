/**
 * A process running in a container — the init or an exec'd one. It is awaitable:
 * `await proc` gives its {@link ExitResult}.
 * @module
 */
import os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { ContainerStateError } from '../errors.js';
import * as native from '../native/index.js';
import type { ExitStatus, ProcessExitWatch } from '../native/index.js';
import type { StdioStreams } from './stdio.js';
import type { TerminalStream } from '../native/terminal.js';

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

/** What a process needs once the helper has set it up. */
export interface SpawnedProcess {
  /** Host pid. */
  pid: number;
  /** A pidfd for it. */
  pidfd: number;
  /** Its exit watch (reaps it). */
  exit: ProcessExitWatch;
  /** Settles once it has called execve; rejects with the setup error. */
  execOutcome: Promise<void>;
  /** The same, keeping Node alive meanwhile. */
  waitExec(): Promise<void>;
  /** The pty master, when the process has a terminal kept here. */
  terminal?: TerminalStream | null;
}

/**
 * A process in a container — the init or an exec'd one. Awaiting it waits for its exit:
 * `const { exitCode } = await container.exec({ args })`. Setup failures (a missing
 * executable, a bad cwd) reject `spawned`, `wait()` and the await with the typed error.
 */
export class ContainerProcess implements PromiseLike<ExitResult> {
  /** Writable stdin, when it was `pipe`. */
  readonly stdin: Writable | null;
  /** Readable stdout, when it was `pipe`. */
  readonly stdout: Readable | null;
  /** Readable stderr, when it was `pipe`. */
  readonly stderr: Readable | null;
  private child: SpawnedProcess | null = null;
  private readonly childReady: Promise<SpawnedProcess>;
  private readonly result: Promise<ExitResult>;
  private exited = false;

  /** @internal Built by Container; not for direct use. */
  constructor(streams: StdioStreams, spawning: Promise<SpawnedProcess>, oomProbe?: (status: ExitStatus) => Promise<boolean>) {
    this.stdin = streams.stdin;
    this.stdout = streams.stdout;
    this.stderr = streams.stderr;
    this.childReady = spawning.then((c) => { this.child = c; return c; });
    const execed = this.childReady.then((c) => c.execOutcome);
    this.result = this.childReady.then(async (c) => {
      const status = await c.exit.promise;
      this.exited = true;
      native.closeFd(c.pidfd);
      await execed;
      const signo = status.signal ? os.constants.signals[status.signal] : undefined;
      return {
        exitCode: status.exitCode ?? (signo !== undefined ? 128 + signo : null),
        signal: status.signal,
        oomKilled: oomProbe ? await oomProbe(status).catch(() => false) : false,
      };
    });
    this.childReady.catch(() => undefined);
    execed.catch(() => undefined);
    this.result.catch(() => undefined);
  }

  /**
   * The process's terminal (the pty master as a stream) when it was given one
   * (`process.terminal`, or exec's `terminal`) and the master was not sent to a console
   * socket; for an exec, set once {@link ContainerProcess.spawned} resolves. Null otherwise.
   */
  get terminal(): TerminalStream | null {
    return this.child?.terminal ?? null;
  }

  /** Sets the size of the process's terminal (it gets SIGWINCH); ENOTTY without one. */
  resize(cols: number, rows: number): void {
    const t = this.terminal;
    if (!t) throw new ContainerStateError('the process has no terminal here', { code: 'ENOTTY', stage: 'resize' });
    t.resize({ cols, rows });
  }

  /** Resolves once the process runs the requested program; rejects with the setup error. */
  get spawned(): Promise<void> {
    return this.childReady.then((c) => c.waitExec());
  }

  /** Host pid, once spawned (undefined before, or if setup failed). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** True once the process has exited. */
  get hasExited(): boolean {
    return this.exited;
  }

  /** Waits for the process to end; keeps Node alive meanwhile. */
  async wait(): Promise<ExitResult> {
    const child = await this.childReady;
    child.exit.ref();
    try {
      return await this.result;
    } finally {
      child.exit.unref();
    }
  }

  /** Sends a signal (default SIGTERM) through the pidfd, so it can never hit a recycled pid. */
  async kill(signal: SignalLike = 'SIGTERM'): Promise<void> {
    const signo = signalNumber(signal);
    const child = await this.childReady;
    if (this.exited) {
      throw new ContainerStateError(`process ${child.pid} has already exited`, { code: 'ESRCH', stage: 'kill' });
    }
    native.pidfdSendSignal(child.pidfd, signo);
  }

  /** Makes `await proc` wait for the exit. */
  then<T1 = ExitResult, T2 = never>(
    onfulfilled?: ((value: ExitResult) => T1 | PromiseLike<T1>) | null,
    onrejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null,
  ): Promise<T1 | T2> {
    return this.wait().then(onfulfilled, onrejected);
  }
}
