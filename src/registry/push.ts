/**
 * Push: an image of the store sent to a repository. Each blob is checked for first (HEAD), then
 * mounted from another repository of the same registry that the image was pulled from, else
 * uploaded (monolithic, or in chunks when asked); blobs go 3 at a time. An image that was
 * pulled or loaded is pushed with its original compressed blobs and its original manifest, so
 * its digests do not change. A layer made here (commit, import) is compressed once into the
 * content store and recorded as the image's blob, so later pushes send the same bytes; when the
 * layer tar regenerated from the graph driver is not byte-identical to the one the layer was
 * made from (an imported tarball), the pushed config names the regenerated DiffIDs instead,
 * and the result says so.
 * @module
 */
import { createHash } from 'node:crypto';
import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import { compressionOfMediaType, compressStream, layerMediaType, type SupportedCompression } from '../image/compression.js';
import { sha256, type Digest } from '../image/digest.js';
import type { ImageLayer, ImageStore } from '../image/image-store.js';
import { MediaType, type Descriptor, type ImageConfig, type ImageManifest } from '../image/oci.js';
import { normalizeReference, parseReference, referenceString, repositoryName, type Reference } from '../image/reference.js';
import { uploadBlob, type UploadResult } from './blobs.js';
import type { RegistryClient } from './client.js';
import { RegistryError, throwIfAborted } from './errors.js';
import { parseManifest, putManifest } from './manifests.js';

/** The state of one blob in a push. */
export type PushState = 'preparing' | 'waiting' | 'uploading' | UploadResult;

/** A progress event of a push. */
export type PushProgress =
  | {
      /** One blob moved on. */
      type: 'blob';
      /** Its position: layers bottom first, then the config (`-1`). */
      index: number;
      /** Its digest (once known). */
      digest: Digest | undefined;
      /** What it is doing. */
      state: PushState;
      /** Bytes sent so far. */
      current: number;
      /** Its size (0 while it is being prepared). */
      total: number;
    }
  | {
      /** The manifest was put. */
      type: 'manifest';
      /** Its digest. */
      digest: Digest;
      /** Its media type. */
      mediaType: string;
    };

/** Options of {@link pushImage}. */
export interface PushOptions {
  /** How many blobs upload at once (default 3). */
  concurrency?: number;
  /** Upload blobs larger than this in PATCH chunks of this size (default: one monolithic PUT each). */
  chunkSize?: number;
  /** Manifest format when one has to be made (no original manifest to reuse): default Docker schema 2, OCI when a layer is zstd. */
  format?: 'oci' | 'docker';
  /** Compression for layers made here that have no blob yet (default gzip). */
  compression?: 'gzip' | 'zstd';
  /** Repositories on the target registry to try cross-repository mounts from, besides those the image was pulled from. */
  mountFrom?: string[];
  /** Cancels the push. */
  signal?: AbortSignal;
  /** Progress events. */
  onProgress?: (event: PushProgress) => void;
}

/** How one layer blob got to the registry. */
export interface PushedBlob {
  /** The blob's digest. */
  digest: Digest;
  /** Found there, mounted from another repository, or uploaded. */
  result: UploadResult;
}

/** What a push did. */
export interface PushResult {
  /** The canonical reference pushed to. */
  reference: string;
  /** The manifest's digest: `repository@digest` now names the image. */
  digest: Digest;
  /** The manifest's media type. */
  mediaType: string;
  /** The manifest's size. */
  size: number;
  /** How each layer got there. */
  layers: PushedBlob[];
  /** True when the pushed config's DiffIDs differ from the local image's (a layer whose tar could not be reproduced byte for byte). */
  configRewritten: boolean;
}

/** A pass-through that digests and counts what flows through it. */
class Digester extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }

  digest(): Digest {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/** The blob of a layer made here: its tar regenerated, compressed into the content store. */
async function makeLayerBlob(store: ImageStore, layer: ImageLayer, compression: SupportedCompression, format: 'oci' | 'docker'): Promise<{ blob: Descriptor; diffID: Digest }> {
  const tar = store.layers.tar(layer.chainID);
  const raw = new Digester();
  const out = new PassThrough();
  tar.on('error', (err) => out.destroy(err));
  raw.on('error', (err) => out.destroy(err));
  if (compression === 'none') tar.pipe(raw).pipe(out);
  else {
    const z = compressStream(compression);
    z.on('error', (err) => out.destroy(err));
    tar.pipe(raw).pipe(z).pipe(out);
  }
  const info = await store.content.write(out);
  return { blob: { mediaType: layerMediaType(compression, format), digest: info.digest, size: info.size }, diffID: raw.digest() };
}

/** Runs tasks at most `limit` at once; resolves with all results or rejects with the first failure. */
async function runLimited<T>(limit: number, tasks: Array<() => Promise<T>>): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (failed === undefined && next < tasks.length) {
      const i = next++;
      try {
        results[i] = await tasks[i]!();
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, worker));
  if (failed !== undefined) throw failed;
  return results;
}

/**
 * Pushes image `source` (a name or id in `store`) to `target` (default: `source` itself as a
 * reference). RegistryError for what the registry refuses (EUNAUTHORIZED, EDENIED, ...).
 */
export async function pushImage(client: RegistryClient, store: ImageStore, source: string, target?: string | Reference, options: PushOptions = {}): Promise<PushResult> {
  const dest = target === undefined ? normalizeReference(parseReference(source)) : normalizeReference(target);
  const repository = dest.path;
  const img = await store.get(source);
  const rec = await img.record();
  const emit = options.onProgress ?? (() => undefined);
  const ep = await client.endpoint(dest.domain, options.signal);
  const details = { registry: dest.domain, repository };
  const lock = await store.ingestLock();
  try {
    let configBytes = await store.content.readAll(img.id);
    // Blobs: the recorded originals, or made here for layers that have none.
    const wantFormat = options.format;
    const compression = options.compression ?? 'gzip';
    const layerBlobs: Descriptor[] = [];
    const pushedDiffIDs: Digest[] = [];
    const recorded: ImageLayer[] = [];
    let recordChanged = false;
    let rewritten = false;
    for (const [i, l] of rec.layers.entries()) {
      throwIfAborted(options.signal, details);
      if (l.blob !== undefined && (await store.content.has(l.blob.digest))) {
        layerBlobs.push(l.blob);
        pushedDiffIDs.push(l.diffID);
        recorded.push(l);
        continue;
      }
      emit({ type: 'blob', index: i, digest: undefined, state: 'preparing', current: 0, total: 0 });
      const made = await makeLayerBlob(store, l, compression, wantFormat ?? (compression === 'zstd' ? 'oci' : 'docker'));
      layerBlobs.push(made.blob);
      pushedDiffIDs.push(made.diffID);
      if (made.diffID === l.diffID) {
        recorded.push({ ...l, blob: made.blob });
        recordChanged = true;
      } else {
        recorded.push(l);
        rewritten = true;
      }
    }
    if (recordChanged) await store.add({ config: configBytes, layers: recorded });
    if (rewritten) {
      const cfg = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
      cfg.rootfs = { ...cfg.rootfs, diff_ids: pushedDiffIDs };
      configBytes = Buffer.from(JSON.stringify(cfg));
    }
    const configDigest = sha256(configBytes);

    // The manifest: the original when it still describes exactly these blobs, else a new one.
    let manifestBytes: Buffer | undefined;
    let manifestType: string | undefined;
    if (rec.manifest !== undefined && !rewritten && (await store.content.has(rec.manifest.digest))) {
      const bytes = await store.content.readAll(rec.manifest.digest);
      try {
        const parsed = parseManifest(bytes, rec.manifest.mediaType);
        const family = parsed.mediaType === MediaType.OCI_MANIFEST ? 'oci' : 'docker';
        if (parsed.kind === 'manifest' && (wantFormat === undefined || wantFormat === family) && parsed.manifest.config.digest === configDigest && parsed.manifest.layers.length === layerBlobs.length && parsed.manifest.layers.every((d, i) => d.digest === layerBlobs[i]!.digest)) {
          manifestBytes = bytes;
          manifestType = parsed.mediaType;
          parsed.manifest.layers.forEach((d, i) => (layerBlobs[i] = d)); // the media types it names
        }
      } catch {
        // not reusable: make one
      }
    }
    let configType: string = MediaType.DOCKER_CONFIG;
    if (manifestBytes === undefined) {
      const format = wantFormat ?? (layerBlobs.some((b) => compressionOfMediaType(b.mediaType) === 'zstd') ? 'oci' : 'docker');
      configType = format === 'oci' ? MediaType.OCI_CONFIG : MediaType.DOCKER_CONFIG;
      manifestType = format === 'oci' ? MediaType.OCI_MANIFEST : MediaType.DOCKER_MANIFEST;
      const layers = layerBlobs.map((b) => {
        const kind = compressionOfMediaType(b.mediaType) ?? 'gzip';
        if (format === 'docker' && kind === 'zstd') throw new RegistryError(`layer ${b.digest} is zstd, which a Docker schema 2 manifest cannot carry; push with format 'oci'`, 'EUNSUPPORTEDMEDIATYPE', { ...details, digest: b.digest });
        return { mediaType: layerMediaType(kind, format), size: b.size, digest: b.digest, ...(b.annotations ? { annotations: b.annotations } : {}) };
      });
      const m: ImageManifest = { schemaVersion: 2, mediaType: manifestType, config: { mediaType: configType, size: configBytes.length, digest: configDigest }, layers };
      manifestBytes = Buffer.from(JSON.stringify(m, null, 3));
    } else {
      configType = (JSON.parse(manifestBytes.toString('utf8')) as ImageManifest).config.mediaType;
    }

    // Blobs up: layers and config, a few at a time.
    const mountFrom = [
      ...new Set([
        ...rec.repoDigests
          .map((rd) => {
            try {
              return parseReference(rd);
            } catch {
              return undefined;
            }
          })
          .filter((r): r is Reference => r !== undefined && r.domain === dest.domain && r.path !== repository)
          .map((r) => r.path),
        ...(options.mountFrom ?? []),
      ]),
    ];
    const uploads: Array<{ index: number; desc: Descriptor; open: () => import('node:stream').Readable }> = layerBlobs.map((b, i) => ({ index: i, desc: b, open: () => store.content.read(b.digest) }));
    const cfgDesc: Descriptor = { mediaType: configType, digest: configDigest, size: configBytes.length };
    const cfgBuf = configBytes;
    uploads.push({
      index: -1,
      desc: cfgDesc,
      open: () => {
        const p = new PassThrough();
        p.end(cfgBuf);
        return p;
      },
    });
    const results = await runLimited(
      Math.max(1, options.concurrency ?? 3),
      uploads.map((u) => async () => {
        emit({ type: 'blob', index: u.index, digest: u.desc.digest, state: 'waiting', current: 0, total: u.desc.size });
        const r = await uploadBlob(client, ep, repository, u.desc, u.open, {
          mountFrom,
          ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
          ...(options.signal ? { signal: options.signal } : {}),
          onProgress: (n) => emit({ type: 'blob', index: u.index, digest: u.desc.digest, state: 'uploading', current: n, total: u.desc.size }),
        });
        emit({ type: 'blob', index: u.index, digest: u.desc.digest, state: r, current: u.desc.size, total: u.desc.size });
        return r;
      }),
    );
    const reference = dest.tag ?? dest.digest ?? 'latest';
    const digest = await putManifest(client, ep, repository, reference, manifestBytes, manifestType!, options.signal ? { signal: options.signal } : {});
    if (dest.digest !== undefined && dest.digest !== digest) throw new RegistryError(`pushed manifest has digest ${digest}, not the ${dest.digest} asked for`, 'EDIGEST', { ...details, digest });
    emit({ type: 'manifest', digest, mediaType: manifestType! });
    if (!rewritten) {
      // The image is now known under this repository too (and mounts from it become possible).
      let manifest: Descriptor | undefined;
      if (rec.manifest === undefined) {
        await store.content.write(manifestBytes, digest);
        manifest = { mediaType: manifestType!, digest, size: manifestBytes.length };
      }
      await store.add({ config: configBytes, layers: recorded, repoDigests: [`${repositoryName(dest)}@${digest}`], ...(manifest ? { manifest } : {}) });
    }
    return {
      reference: referenceString(dest),
      digest,
      mediaType: manifestType!,
      size: manifestBytes.length,
      layers: layerBlobs.map((b, i) => ({ digest: b.digest, result: results[i]! })),
      configRewritten: rewritten,
    };
  } finally {
    lock.release();
  }
}
