/**
 * OOM notification. cgroup v1: an eventfd registered on memory.oom_control through
 * cgroup.event_control; the kernel signals it on every OOM in the cgroup (and once more when
 * the cgroup is removed). cgroup v2: memory.events changes (inotify) and its `oom`/`oom_kill`
 * counters go up. Neither keeps Node alive.
 * @module
 */
import fs from 'node:fs';
import path from 'node:path';
import * as native from '../native/index.js';
import { CgroupError, errnoCode } from './errors.js';
import { parseKeyValues } from './files.js';
import type { OomEvent, OomWatch } from './manager.js';

/** The oom_kill count of a v1 memory cgroup (memory.oom_control), synchronously; 0 when unknown. */
function oomKillV1Sync(dir: string): number {
  try {
    return parseKeyValues(fs.readFileSync(path.join(dir, 'memory.oom_control'), 'utf8')).oom_kill ?? 0;
  } catch {
    return 0;
  }
}

/** Watches a v1 memory cgroup's OOM events through an eventfd; null when it has no memory.oom_control. */
export function watchOomV1(dir: string, listener: (event: OomEvent) => void): OomWatch | null {
  const control = path.join(dir, 'memory.oom_control');
  if (!fs.existsSync(control)) return null;
  const efd = native.eventfd(0);
  let ofd = -1;
  try {
    ofd = fs.openSync(control, fs.constants.O_RDONLY);
    const ec = fs.openSync(path.join(dir, 'cgroup.event_control'), fs.constants.O_WRONLY);
    try {
      fs.writeSync(ec, `${efd} ${ofd}`);
    } finally {
      fs.closeSync(ec);
    }
  } catch (err) {
    native.closeFd(efd);
    if (ofd >= 0) fs.closeSync(ofd);
    throw new CgroupError(`${errnoCode(err)}: cannot register an OOM eventfd on ${control}`, { code: errnoCode(err), path: control, cause: err });
  }
  let closed = false;
  let count = 0;
  let handle: native.ExitWatchHandle | null = null;
  const buf = Buffer.alloc(8);
  const close = (): void => {
    if (closed) return;
    closed = true;
    handle?.close();
    handle = null;
    native.closeFd(efd);
    fs.closeSync(ofd);
  };
  const arm = (): void => {
    if (closed) return;
    handle = native.watchReadable(efd, (err) => {
      handle = null;
      if (closed) return;
      if (err) { close(); return; }
      let n = 0n;
      try {
        fs.readSync(efd, buf, 0, 8, null);
        n = buf.readBigUInt64LE(0);
      } catch { /* EAGAIN: spurious wake-up */ }
      // The kernel also signals when the cgroup goes away: then stop.
      if (!fs.existsSync(path.join(dir, 'cgroup.event_control'))) { close(); return; }
      if (n > 0n) {
        count += Number(n);
        listener({ dir, oomKill: oomKillV1Sync(dir) });
      }
      setImmediate(arm).unref();
    });
  };
  arm();
  return { get count() { return count; }, close };
}

/** Watches a v2 cgroup's memory.events for `oom`/`oom_kill` increases; null without a memory controller. */
export function watchOomV2(dir: string, listener: (event: OomEvent) => void): OomWatch | null {
  const file = path.join(dir, 'memory.events');
  const read = (): Record<string, number> => {
    try { return parseKeyValues(fs.readFileSync(file, 'utf8')); } catch { return {}; }
  };
  if (!fs.existsSync(file)) return null;
  let last = read();
  let count = 0;
  let watcher: fs.FSWatcher | null = null;
  const close = (): void => { watcher?.close(); watcher = null; };
  try {
    watcher = fs.watch(file, { persistent: false }, () => {
      const now = read();
      const oom = (now.oom ?? 0) - (last.oom ?? 0);
      const kills = (now.oom_kill ?? 0) - (last.oom_kill ?? 0);
      last = now;
      if (oom > 0 || kills > 0) {
        count += Math.max(oom, kills, 1);
        listener({ dir, oomKill: now.oom_kill ?? 0 });
      }
    });
    watcher.on('error', close);
  } catch (err) {
    throw new CgroupError(`${errnoCode(err)}: cannot watch ${file}`, { code: errnoCode(err), path: file, cause: err });
  }
  return { get count() { return count; }, close };
}
