/**
 * The graph driver interface, modelled on containerd's snapshotter: a driver keeps snapshots
 * (directories of file system content, each on an optional parent) and, for each, returns the
 * mounts that would assemble it. It never mounts a container's root itself: the runtime
 * performs those mounts inside the container's own mount namespace, so the host's mount table
 * never holds them and a crash cannot leak one. A third party implements this interface to
 * add a storage backend.
 *
 * Snapshots have three kinds: `active` (writable, made by {@link GraphDriver.prepare}), `view`
 * (read-only, made by {@link GraphDriver.view}) and `committed` (read-only, made from an active
 * one by {@link GraphDriver.commit}, usable as a parent). Only committed snapshots can be
 * parents; a snapshot with children cannot be removed.
 * @module
 */
import type { Readable } from 'node:stream';
import type { ApplyLayerOptions, ApplyLayerResult, LayerInput } from '../image/layer-apply.js';

/** One mount that assembles a snapshot at a target directory (the container's rootfs). */
export interface SnapshotMount {
  /** File system type: `overlay`, or `bind` for a bind mount of `source`. */
  type: string;
  /** The mount source: a host directory for `bind`, the file system's name otherwise. */
  source: string;
  /** Mount options as `mount -o` takes them: flags (`ro`, `rbind`, `nosuid`) and `key=value` data. */
  options: string[];
  /** The directory the mount is made from: relative paths in the options resolve against it (overlay2's short links). */
  cwd?: string;
}

/** The kind of a snapshot. */
export type SnapshotKind = 'active' | 'view' | 'committed';

/** What a driver records of a snapshot. */
export interface SnapshotInfo {
  /** The snapshot's key (its name, for a committed one). */
  key: string;
  /** The committed snapshot it was made on, if any. */
  parent?: string;
  /** Its kind. */
  kind: SnapshotKind;
  /** When it was made (ISO 8601). */
  created: string;
  /** Free-form labels given at creation (who owns it, for repair after a crash). */
  labels: Record<string, string>;
}

/** Disk usage of a snapshot's own content (not its parents'). */
export interface SnapshotUsage {
  /** Bytes used by regular files (apparent size; hard links counted once). */
  size: number;
  /** Number of inodes. */
  inodes: number;
}

/** The directories that make up a snapshot's tree (see {@link GraphDriver.layerDirs}). */
export interface LayerDirs {
  /** Host directories, topmost first: one full tree (vfs, btrfs), or an upper dir and its lowers (overlay2). */
  dirs: string[];
  /** `overlay`: whiteouts are 0:0 character devices and opaque directories carry `trusted.overlay.opaque=y`; `none`: a single full tree. */
  whiteouts: 'overlay' | 'none';
}

/** Options of {@link GraphDriver.prepare} and {@link GraphDriver.view}. */
export interface PrepareOptions {
  /** Labels recorded with the snapshot. */
  labels?: Record<string, string>;
}

/** Options of {@link GraphDriver.applyDiff}: those of {@link ApplyLayerOptions} but the whiteout format, which is the driver's. */
export type ApplyDiffOptions = Omit<ApplyLayerOptions, 'whiteoutFormat'>;

/** Options of {@link GraphDriver.commit}. */
export interface SnapshotCommitOptions {
  /**
   * Commit on this committed snapshot instead of the one the active snapshot was prepared on:
   * only where {@link GraphDriver.canRebase} (GraphDriverError ENOTSUP otherwise). Layers whose
   * DiffIDs are known beforehand are applied this way all at once, each on no parent, and
   * committed in order on the layer below.
   */
  parent?: string;
}

/** A storage backend: snapshots, the mounts that assemble them, and layer tars in and out. */
export interface GraphDriver {
  /** The driver's name (`overlay2`, `vfs`, `btrfs`). */
  readonly name: string;
  /** The directory holding the driver's data. */
  readonly home: string;

  /** Makes an active (writable) snapshot `key` on the committed snapshot `parent` (or empty) and returns its mounts. */
  prepare(key: string, parent?: string, options?: PrepareOptions): Promise<SnapshotMount[]>;
  /** Makes a read-only view `key` of the committed snapshot `parent` and returns its mounts. */
  view(key: string, parent: string, options?: PrepareOptions): Promise<SnapshotMount[]>;
  /** The mounts that assemble an existing active snapshot or view. */
  mounts(key: string): Promise<SnapshotMount[]>;
  /**
   * Whether {@link GraphDriver.commit} can put a snapshot on another parent than the one it was
   * prepared on: true where a snapshot's own content never depends on its parents' (overlay2's
   * upper directories), false where it is a copy of them (vfs, btrfs). Absent means false.
   */
  readonly canRebase?: boolean;
  /** Turns the active snapshot `key` into the committed snapshot `name` (on `options.parent`, if given); `key` is gone afterwards. */
  commit(name: string, key: string, options?: SnapshotCommitOptions): Promise<void>;
  /** Removes a snapshot (refused while it has children). */
  remove(key: string): Promise<void>;
  /** What the driver records of `key` (GraphDriverError ENOENT when absent). */
  stat(key: string): Promise<SnapshotInfo>;
  /** All snapshots. */
  list(): Promise<SnapshotInfo[]>;
  /** Disk usage of the snapshot's own content. */
  usage(key: string): Promise<SnapshotUsage>;
  /** Applies a layer tar (uncompressed, gzip or zstd) onto the active snapshot `key`, whiteouts in the driver's own form. */
  applyDiff(key: string, tar: LayerInput, options?: ApplyDiffOptions): Promise<ApplyLayerResult>;
  /** The changes of snapshot `key` against its parent, as an uncompressed layer tar with `.wh.` whiteouts. */
  diff(key: string): Readable;
  /** The host directories whose union is the snapshot's whole tree, topmost first, and how whiteouts appear in them. */
  layerDirs(key: string): Promise<LayerDirs>;
  /** Repair after a crash: removes active snapshots whose labels name an owner process that is gone. */
  repair(): Promise<void>;
}
