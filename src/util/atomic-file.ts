/**
 * Metadata files written atomically: a temp file in the same directory, fsynced, renamed over
 * the target, and the directory fsynced, so a reader (or the next open after `kill -9` or a
 * power loss) sees the old content or the new, never a torn one. Temp files carry the writer's
 * pid so that {@link removeStaleTemps} can drop those of dead writers.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { processAlive } from './process-alive.js';

const TEMP_PREFIX = '.tmp-';

/** fsyncs a directory so that a rename or unlink in it is durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `data` to `file` atomically and durably (creating the directory). */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = path.join(dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
  const fh = await open(temp, 'wx', mode);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await syncDir(dir);
}

/** Writes a value as JSON atomically and durably. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 1)}\n`);
}

/**
 * Reads a JSON file; undefined when it does not exist. The read is synchronous, as are the
 * directory listings below: these are small metadata files on a local disk, read dozens of
 * times by one command, and a read takes a few microseconds while a trip through libuv's
 * thread pool costs a hundred or more (about 10 ms of every `berth run`).
 */
export async function readJsonIfExists<T>(file: string): Promise<T | undefined> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as T;
}

/** The names in directory `dir`, none when it is missing (listed synchronously, as the reads above). */
export function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** The parsed JSON files of `dir` whose names match `names` (none when the directory is missing). */
export async function readJsonFiles<T>(dir: string, names: RegExp): Promise<T[]> {
  const out: T[] = [];
  for (const name of namesIn(dir).sort()) {
    if (!names.test(name)) continue;
    const value = await readJsonIfExists<T>(path.join(dir, name));
    if (value !== undefined) out.push(value);
  }
  return out;
}

/** Removes temp files (and directories) named `.tmp-<pid>-*` in `dir` whose writer is gone. */
export async function removeStaleTemps(dir: string): Promise<void> {
  for (const name of namesIn(dir)) {
    if (!name.startsWith(TEMP_PREFIX)) continue;
    const pid = Number(name.slice(TEMP_PREFIX.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) continue;
    const file = path.join(dir, name);
    if (await stat(file).then(() => true, () => false)) await rm(file, { recursive: true, force: true });
  }
}

/** The prefix of temp names made by this process (for siblings that stage whole directories). */
export function tempName(): string {
  return `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`;
}
