/**
 * Connects this process's terminal or stdio to a container's, as `docker run -it`, `attach`
 * and `exec -it` do: raw mode on our terminal while attached (restored on the way out), the
 * window size passed on at start and on every SIGWINCH, the detach keys (default Ctrl-P Ctrl-Q)
 * leaving the container running, and our SIGINT/SIGTERM passed on when there is no terminal.
 * @module
 */
import type { Readable, Writable } from 'node:stream';
import { makeRaw, restoreTerminal } from '../../native/terminal.js';
import { UsageError } from './errors.js';

/** The two ends of a session with a container. */
export interface SessionStreams {
  /** Into the container's stdin or terminal (null: stdin not attached). */
  stdin: Writable | null;
  /** The container's stdout or terminal output. */
  stdout: Readable;
  /** The container's stderr (empty with a terminal). */
  stderr: Readable | null;
  /** Resolves with the exit status when the container's process ends, null when the session ends first. */
  exited: Promise<number | null>;
  /** Sets the container terminal's size. */
  resize?(cols: number, rows: number): void;
  /** Ends the session; the container goes on. */
  close(): void;
}

/** How a session ended. */
export type SessionEnd = { kind: 'exited'; status: number } | { kind: 'detached' } | { kind: 'lost' };

/** Parses `--detach-keys` (`ctrl-p,ctrl-q`, `ctrl-a,x`) into bytes. */
export function parseDetachKeys(spec: string): Buffer {
  const bytes = spec.split(',').map((k) => {
    const key = k.trim().toLowerCase();
    const ctrl = /^ctrl-([a-z@[\\\]^_])$/.exec(key);
    if (ctrl !== null) return ctrl[1]!.charCodeAt(0) & 0x1f;
    if (key.length === 1) return key.charCodeAt(0);
    throw new UsageError(`invalid detach keys ${JSON.stringify(spec)}: comma-separated ctrl-<letter> or single characters`);
  });
  return Buffer.from(bytes);
}

/** Runs a session until the container exits, the detach keys are typed, or the session is lost. */
export async function pumpSession(s: SessionStreams, options: { tty: boolean; stdin: boolean; detachKeys?: string; onSignal?: (sig: NodeJS.Signals) => void }): Promise<SessionEnd> {
  const keys = parseDetachKeys(options.detachKeys ?? 'ctrl-p,ctrl-q');
  const input = process.stdin;
  const rawSaved = options.tty && options.stdin && input.isTTY ? makeRaw(0) : undefined;
  let detached = false;
  let matched = 0;
  // With a terminal, the detach keys are watched for: a partial match is held back until the
  // next byte shows whether it was the sequence (then nothing of it is sent) or not.
  const onInput = (chunk: Buffer): void => {
    if (!options.tty) {
      s.stdin?.write(chunk);
      return;
    }
    const out: number[] = [];
    for (const b of chunk) {
      if (b === keys[matched]) {
        matched++;
        if (matched === keys.length) {
          if (out.length > 0) s.stdin?.write(Buffer.from(out));
          detached = true;
          s.close();
          return;
        }
        continue;
      }
      if (matched > 0) out.push(...keys.subarray(0, matched));
      matched = b === keys[0] ? 1 : 0;
      if (matched === 0) out.push(b);
    }
    if (out.length > 0) s.stdin?.write(Buffer.from(out));
  };
  const onEnd = (): void => void s.stdin?.end();
  const resize = (): void => {
    if (process.stdout.isTTY) s.resize?.(process.stdout.columns, process.stdout.rows);
  };
  const forward = (sig: NodeJS.Signals): void => options.onSignal?.(sig);
  if (options.stdin && s.stdin !== null) {
    input.on('data', onInput);
    input.on('end', onEnd);
    input.resume();
  }
  if (options.tty) {
    resize();
    process.on('SIGWINCH', resize);
  } else if (options.onSignal !== undefined) {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward);
  }
  s.stdout.pipe(process.stdout, { end: false });
  s.stderr?.pipe(process.stderr, { end: false });
  try {
    const status = await s.exited;
    // Let the last output reach us before we leave.
    await Promise.all([drained(s.stdout), s.stderr ? drained(s.stderr) : Promise.resolve()]);
    if (detached) return { kind: 'detached' };
    return status === null ? { kind: 'lost' } : { kind: 'exited', status };
  } finally {
    input.off('data', onInput);
    input.off('end', onEnd);
    input.pause();
    process.off('SIGWINCH', resize);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, forward);
    if (rawSaved !== undefined) restoreTerminal(0, rawSaved);
  }
}

/** Resolves when a stream has ended (or right away if it already has). */
function drained(r: Readable): Promise<void> {
  if (r.readableEnded || r.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    r.once('end', resolve);
    r.once('close', resolve);
    setTimeout(resolve, 200).unref();
  });
}
