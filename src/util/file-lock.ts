/**
 * Cross-process locks on a lock file with flock(2), without blocking the event loop: the lock is
 * tried without waiting, and retried after a short, growing delay while another process holds
 * it. A lock dies with its process, so `kill -9` never leaves one behind.
 * @module
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as nat from '../native/index.js';
import { NativeError } from '../errors.js';

/** A held lock; {@link FileLock.release} (or process exit) lets it go. */
export class FileLock {
  private constructor(private fd: number) {}

  /** Takes the lock on `file` (created if missing), shared or exclusive, waiting as long as it takes. */
  static async acquire(file: string, exclusive: boolean): Promise<FileLock> {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const fd = openSync(file, 'a', 0o600);
    let delay = 1;
    for (;;) {
      try {
        nat.flock(fd, exclusive, true);
        return new FileLock(fd);
      } catch (err) {
        if (!(err instanceof NativeError && (err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK'))) {
          closeSync(fd);
          throw err;
        }
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 50);
    }
  }

  /** Releases the lock. */
  release(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** Runs `fn` holding the lock on `file`. */
export async function withFileLock<T>(file: string, exclusive: boolean, fn: () => Promise<T>): Promise<T> {
  const lock = await FileLock.acquire(file, exclusive);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
