/**
 * What every bundled driver shares: snapshot records, keys and kinds, the parent/children
 * rules, the cross-process lock, crash repair, and diffs and layer application through the
 * driver's directories. A driver subclass only makes and removes storage and says which mounts
 * assemble a snapshot. Views have no storage of their own: they are read-only mounts of their
 * parent's tree.
 * @module
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { applyLayerInto, type ApplyLayerResult, type LayerInput } from '../image/layer-apply.js';
import { withFileLock } from '../util/file-lock.js';
import { processAlive } from '../util/process-alive.js';
import type {
  ApplyDiffOptions,
  SnapshotCommitOptions,
  GraphDriver,
  LayerDirs,
  PrepareOptions,
  SnapshotInfo,
  SnapshotKind,
  SnapshotMount,
  SnapshotUsage,
} from './driver.js';
import { GraphDriverError } from './errors.js';
import { diffTar } from './diff-tar.js';
import { treeUsage } from './tree-usage.js';
import { checkKey, newStorageId, SnapshotRecords, type SnapshotRecord } from './snapshot-records.js';

/** Label naming the process that owns a temporary snapshot: {@link GraphDriver.repair} removes it once that process is gone. */
export const OWNER_PID_LABEL = 'berth.owner-pid';

/** Base class of the bundled drivers. */
export abstract class SnapshotterBase implements GraphDriver {
  /** The driver's name. */
  abstract readonly name: string;
  /** The snapshot records. */
  protected readonly records: SnapshotRecords;

  constructor(
    /** The directory holding the driver's data. */
    readonly home: string,
  ) {
    this.records = new SnapshotRecords(home);
  }

  /** How this driver stores whiteouts in a snapshot's own directory. */
  protected abstract readonly whiteouts: 'overlay' | 'vfs';
  /** The directory holding all storage directories (repair removes those no record names). */
  protected abstract readonly storageDir: string;
  /** Makes the storage of a new active snapshot on `parent` (its record exists already). */
  protected abstract createStorage(rec: SnapshotRecord, parent: SnapshotRecord | undefined): Promise<void>;
  /** Removes a snapshot's storage. */
  protected abstract removeStorage(id: string): Promise<void>;
  /** The mounts that assemble an active snapshot or a view. */
  protected abstract mountsOf(rec: SnapshotRecord): Promise<SnapshotMount[]>;
  /** The directories whose union is a snapshot's tree, topmost first. */
  abstract layerDirs(key: string): Promise<LayerDirs>;
  /** The host directory holding a snapshot's own content (where a diff is applied). */
  protected abstract ownDir(rec: SnapshotRecord): string;
  /** Called once an active snapshot has been committed (btrfs marks the subvolume read-only). */
  protected async committed(_rec: SnapshotRecord): Promise<void> {}
  /** Whether a commit can change a snapshot's parent (see {@link GraphDriver.canRebase}). */
  readonly canRebase: boolean = false;
  /** Puts the storage of active `rec` on the committed `parent` before it is committed on it (only where {@link canRebase}). */
  protected async rebase(_rec: SnapshotRecord, _parent: SnapshotRecord): Promise<void> {}

  /** Runs `fn` holding the driver's lock. */
  protected locked<T>(fn: () => Promise<T>): Promise<T> {
    return withFileLock(path.join(this.home, '.lock'), true, fn);
  }

  /** The record of `key`, which must be of one of `kinds`. */
  protected async record(key: string, ...kinds: SnapshotKind[]): Promise<SnapshotRecord> {
    const rec = await this.records.get(key);
    if (kinds.length > 0 && !kinds.includes(rec.kind)) {
      throw new GraphDriverError(`is ${rec.kind}, not ${kinds.join(' or ')}`, 'EINVALIDKIND', key);
    }
    return rec;
  }

  /** Makes a snapshot record (and for active ones, storage) on `parent`. */
  private async make(kind: 'active' | 'view', key: string, parentKey: string | undefined, options: PrepareOptions): Promise<SnapshotRecord> {
    checkKey(key);
    return this.locked(async () => {
      const parent = parentKey === undefined ? undefined : await this.record(parentKey, 'committed');
      const rec: SnapshotRecord = {
        key,
        ...(parentKey === undefined ? {} : { parent: parentKey }),
        kind,
        created: new Date().toISOString(),
        labels: { ...(options.labels ?? {}) },
        id: kind === 'view' ? '' : newStorageId(),
      };
      await this.records.create(rec);
      if (kind === 'active') {
        try {
          await this.createStorage(rec, parent);
        } catch (err) {
          await this.removeStorage(rec.id).catch(() => undefined);
          await this.records.delete(key);
          throw err;
        }
      }
      return rec;
    });
  }

  /** Makes an active (writable) snapshot on `parent` and returns its mounts. */
  async prepare(key: string, parent?: string, options: PrepareOptions = {}): Promise<SnapshotMount[]> {
    return this.mountsOf(await this.make('active', key, parent, options));
  }

  /** Makes a read-only view of `parent` and returns its mounts. */
  async view(key: string, parent: string, options: PrepareOptions = {}): Promise<SnapshotMount[]> {
    return this.mountsOf(await this.make('view', key, parent, options));
  }

  /** The mounts of an active snapshot or a view. */
  async mounts(key: string): Promise<SnapshotMount[]> {
    return this.mountsOf(await this.record(key, 'active', 'view'));
  }

  /** Turns active `key` into committed `name`, on `options.parent` if given (drivers that {@link canRebase} only). */
  async commit(name: string, key: string, options: SnapshotCommitOptions = {}): Promise<void> {
    checkKey(name);
    await this.locked(async () => {
      const rec = await this.record(key, 'active');
      let parent = rec.parent;
      if (options.parent !== undefined && options.parent !== rec.parent) {
        if (!this.canRebase) throw new GraphDriverError(`cannot be committed on ${options.parent}: a ${this.name} snapshot holds a copy of its parent`, 'ENOTSUP', key);
        await this.rebase(rec, await this.record(options.parent, 'committed'));
        parent = options.parent;
      }
      const done: SnapshotRecord = { ...rec, ...(parent === undefined ? {} : { parent }), key: name, kind: 'committed', labels: withoutOwner(rec.labels) };
      await this.records.create(done);
      await this.records.delete(key);
      await this.committed(done);
    });
  }

  /** Removes a snapshot that has no children. */
  async remove(key: string): Promise<void> {
    await this.locked(async () => {
      const rec = await this.records.get(key);
      const child = (await this.records.list()).find((r) => r.parent === key);
      if (child !== undefined) throw new GraphDriverError(`has a child snapshot ${child.key}`, 'EBUSY', key);
      await this.records.delete(key);
      if (rec.id !== '') await this.removeStorage(rec.id);
    });
  }

  /** What is recorded of `key`. */
  async stat(key: string): Promise<SnapshotInfo> {
    return publicInfo(await this.records.get(key));
  }

  /** All snapshots. */
  async list(): Promise<SnapshotInfo[]> {
    return (await this.records.list()).map(publicInfo);
  }

  /** Disk usage of the snapshot's own content (a view has none). */
  async usage(key: string): Promise<SnapshotUsage> {
    const rec = await this.records.get(key);
    if (rec.kind === 'view') return { size: 0, inodes: 0 };
    return treeUsage(this.ownDir(rec));
  }

  /** Applies a layer tar onto the active snapshot `key`. */
  async applyDiff(key: string, tar: LayerInput, options: ApplyDiffOptions = {}): Promise<ApplyLayerResult> {
    const rec = await this.record(key, 'active');
    return applyLayerInto(tar, this.ownDir(rec), { ...options, whiteoutFormat: this.whiteouts });
  }

  /** The changes of `key` against its parent as a layer tar. */
  diff(key: string): Readable {
    return diffTar(async () => {
      const rec = await this.records.get(key);
      if (this.whiteouts === 'overlay') return { kind: 'overlay', upper: this.ownDir(rec) };
      const parent = rec.parent === undefined ? undefined : this.ownDir(await this.records.get(rec.parent));
      return { kind: 'compare', dir: this.ownDir(rec), parent };
    });
  }

  /**
   * Crash repair: drops temp files, removes active snapshots whose owner process is gone,
   * the active twin of a snapshot whose commit was cut short, and storage no record names.
   */
  async repair(): Promise<void> {
    await this.locked(async () => {
      await this.records.removeStaleTemps();
      const recs = await this.records.list();
      const committedIds = new Set(recs.filter((r) => r.kind === 'committed').map((r) => r.id));
      const keep = new Set<string>();
      for (const rec of recs) {
        const owner = Number(rec.labels[OWNER_PID_LABEL]);
        const orphaned = rec.kind === 'active' && Number.isInteger(owner) && owner > 0 && !processAlive(owner);
        const halfCommitted = rec.kind === 'active' && committedIds.has(rec.id);
        if (halfCommitted) {
          await this.records.delete(rec.key);
        } else if (orphaned && !recs.some((r) => r.parent === rec.key)) {
          await this.records.delete(rec.key);
        } else if (rec.id !== '') {
          keep.add(rec.id);
        }
      }
      let names: string[] = [];
      try {
        names = await readdir(this.storageDir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      for (const name of names) {
        if (/^[0-9a-f]{32}$/.test(name) && !keep.has(name)) await this.removeStorage(name);
      }
    });
  }

  /** Removes a leftover directory tree. */
  protected async removeTree(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Labels without the owner pid (a committed snapshot has no owner). */
function withoutOwner(labels: Record<string, string>): Record<string, string> {
  const { [OWNER_PID_LABEL]: _owner, ...rest } = labels;
  return rest;
}

/** The public part of a record. */
function publicInfo(rec: SnapshotRecord): SnapshotInfo {
  return {
    key: rec.key,
    ...(rec.parent === undefined ? {} : { parent: rec.parent }),
    kind: rec.kind,
    created: rec.created,
    labels: rec.labels,
  };
}
