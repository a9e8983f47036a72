/**
 * Stdio for a container process: `pipe` (Node streams), `inherit`, `ignore`, or a file
 * descriptor, per stream or for all three.
 * @module
 */
import fs from 'node:fs';
import net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import * as native from '../native/index.js';

/** How one of stdin, stdout, stderr is connected. */
export type StdioMode = 'pipe' | 'inherit' | 'ignore' | number;

/** One mode for all three streams, or one each for stdin, stdout, stderr. */
export type StdioOption = StdioMode | [StdioMode, StdioMode, StdioMode];

/** The caller's ends of a process's stdio. */
export interface StdioStreams {
  /** Writable end of the process's stdin when it is `pipe`. */
  stdin: Writable | null;
  /** Readable end of the process's stdout when it is `pipe`. */
  stdout: Readable | null;
  /** Readable end of the process's stderr when it is `pipe`. */
  stderr: Readable | null;
}

/** Fds prepared for the helper, and the caller's streams on the other ends. */
export interface PreparedStdio {
  /** Fds to pass, in order of `targets`. */
  fds: number[];
  /** Target fd number (0, 1, 2) of each passed fd. */
  targets: number[];
  /** The caller's ends, as streams. */
  streams: StdioStreams;
  /** Closes the child's ends once the helper holds its copies. */
  release(): void;
  /** Closes everything (on failure). */
  abort(): void;
}

/** Opens the fds for `option` and wraps the caller's ends of pipes in streams. */
export function prepareStdio(option: StdioOption = 'ignore'): PreparedStdio {
  const modes: StdioMode[] = Array.isArray(option) ? option : [option, option, option];
  const fds: number[] = [];
  const targets: number[] = [];
  const toClose: number[] = [];
  const ours: Array<number | null> = [null, null, null];
  const closeAll = (list: number[]): void => { for (const fd of list.splice(0)) fs.closeSync(fd); };
  for (let target = 0; target < 3; target++) {
    const mode = modes[target];
    if (mode === 'inherit') {
      fds.push(target);
    } else if (mode === 'ignore') {
      const fd = fs.openSync('/dev/null', target === 0 ? 'r' : 'w');
      fds.push(fd);
      toClose.push(fd);
    } else if (mode === 'pipe') {
      const [readEnd, writeEnd] = native.pipe();
      ours[target] = target === 0 ? writeEnd : readEnd;
      const childEnd = target === 0 ? readEnd : writeEnd;
      fds.push(childEnd);
      toClose.push(childEnd);
    } else if (typeof mode === 'number' && Number.isInteger(mode) && mode >= 0) {
      fds.push(mode);
    } else {
      closeAll(toClose);
      closeAll(ours.filter((fd): fd is number => fd !== null));
      throw new TypeError(`stdio[${target}]: expected 'pipe', 'inherit', 'ignore' or a file descriptor, got ${String(mode)}`);
    }
    targets.push(target);
  }
  const stream = (fd: number | null, readable: boolean): net.Socket | null =>
    fd === null ? null : new net.Socket({ fd, readable, writable: !readable });
  const streams = { stdin: stream(ours[0], false), stdout: stream(ours[1], true), stderr: stream(ours[2], true) };
  return {
    fds,
    targets,
    streams,
    release: () => closeAll(toClose),
    abort(): void {
      closeAll(toClose);
      for (const s of [streams.stdin, streams.stdout, streams.stderr]) (s as net.Socket | null)?.destroy();
    },
  };
}
