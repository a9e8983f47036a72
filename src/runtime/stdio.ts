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

/** Fds prepared for the helper plus what to do with them after the process has them. */
export interface PreparedStdio {
  /** Fds to pass, in order of `targets`. */
  fds: number[];
  /** Target fd number (0, 1, 2) of each passed fd. */
  targets: number[];
  /** Streams for the caller, created by {@link PreparedStdio.commit}. */
  commit(): StdioStreams;
  /** Closes everything (on failure). */
  abort(): void;
}

/** Opens the fds for `option`; the child's ends are closed by `commit` once they are passed. */
export function prepareStdio(option: StdioOption = 'ignore'): PreparedStdio {
  const modes: StdioMode[] = Array.isArray(option) ? option : [option, option, option];
  const fds: number[] = [];
  const targets: number[] = [];
  const toClose: number[] = [];
  const ours: Array<number | null> = [null, null, null];
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
      const childEnd = target === 0 ? readEnd : writeEnd;
      ours[target] = target === 0 ? writeEnd : readEnd;
      fds.push(childEnd);
      toClose.push(childEnd);
    } else if (typeof mode === 'number' && Number.isInteger(mode) && mode >= 0) {
      fds.push(mode);
    } else {
      for (const fd of toClose) fs.closeSync(fd);
      throw new TypeError(`stdio[${target}]: expected 'pipe', 'inherit', 'ignore' or a file descriptor, got ${String(mode)}`);
    }
    targets.push(target);
  }
  const closeChildEnds = (): void => { for (const fd of toClose) fs.closeSync(fd); };
  return {
    fds,
    targets,
    commit(): StdioStreams {
      closeChildEnds();
      const stream = (fd: number | null, readable: boolean): net.Socket | null =>
        fd === null ? null : new net.Socket({ fd, readable, writable: !readable });
      return { stdin: stream(ours[0], false), stdout: stream(ours[1], true), stderr: stream(ours[2], true) };
    },
    abort(): void {
      closeChildEnds();
      for (const fd of ours) if (fd !== null) fs.closeSync(fd);
    },
  };
}
