/**
 * What the drivers whose snapshots are each a full tree (vfs, btrfs) share: whiteouts applied
 * by removal, a snapshot's mounts are a bind of its own directory (read-only for a view, which
 * binds its parent's), and its layer dirs are that one directory.
 * @module
 */
import type { LayerDirs, SnapshotMount } from './driver.js';
import type { SnapshotRecord } from './snapshot-records.js';
import { SnapshotterBase } from './snapshotter-base.js';

/** Base class of drivers whose snapshots each hold a whole tree. */
export abstract class FullTreeDriver extends SnapshotterBase {
  protected readonly whiteouts = 'vfs';

  /** The record whose directory a snapshot shows: its own, or a view's parent's. */
  private async treeOf(rec: SnapshotRecord): Promise<SnapshotRecord> {
    return rec.kind === 'view' ? this.record(rec.parent ?? '', 'committed') : rec;
  }

  protected async mountsOf(rec: SnapshotRecord): Promise<SnapshotMount[]> {
    const tree = await this.treeOf(rec);
    return [{ type: 'bind', source: this.ownDir(tree), options: ['rbind', rec.kind === 'view' ? 'ro' : 'rw'] }];
  }

  /** One full tree: the snapshot's own directory (a view's parent's). */
  async layerDirs(key: string): Promise<LayerDirs> {
    return { dirs: [this.ownDir(await this.treeOf(await this.records.get(key)))], whiteouts: 'none' };
  }
}
