/**
 * Storing the images an archive's plans describe, in three steps so that a bad archive stores
 * no image: first every config is read, its digest checked and its DiffIDs matched with the
 * layers, and every layer entry looked up; then each layer blob is kept in the content store as
 * given (compressed or not, its digest checked) and registered in the layer store, its DiffID
 * checked against the config; only then are the image records and their names written. The
 * caller holds the store's ingest lock throughout and collects garbage if this throws.
 * @module
 */
import { open, rm } from 'node:fs/promises';
import { COMPRESSION_MAGIC_LENGTH, detectCompression, layerMediaType, type SupportedCompression } from '../compression.js';
import { digestHex, sha256, type Digest } from '../digest.js';
import { ContentError, ImageError, LayerError } from '../errors.js';
import type { BlobInfo } from '../content-store.js';
import type { Image, ImageLayer, ImageStore } from '../image-store.js';
import type { StackLayer } from '../layer-store.js';
import type { ImageConfig } from '../oci.js';
import { familiarString, referenceString, type Reference } from '../reference.js';
import type { ArchiveFiles } from './archive-files.js';
import { parseArchiveJson, readPlannedBlob, type ImagePlan, type PlannedBlob } from './image-plan.js';

/** A progress event of a load. */
export type LoadProgress =
  | {
      /** The archive is being read into a temp directory. */
      stage: 'read';
      /** Entries read so far. */
      entries: number;
      /** Bytes read so far. */
      bytes: number;
    }
  | {
      /** A layer was stored (or found already stored). */
      stage: 'layer';
      /** The image it belongs to. */
      image: Digest;
      /** Its position in the image, from 0. */
      index: number;
      /** How many layers the image has. */
      count: number;
      /** Its DiffID. */
      diffID: Digest;
    }
  | {
      /** An image was stored. */
      stage: 'image';
      /** Its id. */
      id: Digest;
      /** The names it was given, familiar form. */
      references: string[];
    };

/** What a load stored. */
export interface LoadResult {
  /** The images loaded, in archive order. */
  images: Image[];
  /** The names given to them, familiar form (`busybox:latest`), as `docker load` prints them. */
  references: string[];
}

/** Options of {@link ingestPlans}. */
export interface IngestOptions {
  /** Called as layers and images are stored. */
  onProgress?: (event: LoadProgress) => void;
  /** Stops the load: no layer starts to apply once it is aborted, and nothing of it is kept (the signal's reason is thrown). */
  signal?: AbortSignal;
}

/** A plan with its config read and checked. */
interface CheckedPlan {
  id: Digest;
  plan: ImagePlan;
  configBytes: Buffer;
  diffIDs: Digest[];
  references: Map<string, Reference>;
}

/** Reads and checks an image's config and looks up its layer entries. */
async function check(files: ArchiveFiles, plan: ImagePlan): Promise<CheckedPlan> {
  const configBytes = await readPlannedBlob(files, plan.config);
  const config = parseArchiveJson<Partial<ImageConfig>>(configBytes, plan.config.name, 'image config');
  const diffIDs = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIDs)) throw new ImageError(`image config ${plan.config.name} has no rootfs.diff_ids`, 'EINVALIDARCHIVE', plan.config.name);
  if (diffIDs.length !== plan.layers.length) {
    throw new ImageError(`image config ${plan.config.name} lists ${diffIDs.length} layers, ${plan.source} gives ${plan.layers.length}`, 'EINVALIDARCHIVE', plan.config.name);
  }
  for (const d of diffIDs) {
    try {
      digestHex(d);
    } catch (err) {
      throw new ImageError(`image config ${plan.config.name} has an invalid DiffID ${JSON.stringify(d)}`, 'EINVALIDARCHIVE', plan.config.name, err);
    }
  }
  for (const l of plan.layers) {
    const size = await files.size(l.name);
    if (size === undefined) throw new ImageError(`${plan.source} names layer ${l.name}, which the archive lacks`, 'EINVALIDARCHIVE', l.name);
    if (l.size !== undefined && size !== l.size) throw new ImageError(`archive entry ${l.name} has ${size} bytes, its descriptor says ${l.size}`, 'EINVALIDARCHIVE', l.name);
  }
  return { id: sha256(configBytes), plan, configBytes, diffIDs, references: new Map(plan.references.map((r) => [referenceString(r), r])) };
}

/** The compression of a stored blob, from its first bytes. */
async function blobCompression(store: ImageStore, digest: Digest): Promise<SupportedCompression> {
  const fh = await open(store.content.path(digest), 'r');
  try {
    const head = Buffer.alloc(COMPRESSION_MAGIC_LENGTH);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const c = detectCompression(head.subarray(0, bytesRead));
    if (c === 'bzip2' || c === 'xz') throw new LayerError(`${c}-compressed layers are not supported (only gzip, zstd or uncompressed)`, 'EUNSUPPORTEDCOMPRESSION', digest);
    return c;
  } finally {
    await fh.close();
  }
}

/** Keeps a layer blob in the content store from the archive (checking its digest), unless it is there already. */
async function keepBlob(store: ImageStore, files: ArchiveFiles, l: PlannedBlob): Promise<BlobInfo> {
  const size = l.digest === undefined ? undefined : await store.content.size(l.digest);
  if (size !== undefined) return { digest: l.digest!, size };
  try {
    return await store.content.write(await files.open(l.name), l.digest);
  } catch (err) {
    if (err instanceof ContentError) throw new ContentError(`archive entry ${l.name}: ${err.message}`, err.code, { expected: err.expected, actual: err.actual, path: l.name, cause: err });
    throw err;
  }
}

/**
 * Registers an image's layers and keeps their blobs. Each blob is read once, straight from
 * where the archive holds it: applied (on worker threads, all at once, where the driver allows)
 * and copied into the content store as it is applied; a layer stored already only has its
 * blob kept, if it is missing.
 */
async function storeLayers(store: ImageStore, files: ArchiveFiles, c: CheckedPlan, options: IngestOptions): Promise<ImageLayer[]> {
  options.signal?.throwIfAborted();
  const stack: StackLayer[] = [];
  for (const [i, l] of c.plan.layers.entries()) {
    const source = await files.range(l.name);
    if (source === undefined) throw new ImageError(`${c.plan.source} names layer ${l.name}, which the archive lacks`, 'EINVALIDARCHIVE', l.name);
    const kept = l.digest !== undefined && (await store.content.size(l.digest)) !== undefined;
    stack.push({ source, name: l.name, expectedDiffID: c.diffIDs[i]!, ...(l.digest === undefined ? {} : { expectedDigest: l.digest }), ...(kept ? {} : { copyTo: store.content.tempPath() }) });
  }
  try {
    const registered = await store.layers.registerStack(stack, undefined, {
      ...(options.signal ? { signal: options.signal } : {}),
      onLayer: (i, state) => {
        if (state === 'stored') options.onProgress?.({ stage: 'layer', image: c.id, index: i, count: c.plan.layers.length, diffID: c.diffIDs[i]! });
      },
    });
    const layers: ImageLayer[] = [];
    for (const [i, l] of c.plan.layers.entries()) {
      const r = registered[i]!;
      const copy = stack[i]!.copyTo;
      const { digest, size } = copy !== undefined && r.applied ? await store.content.adopt(copy, r.digest) : await keepBlob(store, files, l);
      const mediaType = l.mediaType ?? layerMediaType(r.compression ?? (await blobCompression(store, digest)), 'docker');
      layers.push({ chainID: r.chainID, diffID: r.diffID, blob: { mediaType, digest, size } });
    }
    return layers;
  } finally {
    for (const s of stack) if (s.copyTo !== undefined) await rm(s.copyTo, { force: true }); // copies not adopted
  }
}

/**
 * Stores the images of `plans` (several plans of one config are one image with all their names)
 * and returns them. Throws {@link ImageError} `EINVALIDARCHIVE` naming the entry at fault for a
 * missing entry or a malformed config, {@link ContentError} `EDIGEST` for a blob whose content
 * does not match its digest, and {@link LayerError} (`EDIGEST` for a DiffID mismatch) naming
 * the layer entry; no image record is written then.
 */
export async function ingestPlans(store: ImageStore, files: ArchiveFiles, plans: ImagePlan[], options: IngestOptions = {}): Promise<LoadResult> {
  const byId = new Map<Digest, CheckedPlan>();
  for (const plan of plans) {
    const c = await check(files, plan);
    const seen = byId.get(c.id);
    if (seen === undefined) byId.set(c.id, c);
    else {
      for (const [k, r] of c.references) seen.references.set(k, r);
      seen.plan.manifest ??= c.plan.manifest;
    }
  }
  const ready: Array<{ c: CheckedPlan; layers: ImageLayer[] }> = [];
  for (const c of byId.values()) {
    const layers = await storeLayers(store, files, c, options);
    const m = c.plan.manifest;
    if (m !== undefined) await store.content.write(m.bytes, m.descriptor.digest);
    ready.push({ c, layers });
  }
  options.signal?.throwIfAborted();
  const images: Image[] = [];
  const references: string[] = [];
  for (const { c, layers } of ready) {
    const refs = [...c.references.values()];
    const image = await store.add({ config: c.configBytes, layers, ...(c.plan.manifest === undefined ? {} : { manifest: c.plan.manifest.descriptor }), references: refs });
    const names = refs.map(familiarString);
    images.push(image);
    references.push(...names);
    options.onProgress?.({ stage: 'image', id: image.id, references: names });
  }
  return { images, references };
}
