/**
 * The per-driver record of snapshots: one JSON file per snapshot under `<home>/snapshots/`,
 * holding its key, parent, kind, labels and the id of the storage directory the driver made for
 * it. Records are created exclusively (a second creator of one key gets `EEXIST`) and replaced
 * atomically; the storage id stays the same across a commit, so a commit only rewrites records.
 * @module
 */
import { link, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readJsonFiles, readJsonIfExists, removeStaleTemps, syncDir, tempName, writeFileAtomic, writeJsonAtomic } from '../util/atomic-file.js';
import type { SnapshotInfo } from './driver.js';
import { GraphDriverError } from './errors.js';

/** A snapshot's record: what {@link SnapshotInfo} says, plus the driver's storage id. */
export interface SnapshotRecord extends SnapshotInfo {
  /** The name of the driver's storage directory for this snapshot. */
  id: string;
}

const KEY_RE = /^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,254}$/;

/** Checks a snapshot key (letters, digits and `_.:@+-`, at most 255, no slash). */
export function checkKey(key: string): void {
  if (typeof key !== 'string' || !KEY_RE.test(key)) throw new GraphDriverError(`invalid snapshot key ${JSON.stringify(key)}`, 'EINVALIDKEY', String(key));
}

/** A fresh storage id: 32 hex digits. */
export function newStorageId(): string {
  return randomBytes(16).toString('hex');
}

/** The snapshot records of one driver. */
export class SnapshotRecords {
  /** `<home>/snapshots`. */
  readonly dir: string;

  constructor(home: string) {
    this.dir = path.join(home, 'snapshots');
  }

  private file(key: string): string {
    checkKey(key);
    return path.join(this.dir, `${key}.json`);
  }

  /** The record of `key`, or undefined. */
  find(key: string): Promise<SnapshotRecord | undefined> {
    return readJsonIfExists<SnapshotRecord>(this.file(key));
  }

  /** The record of `key`; GraphDriverError ENOENT when absent. */
  async get(key: string): Promise<SnapshotRecord> {
    const rec = await this.find(key);
    if (rec === undefined) throw new GraphDriverError('does not exist', 'ENOENT', key);
    return rec;
  }

  /** Writes a new record; GraphDriverError EEXIST when the key is taken (atomic across processes). */
  async create(rec: SnapshotRecord): Promise<void> {
    const file = this.file(rec.key);
    const temp = path.join(this.dir, tempName());
    await writeFileAtomic(temp, `${JSON.stringify(rec, null, 1)}\n`);
    try {
      await link(temp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new GraphDriverError('already exists', 'EEXIST', rec.key, err);
      throw err;
    } finally {
      await unlink(temp).catch(() => undefined);
    }
    await syncDir(this.dir);
  }

  /** Replaces an existing record. */
  async update(rec: SnapshotRecord): Promise<void> {
    await writeJsonAtomic(this.file(rec.key), rec);
  }

  /** Deletes a record (no error when absent). */
  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
    await syncDir(this.dir).catch(() => undefined);
  }

  /** All records. */
  async list(): Promise<SnapshotRecord[]> {
    return readJsonFiles<SnapshotRecord>(this.dir, /^[^.].*\.json$/);
  }

  /** Drops temp files of writers that are gone. */
  removeStaleTemps(): Promise<void> {
    return removeStaleTemps(this.dir);
  }
}
