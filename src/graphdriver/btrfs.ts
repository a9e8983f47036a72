/**
 * The `btrfs` driver: every snapshot is a btrfs subvolume, `<home>/subvolumes/<id>`. A snapshot
 * without a parent is a new empty subvolume; one on a parent is a writable btrfs snapshot of the
 * parent's subvolume (copy-on-write, so preparing is O(1) whatever the image's size). Committed
 * snapshots are marked read-only. Each subvolume holds a full tree (whiteouts are applied by
 * removal, as vfs), and its mounts are a bind of the subvolume, read-only for a view (a bind of
 * its parent's). The driver never nests subvolumes; the btrfs calls are ioctls in the addon.
 * @module
 */
import { mkdir, statfs } from 'node:fs/promises';
import path from 'node:path';
import { NativeError } from '../errors.js';
import * as nat from '../native/index.js';
import { GraphDriverError } from './errors.js';
import type { SnapshotRecord } from './snapshot-records.js';
import { FullTreeDriver } from './full-tree-driver.js';

/** `f_type` of a btrfs file system in statfs(2). */
const BTRFS_SUPER_MAGIC = 0x9123683e;

/** Whether the directory `dir` is on a btrfs file system. */
export async function onBtrfs(dir: string): Promise<boolean> {
  return (await statfs(dir)).type === BTRFS_SUPER_MAGIC;
}

/** Runs one btrfs call, rethrowing its NativeError as a GraphDriverError with the same code. */
function btrfsCall(what: string, id: string, call: () => void): void {
  try {
    call();
  } catch (err) {
    if (!(err instanceof NativeError)) throw err;
    throw new GraphDriverError(`${what} failed: ${err.message}`, err.code, id, err);
  }
}

/** The btrfs driver: a subvolume per snapshot. */
export class BtrfsDriver extends FullTreeDriver {
  /** `btrfs`. */
  readonly name = 'btrfs';
  protected readonly storageDir: string;

  constructor(home: string) {
    super(home);
    this.storageDir = path.join(home, 'subvolumes');
  }

  /** Opens (creating) a btrfs driver at `home`; GraphDriverError ENOTSUP when `home` is not on btrfs. */
  static async open(home: string): Promise<BtrfsDriver> {
    const d = new BtrfsDriver(path.resolve(home));
    await mkdir(d.home, { recursive: true, mode: 0o700 });
    if (!(await onBtrfs(d.home))) {
      throw new GraphDriverError(`btrfs cannot be used on ${d.home}: it is not on a btrfs file system`, 'ENOTSUP', d.home);
    }
    await mkdir(d.storageDir, { recursive: true, mode: 0o700 });
    return d;
  }

  protected ownDir(rec: SnapshotRecord): string {
    return path.join(this.storageDir, rec.id);
  }

  protected async createStorage(rec: SnapshotRecord, parent: SnapshotRecord | undefined): Promise<void> {
    if (parent === undefined) {
      btrfsCall('creating a subvolume', rec.key, () => nat.btrfsSubvolCreate(this.storageDir, rec.id));
    } else {
      btrfsCall(`snapshotting ${parent.key}`, rec.key, () => nat.btrfsSnapshot(this.ownDir(parent), this.storageDir, rec.id, false));
    }
  }

  /** Marks a committed snapshot's subvolume read-only. */
  protected override async committed(rec: SnapshotRecord): Promise<void> {
    btrfsCall('marking the subvolume read-only', rec.key, () => nat.btrfsSetReadonly(this.ownDir(rec), true));
  }

  /** Deletes the subvolume `id` (made writable first: without CAP_SYS_ADMIN the kernel refuses a read-only one); a plain directory there is removed as a tree. */
  protected async removeStorage(id: string): Promise<void> {
    const dir = path.join(this.storageDir, id);
    let subvolume: boolean;
    try {
      subvolume = nat.btrfsIsSubvolume(dir);
    } catch (err) {
      if (err instanceof NativeError && err.code === 'ENOENT') return;
      throw err;
    }
    if (!subvolume) return this.removeTree(dir);
    btrfsCall('clearing the read-only flag', id, () => nat.btrfsSetReadonly(dir, false));
    btrfsCall('deleting the subvolume', id, () => nat.btrfsSubvolDelete(this.storageDir, id));
  }
}
