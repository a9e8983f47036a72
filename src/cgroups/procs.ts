/**
 * The processes of a cgroup: listing them (its sub-cgroups included) and signalling them
 * through pidfds.
 * @module
 */
import { promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import * as native from '../native/index.js';
import { parsePids, readOptional } from './files.js';

/** Pids in `dir`'s cgroup.procs and in those of its sub-cgroups; [] when it is gone. (Listed synchronously, as files.ts reads: in-kernel and quicker than a thread-pool trip.) */
export async function collectPids(dir: string): Promise<number[]> {
  const out = parsePids(await readOptional(dir, 'cgroup.procs'));
  let entries: import('node:fs').Dirent[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) if (e.isDirectory()) out.push(...(await collectPids(path.join(dir, e.name))));
  return out;
}

/** Sends `signo` to `pid` through a pidfd; false when the process is gone. */
export function signalPid(pid: number, signo: number): boolean {
  let pidfd: number;
  try {
    pidfd = native.pidfdOpen(pid);
  } catch {
    return false;
  }
  try {
    native.pidfdSendSignal(pidfd, signo);
    return true;
  } catch {
    return false;
  } finally {
    native.closeFd(pidfd);
  }
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `intervalMs` until it returns true; false after `timeoutMs`. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 5): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

/** Removes up to `levels` empty ancestors of `dir` (nearest first), stopping at the first that is not empty. */
export async function pruneAncestors(dir: string, levels: number): Promise<void> {
  let d = dir;
  for (let i = 0; i < levels; i++) {
    d = path.dirname(d);
    try {
      await fs.rmdir(d);
    } catch {
      return;
    }
  }
}
