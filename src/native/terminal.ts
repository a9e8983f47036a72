/**
 * Terminals and fd passing from the addon: pty pairs, window sizes, raw mode, and the unix
 * socket calls behind runc's `--console-socket` protocol (connect to a path, send or receive
 * one fd with SCM_RIGHTS). Errors are {@link NativeError}s like the rest of `native/`.
 * @module
 */
import { Duplex } from 'node:stream';
import tty from 'node:tty';
import { NativeError } from '../errors.js';
import { addon } from './addon.js';

/** A terminal size in character cells. */
export interface WindowSize {
  /** Columns. */
  cols: number;
  /** Rows. */
  rows: number;
}

/** A pty pair from {@link openPty}: both ends CLOEXEC and O_NOCTTY. */
export interface PtyPair {
  /** The master (the side a terminal emulator holds). */
  master: number;
  /** The slave (the side a program uses as its terminal). */
  slave: number;
  /** The slave's path (`/dev/pts/N`). */
  path: string;
}

/** An fd received with {@link recvFd}, with the message it rode on. */
export interface ReceivedFd {
  /** The fd (CLOEXEC). */
  fd: number;
  /** The message's data (the console socket protocol puts the pty's path there). */
  data: string;
}

function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const e = err as Error & { code?: unknown; errno?: unknown; syscall?: unknown; path?: unknown };
    if (typeof e.code === 'string' && typeof e.syscall === 'string') {
      throw new NativeError(e.message, {
        code: e.code, errno: typeof e.errno === 'number' ? e.errno : undefined, stage: e.syscall, path: typeof e.path === 'string' ? e.path : undefined,
      });
    }
    throw err;
  }
}

/** Opens a new pty pair on the host's devpts. */
export function openPty(): PtyPair {
  return call(() => addon().openPty());
}

/** Sets the window size of the terminal `fd` (either end; the foreground process group gets SIGWINCH). */
export function setWindowSize(fd: number, size: WindowSize): void {
  call(() => addon().setWinsize(fd, size.cols, size.rows));
}

/** The window size of the terminal `fd`. */
export function getWindowSize(fd: number): WindowSize {
  return call(() => addon().getWinsize(fd));
}

/** Puts the terminal `fd` in raw mode (no echo, no line editing, keys such as Ctrl-C passed through as bytes); returns what {@link restoreTerminal} puts back. */
export function makeRaw(fd: number): Buffer {
  return call(() => addon().makeRaw(fd));
}

/** Restores a terminal's settings saved by {@link makeRaw}. */
export function restoreTerminal(fd: number, saved: Buffer): void {
  call(() => addon().setTermios(fd, saved));
}

/** A connected pair of unix stream sockets (CLOEXEC, blocking). */
export function socketPair(): [number, number] {
  return call(() => addon().socketPair());
}

/** Connects to the unix socket at `path` (paths longer than sun_path are reached through the directory's fd); returns the blocking, CLOEXEC socket. */
export function connectUnix(path: string): number {
  return call(() => addon().connectUnix(path));
}

/** Sends `fd` over the unix socket `sock` as SCM_RIGHTS on one message carrying `data`. */
export function sendFd(sock: number, fd: number, data = ''): void {
  call(() => addon().sendFd(sock, fd, data));
}

/** Receives one message with an fd from `sock`; null when none is queued (unless `block`) or the message had no fd. */
export function recvFd(sock: number, block = false): ReceivedFd | null {
  return call(() => addon().recvFd(sock, block));
}

/** Clears (`true`) or sets (`false`) O_NONBLOCK on `fd`. */
export function setBlocking(fd: number, blocking: boolean): void {
  call(() => addon().setBlocking(fd, blocking));
}

/**
 * A pty master as a Node stream: what is written goes to the program's terminal input (a
 * 0x03 is Ctrl-C when the terminal is in its usual cooked mode), what the program prints
 * comes out. It ends when the last process holding the slave is gone (the kernel's EIO).
 * The stream owns the fd and closes it when destroyed.
 */
export class TerminalStream extends Duplex {
  /** The master fd (owned by the stream). */
  readonly fd: number;
  private readonly tty: tty.ReadStream;

  constructor(master: number) {
    super({ allowHalfOpen: true });
    this.fd = master;
    this.tty = new tty.ReadStream(master);
    this.tty.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) this.tty.pause();
    });
    const ended = (): void => {
      this.push(null);
      this.tty.destroy(); // closes the master; what was read stays readable here
    };
    this.tty.on('end', ended);
    this.tty.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EIO') ended(); // every slave closed: the program is gone
      else this.destroy(err);
    });
    this.tty.pause();
  }

  /** Sets the terminal's size; the program gets SIGWINCH. */
  resize(size: WindowSize): void {
    setWindowSize(this.fd, size);
  }

  /** The terminal's size. */
  size(): WindowSize {
    return getWindowSize(this.fd);
  }

  /** Keeps (true, the default) or stops the open terminal from keeping Node alive. */
  setRef(ref: boolean): void {
    if (ref) this.tty.ref();
    else this.tty.unref();
  }

  /** Resumes reading from the terminal (the stream machinery calls it). */
  override _read(): void {
    this.tty.resume();
  }

  /** @internal */
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.tty.write(chunk, (err) => callback(err ?? null));
  }

  /** @internal */
  override _final(callback: (error?: Error | null) => void): void {
    callback(); // a terminal has no half-close: EOF is a ^D byte the caller writes
  }

  /** @internal */
  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.tty.destroy(); // closes the fd
    callback(err);
  }
}
