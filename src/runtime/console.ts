/**
 * A container process's terminal (`process.terminal: true`): the helper opens a pty in the
 * container's own devpts, makes its slave the process's stdio and controlling terminal, and
 * sends the master over a unix socket — to us (a {@link TerminalStream}), or to a socket path
 * someone else listens on (runc's `--console-socket`).
 * @module
 */
import { ContainerSetupError } from '../errors.js';
import * as native from '../native/index.js';
import { TerminalStream } from '../native/index.js';
import type { Box } from './spec.js';
import type { PreparedStdio } from './stdio.js';

/** The console of one launch: the fd sent to the helper and how its master comes back. */
export interface PreparedConsole {
  /** The socket the helper sends the master over (sent last with FRAME_CONFIG). */
  helperFd: number;
  /** Rows and columns for CFG_CONSOLE (0, 0: leave the size alone). */
  size: { rows: number; cols: number };
  /** After READY: the master as a stream, or null when it went to a console socket. */
  receive(): TerminalStream | null;
  /** Closes what is left (idempotent). */
  close(): void;
}

/** Prepares the console socket: a socketpair whose other end we read, or a connection to `consoleSocket`. */
export function prepareConsole(consoleSize: Box | undefined, consoleSocket?: string): PreparedConsole {
  const size = { rows: consoleSize?.height ?? 0, cols: consoleSize?.width ?? 0 };
  let ours = -1;
  let theirs: number;
  if (consoleSocket !== undefined) {
    try {
      theirs = native.connectUnix(consoleSocket);
    } catch (err) {
      throw new ContainerSetupError(`cannot connect to the console socket ${consoleSocket}: ${(err as Error).message}`, {
        code: (err as { code?: string }).code ?? 'EIO', stage: 'console', path: consoleSocket, cause: err,
      });
    }
  } else {
    [ours, theirs] = native.socketPair();
  }
  const close = (): void => {
    if (theirs >= 0) native.closeFd(theirs);
    if (ours >= 0) native.closeFd(ours);
    theirs = -1;
    ours = -1;
  };
  return {
    helperFd: theirs,
    size,
    receive(): TerminalStream | null {
      if (ours < 0) {
        close();
        return null;
      }
      const got = native.recvFd(ours, false); // sent before READY, so already queued
      close();
      if (got === null) throw new ContainerSetupError('EPROTO: the container process sent no terminal', { code: 'EPROTO', stage: 'console' });
      return new TerminalStream(got.fd);
    },
    close,
  };
}

/** No stdio fds at all (a console provides fds 0-2). */
export function noStdio(): PreparedStdio {
  return { fds: [], targets: [], streams: { stdin: null, stdout: null, stderr: null }, release: () => undefined, abort: () => undefined };
}
