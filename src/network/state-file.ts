/**
 * Writes of the network layer's own state files (IPAM allocations, endpoint records): atomic
 * (a temp file renamed over the old one, so a `kill -9` never leaves half a file) but not
 * fsync'ed. They describe kernel state — addresses of live containers, veths in their
 * namespaces — that a power loss erases anyway, and the next open reconciles them with the
 * containers that still live; skipping the two fsyncs halves the cost of an endpoint. A file
 * a power loss left torn reads as absent.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rename, unlink, writeFile } from 'node:fs/promises';

/** Writes `value` as JSON to `file` atomically (temp file + rename, no fsync). */
export async function writeStateFile(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, JSON.stringify(value), { mode: 0o600 });
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Reads a JSON state file; undefined when it is absent or torn. */
export async function readStateFile<T>(file: string): Promise<T | undefined> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8'); // synchronous, as util/atomic-file.ts says why
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
