/**
 * The sealed berth-monitor executable: copied once per process into a sealed memfd (like the
 * init helper, so that nothing can rewrite the running monitor, and a rebuilt or upgraded
 * package never changes monitors already running) and started from it.
 * @module
 */
import { NativeError } from '../errors.js';
import { addon, buildDir, type RawHelper } from './addon.js';

/** Absolute path of the monitor executable (copied into a sealed memfd by {@link initMonitor}). */
export const monitorPath = `${buildDir}berth-monitor`;

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

/** Copies the monitor into a sealed memfd, once per process; returns the memfd. */
export function initMonitor(path: string = monitorPath): number {
  return call(() => addon().initMonitor(path));
}

/** Starts the sealed monitor with its end of a socketpair as fd 3 (it forks and detaches itself; the process returned exits at once and is ours to reap). */
export function spawnMonitor(): RawHelper {
  initMonitor();
  return call(() => addon().spawnHelper(true));
}
