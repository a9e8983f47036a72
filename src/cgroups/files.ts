/**
 * Reading and writing cgroup files. Every write is one write(2) on a file opened O_WRONLY|O_TRUNC
 * (never O_CREAT: a missing file means a missing controller). A value the kernel refuses
 * becomes a {@link CgroupLimitError} naming the resource field and the file.
 *
 * These are in-kernel pseudo-files answered in microseconds, so the calls are made
 * synchronously: a trip through libuv's thread pool costs more than the call itself, and a
 * container start makes dozens of them (measured: cgroup setup fell from ~7 ms to ~2 ms).
 * @module
 */
import { promises as fs, accessSync, closeSync, constants as fsc, mkdirSync, openSync, readFileSync, rmdirSync, writeSync } from 'node:fs';
import path from 'node:path';
import { CgroupError, CgroupLimitError, errnoCode } from './errors.js';

/** errnos that mean "the kernel does not accept this value here". */
const REFUSED = new Set(['EINVAL', 'EBUSY', 'ERANGE', 'EOVERFLOW', 'ENOSPC', 'EPERM', 'EACCES']);

/** Writes `value` to `dir/file` in one write; `field` names the resource for error messages. */
export async function writeCgroupFile(dir: string, file: string, value: string, field?: string): Promise<void> {
  const fd = openForWrite(dir, file, field);
  try {
    writeValue(fd, path.join(dir, file), value, field);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes several values, each in one write(2) and in order, to files of the cgroup at `dir`,
 * opening each file once (devices.allow/devices.deny take a dozen rules a container). The
 * first failure is thrown, as by {@link writeCgroupFile}; the files are closed either way.
 */
export async function writeCgroupValues(dir: string, writes: ReadonlyArray<{ file: string; value: string }>, field?: string): Promise<void> {
  const fds = new Map<string, number>();
  try {
    for (const { file, value } of writes) {
      let fd = fds.get(file);
      if (fd === undefined) fds.set(file, (fd = openForWrite(dir, file, field)));
      writeValue(fd, path.join(dir, file), value, field);
    }
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
}

/** Opens `dir/file` O_WRONLY|O_TRUNC; a missing file names the controller it would belong to. */
function openForWrite(dir: string, file: string, field?: string): number {
  const full = path.join(dir, file);
  try {
    return openSync(full, fsc.O_WRONLY | fsc.O_TRUNC);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') {
      throw new CgroupError(`ENOENT: ${full} does not exist (is the ${file.split('.')[0]} controller available here?)${field ? ` for ${field}` : ''}`, { code, path: full, cause: err });
    }
    throw new CgroupError(`${code}: cannot open ${full}: ${(err as Error).message}`, { code, path: full, cause: err });
  }
}

/** One write(2) of `value`; a value the kernel refuses is a CgroupLimitError naming `field`. */
function writeValue(fd: number, full: string, value: string, field?: string): void {
  try {
    writeSync(fd, value);
  } catch (err) {
    const code = errnoCode(err);
    if (field && REFUSED.has(code)) {
      throw new CgroupLimitError(`${code}: the kernel refused ${JSON.stringify(value)} for ${full}`, field, full, code);
    }
    throw new CgroupError(`${code}: cannot write ${JSON.stringify(value)} to ${full}${field ? ` (${field})` : ''}`, { code, path: full, cause: err });
  }
}

/** Reads `dir/file`; a missing file (or cgroup) is a CgroupError ENOENT. */
export async function readCgroupFile(dir: string, file: string): Promise<string> {
  const full = path.join(dir, file);
  try {
    return readFileSync(full, 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    throw new CgroupError(`${code}: cannot read ${full}`, { code, path: full, cause: err });
  }
}

/** Reads `dir/file`, or null when it does not exist (no such controller, or the cgroup is gone). */
export async function readOptional(dir: string, file: string): Promise<string | null> {
  try {
    return readFileSync(path.join(dir, file), 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENODEV' || code === 'ENOTDIR') return null;
    throw new CgroupError(`${code}: cannot read ${path.join(dir, file)}`, { code, path: path.join(dir, file), cause: err });
  }
}

/** True when `dir/file` exists. */
export async function fileExists(dir: string, file: string): Promise<boolean> {
  try {
    accessSync(path.join(dir, file));
    return true;
  } catch {
    return false;
  }
}

/** A number from a cgroup file (`max` → -1); NaN when it is not one. */
export function parseValue(text: string): number {
  const t = text.trim();
  if (t === 'max') return -1;
  return t === '' ? NaN : Number(t);
}

/** Parses `key value` lines (memory.stat, cpu.stat, memory.events...) into numbers. */
export function parseKeyValues(text: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out[k] = parseValue(v);
  }
  return out;
}

/** Parses a list of whitespace-separated numbers (cpuacct.usage_percpu). */
export function parseNumbers(text: string | null): number[] {
  return (text ?? '').trim().split(/\s+/).filter((s) => s !== '').map(Number);
}

/** Parses cgroup.procs: one pid a line. */
export function parsePids(text: string | null): number[] {
  return parseNumbers(text).filter((n) => Number.isInteger(n) && n > 0);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Removes a cgroup directory leaf-first: sub-cgroups, then itself, retrying EBUSY with a
 * backoff (1 ms doubling, at most 100 ms apart, `budgetMs` in all) while its processes drain.
 * A directory that is already gone is fine.
 */
export async function removeCgroupDir(dir: string, budgetMs = 5000): Promise<void> {
  try {
    rmdirSync(dir);
    return;
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') return;
    if (code !== 'EBUSY' && code !== 'ENOTEMPTY' && code !== 'EEXIST') {
      throw new CgroupError(`${code}: cannot remove cgroup ${dir}`, { code, path: dir, cause: err });
    }
  }
  let entries: import('node:fs').Dirent[] = [];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw new CgroupError(`${errnoCode(err)}: cannot list cgroup ${dir}`, { code: errnoCode(err), path: dir, cause: err });
  }
  for (const e of entries) if (e.isDirectory()) await removeCgroupDir(path.join(dir, e.name), budgetMs);
  const deadline = Date.now() + budgetMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 100)) {
    try {
      await fs.rmdir(dir);
      return;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || Date.now() >= deadline) {
        const procs = await readOptional(dir, 'cgroup.procs').catch(() => null);
        const left = parsePids(procs);
        throw new CgroupError(
          `${code}: cannot remove cgroup ${dir}${left.length > 0 ? `: processes ${left.slice(0, 10).join(', ')} are still in it` : ''}`,
          { code, path: dir, cause: err },
        );
      }
      await sleep(delay);
    }
  }
}

/** Creates `dir` and any missing parents; returns the first directory it created, or null if it existed. */
export async function makeCgroupDir(dir: string): Promise<string | null> {
  for (let attempt = 0; ; attempt++) {
    try {
      return mkdirSync(dir, { recursive: true, mode: 0o755 }) ?? null;
    } catch (err) {
      const code = errnoCode(err);
      // A parent removed by a concurrent destroy between two levels: try again.
      if (code === 'ENOENT' && attempt < 5) continue;
      throw new CgroupError(`${code}: cannot create cgroup ${dir}`, { code, path: dir, cause: err });
    }
  }
}
