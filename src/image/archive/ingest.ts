/**
 * Storing the images an archive's plans describe, in three steps so that a bad archive stores
 * no image: first every config is read, its digest checked and its DiffIDs matched with the
 * layers, and every layer entry looked up; then each layer blob is kept in the content store as
 * given (compressed or not, its digest checked) and registered in the layer store, its DiffID
 * checked against the config; only then are the image records and their names written. The
 * caller holds the store's ingest lock throughout and collects garbage if this throws.
 * @module
 */
import { open } from 'node:fs/promises';
import { COMPRESSION_MAGIC_LENGTH, detectCompression, layerMediaType, type SupportedCompression } from '../compression.js';
import { digestHex, sha256, type Digest } from '../digest.js';
import { ContentError, ImageError, LayerError } from '../errors.js';
import type { Image, ImageLayer, ImageStore } from '../image-store.js';
import type { Descriptor, ImageConfig } from '../oci.js';
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
  /** Stops the load between layers. */
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

/** Keeps a layer blob in the content store (checking its digest) and describes it. */
async function keepBlob(store: ImageStore, files: ArchiveFiles, l: PlannedBlob): Promise<Descriptor> {
  let digest = l.digest;
  let size = digest === undefined ? undefined : await store.content.size(digest);
  if (digest === undefined || size === undefined) {
    try {
      ({ digest, size } = await store.content.write(await files.open(l.name), l.digest));
    } catch (err) {
      if (err instanceof ContentError) throw new ContentError(`archive entry ${l.name}: ${err.message}`, err.code, { expected: err.expected, actual: err.actual, path: l.name, cause: err });
      throw err;
    }
  }
  return { mediaType: l.mediaType ?? layerMediaType(await blobCompression(store, digest), 'docker'), digest, size };
}

/** Registers an image's layers, bottom first, keeping their blobs. */
async function storeLayers(store: ImageStore, files: ArchiveFiles, c: CheckedPlan, options: IngestOptions): Promise<ImageLayer[]> {
  const layers: ImageLayer[] = [];
  for (const [i, l] of c.plan.layers.entries()) {
    options.signal?.throwIfAborted();
    const blob = await keepBlob(store, files, l);
    let registered;
    try {
      registered = await store.layers.register(store.content.read(blob.digest), layers[i - 1]?.chainID, { expectedDigest: blob.digest, expectedDiffID: c.diffIDs[i]! });
    } catch (err) {
      if (err instanceof LayerError && err.path !== l.name) throw new LayerError(err.message, err.code, l.name, err);
      throw err;
    }
    layers.push({ chainID: registered.chainID, diffID: registered.diffID, blob });
    options.onProgress?.({ stage: 'layer', image: c.id, index: i, count: c.plan.layers.length, diffID: registered.diffID });
  }
  return layers;
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
