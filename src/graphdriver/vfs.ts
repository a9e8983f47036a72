/**
 * The `vfs` driver: every snapshot is a full copy of its parent (`cp -a`, reflinked where the
 * file system can), so it works on any file system at the cost of space and time that grow with
 * the image. Its mounts are a bind of the snapshot's directory.
 * @module
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { LayerDirs, SnapshotMount } from './driver.js';
import { copyTree } from './copy-tree.js';
import type { SnapshotRecord } from './snapshot-records.js';
import { SnapshotterBase } from './snapshotter-base.js';

/** The vfs driver: full copies. */
export class VfsDriver extends SnapshotterBase {
  /** `vfs`. */
  readonly name = 'vfs';
  protected readonly whiteouts = 'vfs';
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

  protected async mountsOf(rec: SnapshotRecord): Promise<SnapshotMount[]> {
    if (rec.kind === 'view') {
      const parent = await this.record(rec.parent ?? '', 'committed');
      return [{ type: 'bind', source: this.ownDir(parent), options: ['rbind', 'ro'] }];
    }
    return [{ type: 'bind', source: this.ownDir(rec), options: ['rbind', 'rw'] }];
  }

  /** One full tree: the snapshot's own directory (a view's parent's). */
  async layerDirs(key: string): Promise<LayerDirs> {
    const rec = await this.records.get(key);
    const own = rec.kind === 'view' ? await this.record(rec.parent ?? '', 'committed') : rec;
    return { dirs: [this.ownDir(own)], whiteouts: 'none' };
  }
}
