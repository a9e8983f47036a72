/**
 * The `vfs` driver: every snapshot is a full copy of its parent (`cp -a`, reflinked where the
 * file system can), so it works on any file system at the cost of space and time that grow with
 * the image. Its mounts are a bind of the snapshot's directory.
 * @module
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { copyTree } from './copy-tree.js';
import type { SnapshotRecord } from './snapshot-records.js';
import { FullTreeDriver } from './full-tree-driver.js';

/** The vfs driver: full copies. */
export class VfsDriver extends FullTreeDriver {
  /** `vfs`. */
  readonly name = 'vfs';
  protected readonly storageDir: string;

  constructor(home: string) {
    super(home);
    this.storageDir = path.join(home, 'dir');
  }

  /** Opens (creating) a vfs driver at `home`. */
  static async open(home: string): Promise<VfsDriver> {
    const d = new VfsDriver(path.resolve(home));
    await mkdir(d.storageDir, { recursive: true, mode: 0o700 });
    return d;
  }

  protected ownDir(rec: SnapshotRecord): string {
    return path.join(this.storageDir, rec.id);
  }

  protected async createStorage(rec: SnapshotRecord, parent: SnapshotRecord | undefined): Promise<void> {
    const dir = this.ownDir(rec);
    await mkdir(dir, { mode: 0o755 });
    if (parent !== undefined) await copyTree(this.ownDir(parent), dir);
  }

  protected async removeStorage(id: string): Promise<void> {
    await this.removeTree(path.join(this.storageDir, id));
  }
}
