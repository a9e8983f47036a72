/**
 * Layers keyed by chainID, each a committed graph-driver snapshot of the same name. A layer tar
 * is applied into a temporary active snapshot on its parent's (labelled with this process's pid
 * so crash repair can drop it), its DiffID checked, and committed under its chainID; the record
 * (`<root>/layers/<hex>.json`: chainID, DiffID, parent, size) is written atomically afterwards.
 * Two processes registering one layer at once both succeed: the second commit meets the first's
 * and discards its own copy.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { GraphDriver } from '../graphdriver/driver.js';
import { GraphDriverError } from '../graphdriver/errors.js';
import { OWNER_PID_LABEL } from '../graphdriver/snapshotter-base.js';
import { readJsonFiles, readJsonIfExists, removeStaleTemps, writeJsonAtomic } from '../util/atomic-file.js';
import { digestHex, sha256, type Digest } from './digest.js';
import { BerthError } from '../errors.js';
import { ContentError, LayerError } from './errors.js';
import { isFileRange, type ApplyLayerOptions, type ApplyLayerResult, type FileRange, type LayerInput } from './layer-apply.js';
import { layerWorkerCount } from './layer-workers.js';

/** What is recorded of a layer. */
export interface LayerRecord {
  /** The layer's chainID (its identity in the store and its snapshot's key). */
  chainID: Digest;
  /** sha256 of its uncompressed tar. */
  diffID: Digest;
  /** The chainID of the layer below, if any. */
  parent?: Digest;
  /** Size of its uncompressed tar in bytes. */
  size: number;
  /** When it was registered. */
  created: string;
}

/** What {@link LayerStore.register} returns: the layer's record and the digest of the blob as given. */
export interface RegisteredLayer extends LayerRecord {
  /** sha256 of the blob as given (compressed, if it was). */
  digest: Digest;
  /** Whether the blob was read and applied: false when the layer was stored already (its blob untouched, no copy made). */
  applied: boolean;
  /** The compression the blob was found to have, when it was applied. */
  compression?: 'none' | 'gzip' | 'zstd';
}

/** Options of {@link LayerStore.register}. */
export interface RegisterOptions {
  /** The digest the blob as given must have (compressed, if it is). */
  expectedDigest?: Digest;
  /** The DiffID the layer must have. */
  expectedDiffID?: Digest;
  /** A new file to copy the blob as given to while it is applied (see {@link ApplyLayerOptions.copyTo}); untouched when the layer is stored already. */
  copyTo?: string;
  /**
   * What the blob is called where it comes from (an archive's entry): this layer's errors name
   * it as their path, and a blob that does not match `expectedDigest` is a ContentError.
   */
  name?: string;
}

/** One layer of a stack for {@link LayerStore.registerStack}: its blob and what it must be. */
export interface StackLayer extends RegisterOptions {
  /** The blob (uncompressed, gzip or zstd), or the promise of a file range: a blob still being fetched, applied once it is there. */
  source: LayerInput | Promise<FileRange>;
}

/** Options of {@link LayerStore.registerStack}. */
export interface RegisterStackOptions {
  /** Called as each layer of the stack starts to apply (`applying`) and once it is stored (`stored`; also for one stored already). */
  onLayer?: (index: number, state: 'applying' | 'stored') => void;
  /** Stops the stack: no layer starts to apply once it is aborted (those applying finish), and its reason is thrown. */
  signal?: AbortSignal;
}

/** The chainID of a layer with DiffID `diffID` on the layer `parent` (OCI image-spec). */
export function chainID(parent: Digest | undefined, diffID: Digest): Digest {
  return parent === undefined ? diffID : sha256(`${parent} ${diffID}`);
}

/** The chainIDs of a stack of DiffIDs, bottom first. */
export function chainIDs(diffIDs: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIDs) out.push(chainID(out[out.length - 1], d));
  return out;
}

/** A layer's error naming the blob `name` it came from; a blob digest mismatch becomes a ContentError. */
function namedError(err: unknown, name: string, expectedDigest: Digest | undefined): unknown {
  if (!(err instanceof BerthError) || err.path === name) return err;
  if (err instanceof LayerError && err.code === 'EDIGEST' && expectedDigest !== undefined && err.path === expectedDigest) {
    return new ContentError(`${name}: ${err.message}`, 'EDIGEST', { expected: expectedDigest, path: name, cause: err });
  }
  if (err instanceof ContentError) return new ContentError(`${name}: ${err.message}`, err.code, { expected: err.expected, actual: err.actual, path: name, cause: err });
  return new LayerError(err.message, err.code, name, err);
}

/** Runs at most `size` tasks at once, in the order they are given. */
class Slots {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly size: number) {}

  /** Runs `task` once a slot is free (a slot passes straight to the task that waited longest). */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.size) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.running--;
    }
  }
}

/** A handle on one stored layer. */
export class Layer {
  constructor(
    /** The store holding it. */
    readonly store: LayerStore,
    /** What is recorded of it. */
    readonly record: LayerRecord,
  ) {}

  /** Its chainID. */
  get chainID(): Digest {
    return this.record.chainID;
  }

  /** Its DiffID. */
  get diffID(): Digest {
    return this.record.diffID;
  }

  /** Size of its uncompressed tar in bytes. */
  get size(): number {
    return this.record.size;
  }

  /** The layer below, if any. */
  async parent(): Promise<Layer | undefined> {
    return this.record.parent === undefined ? undefined : this.store.layer(this.record.parent);
  }

  /** Its content as an uncompressed layer tar. */
  tar(): Readable {
    return this.store.tar(this.chainID);
  }
}

/** The layer store of one root. */
export class LayerStore {
  /** `<root>/layers`. */
  readonly dir: string;

  constructor(
    root: string,
    /** The graph driver holding the layers' content. */
    readonly driver: GraphDriver,
  ) {
    this.dir = path.join(root, 'layers');
  }

  private file(id: Digest): string {
    return path.join(this.dir, `${digestHex(id)}.json`);
  }

  /** The record of a layer, or undefined. */
  find(id: Digest): Promise<LayerRecord | undefined> {
    return readJsonIfExists<LayerRecord>(this.file(id));
  }

  /** The record of a layer; LayerError ENOENT when absent. */
  async get(id: Digest): Promise<LayerRecord> {
    const rec = await this.find(id);
    if (rec === undefined) throw new LayerError('layer not found', 'ENOENT', id);
    return rec;
  }

  /** A handle on layer `id`; LayerError ENOENT when absent. */
  async layer(id: Digest): Promise<Layer> {
    return new Layer(this, await this.get(id));
  }

  /** All layer records. */
  async list(): Promise<LayerRecord[]> {
    return readJsonFiles<LayerRecord>(this.dir, /^[0-9a-f]{64}\.json$/);
  }

  /**
   * Applies a layer tar (uncompressed, gzip or zstd) on the layer `parent` and records it; the
   * existing record when the layer is already present. LayerError on a bad tar or digest, and
   * nothing is kept.
   */
  async register(tar: LayerInput, parent: Digest | undefined, options: RegisterOptions = {}): Promise<RegisteredLayer> {
    if (parent !== undefined) await this.get(parent);
    if (options.expectedDiffID !== undefined) {
      const known = await this.find(chainID(parent, options.expectedDiffID));
      if (known !== undefined) return this.alreadyStored(known, tar, options);
    }
    return this.applyOn(tar, parent, options);
  }

  /** Applies a layer on `parent` (this thread) and commits it: what {@link register} does for a layer not stored yet. */
  private async applyOn(tar: LayerInput, parent: Digest | undefined, options: RegisterOptions): Promise<RegisteredLayer> {
    const ingest = await this.prepareIngest(parent);
    const applied = await this.applyInto(ingest, tar, options, false);
    return this.commitIngest(ingest, applied, parent);
  }

  /**
   * Registers a stack of layers, bottom first, on the layer `parent` (or none); the records in
   * the same order. Where the driver {@link GraphDriver.canRebase} and every layer's DiffID is
   * given and its blob is a {@link FileRange} (or the promise of one), the layers are applied
   * all at once on worker threads (one per core; each as soon as its blob is there), each into a
   * snapshot on no parent, and committed in order on the layer below; otherwise one after
   * another, as {@link register}. On failure nothing of the stack that was not committed is
   * kept (what was is left to garbage collection), and the first failing layer's error is thrown.
   */
  async registerStack(layers: readonly StackLayer[], parent?: Digest, options: RegisterStackOptions = {}): Promise<RegisteredLayer[]> {
    if (parent !== undefined) await this.get(parent);
    const out: RegisteredLayer[] = [];
    const onLayer = options.onLayer ?? (() => undefined);
    // A source still being fetched may fail before its turn: that is seen when its turn comes.
    for (const l of layers) if (l.source instanceof Promise) l.source.catch(() => undefined);
    const together = this.driver.canRebase === true && layers.length > 1 && layers.every((l) => l.expectedDiffID !== undefined && (isFileRange(l.source) || l.source instanceof Promise));
    if (!together) {
      for (const [i, l] of layers.entries()) {
        const below = out[out.length - 1]?.chainID ?? parent;
        const k = l.expectedDiffID === undefined ? undefined : await this.find(chainID(below, l.expectedDiffID));
        if (k !== undefined) out.push(this.alreadyStored(k, l.source, l));
        else {
          const source = await l.source;
          options.signal?.throwIfAborted();
          onLayer(i, 'applying');
          out.push(l.expectedDiffID === undefined ? await this.register(source, below, l) : await this.applyOn(source, below, l));
        }
        onLayer(i, 'stored');
      }
      return out;
    }
    const ids: Digest[] = [];
    for (const l of layers) ids.push(chainID(ids[ids.length - 1] ?? parent, l.expectedDiffID!));
    // The first failure stops the rest: no layer starts to apply, none waits for its source.
    const stop = new AbortController();
    const stopped = new Promise<undefined>((resolve) => stop.signal.addEventListener('abort', () => resolve(undefined), { once: true }));
    const known = await Promise.all(ids.map((id) => this.find(id)));
    const slots = new Slots(layerWorkerCount());
    const applies = layers.map(async (l, i) => {
      if (known[i] !== undefined) return undefined;
      const source = await Promise.race([l.source, stopped]);
      if (source === undefined) return undefined;
      return slots.run(async () => {
        if (stop.signal.aborted) return undefined;
        options.signal?.throwIfAborted();
        onLayer(i, 'applying');
        const ingest = await this.prepareIngest(undefined);
        return { ingest, applied: await this.applyInto(ingest, source, l, true) };
      });
    });
    for (const a of applies) a.catch(() => undefined); // awaited in order below; a later one may fail first
    let i = 0;
    try {
      for (; i < layers.length; i++) {
        const l = layers[i]!;
        const k = known[i];
        if (k !== undefined) out.push(this.alreadyStored(k, l.source, l));
        else {
          const done = (await applies[i])!;
          out.push(await this.commitIngest(done.ingest, done.applied, i === 0 ? parent : ids[i - 1]));
        }
        onLayer(i, 'stored');
        options.signal?.throwIfAborted();
      }
    } catch (err) {
      // Stop the rest, let those applying finish, then drop the snapshots not committed.
      stop.abort();
      const settled = await Promise.allSettled(applies.slice(i + 1));
      for (const r of settled) if (r.status === 'fulfilled' && r.value !== undefined) await this.driver.remove(r.value.ingest).catch(() => undefined);
      throw err;
    }
    return out;
  }

  /** The result for a layer found stored already: its blob is not read (a stream is destroyed). */
  private alreadyStored(known: LayerRecord, tar: LayerInput | Promise<FileRange>, options: RegisterOptions): RegisteredLayer {
    if (!(tar instanceof Uint8Array) && !(tar instanceof Promise) && !isFileRange(tar) && 'destroy' in tar) (tar as Readable).destroy();
    return { ...known, digest: options.expectedDigest ?? known.diffID, applied: false };
  }

  /** A new active snapshot to apply a layer into, labelled with this process as its owner (crash repair drops it). */
  private async prepareIngest(parent: Digest | undefined): Promise<string> {
    const ingest = `ingest-${process.pid}-${randomBytes(6).toString('hex')}`;
    await this.driver.prepare(ingest, parent, { labels: { [OWNER_PID_LABEL]: String(process.pid) } });
    return ingest;
  }

  /** Applies a blob into the ingest snapshot; the snapshot is removed if that fails. */
  private async applyInto(ingest: string, tar: LayerInput, options: RegisterOptions, worker: boolean): Promise<ApplyLayerResult> {
    const { name, expectedDigest, expectedDiffID, copyTo } = options;
    try {
      return await this.driver.applyDiff(ingest, tar, { expectedDigest, expectedDiffID, copyTo, worker });
    } catch (err) {
      await this.driver.remove(ingest).catch(() => undefined);
      throw name === undefined ? err : namedError(err, name, expectedDigest);
    }
  }

  /** Commits an applied ingest snapshot as its layer on `parent` and records it (or meets another process's commit of it). */
  private async commitIngest(ingest: string, applied: ApplyLayerResult, parent: Digest | undefined): Promise<RegisteredLayer> {
    const id = chainID(parent, applied.diffID);
    const fromApply = { digest: applied.digest, applied: true, compression: applied.compression } as const;
    let committed = false;
    try {
      try {
        await this.driver.commit(id, ingest, parent === undefined ? {} : { parent });
        committed = true;
      } catch (err) {
        if (!(err instanceof GraphDriverError && err.code === 'EEXIST')) throw err;
      }
      const existing = await this.find(id);
      if (existing !== undefined) return { ...existing, ...fromApply };
      const rec: LayerRecord = { chainID: id, diffID: applied.diffID, ...(parent === undefined ? {} : { parent }), size: applied.size, created: new Date().toISOString() };
      await writeJsonAtomic(this.file(id), rec);
      return { ...rec, ...fromApply };
    } finally {
      if (!committed) await this.driver.remove(ingest).catch(() => undefined);
    }
  }

  /** The layer's content as an uncompressed tar (its changes against its parent). */
  tar(id: Digest): Readable {
    return this.driver.diff(id);
  }

  /** Removes a layer (GraphDriverError EBUSY while a layer or container snapshot sits on it). */
  async remove(id: Digest): Promise<void> {
    await this.get(id);
    await this.driver.remove(id).catch((err: unknown) => {
      if (!(err instanceof GraphDriverError && err.code === 'ENOENT')) throw err;
    });
    await rm(this.file(id), { force: true });
  }

  /**
   * Crash repair: drops temp files, records whose snapshot is gone, and committed layer
   * snapshots no record names (a registration cut short between commit and record).
   */
  async repair(): Promise<void> {
    await removeStaleTemps(this.dir);
    const snaps = await this.driver.list();
    const keys = new Set(snaps.map((s) => s.key));
    const records = await this.list();
    const recorded = new Set<string>();
    for (const rec of records) {
      if (keys.has(rec.chainID)) recorded.add(rec.chainID);
      else await rm(this.file(rec.chainID), { force: true });
    }
    const parents = new Set(snaps.map((s) => s.parent));
    for (const s of snaps) {
      if (s.kind === 'committed' && /^sha256:[0-9a-f]{64}$/.test(s.key) && !recorded.has(s.key) && !parents.has(s.key)) {
        await this.driver.remove(s.key).catch(() => undefined);
      }
    }
  }
}
