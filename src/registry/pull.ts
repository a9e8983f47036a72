/**
 * Pull: a reference resolved on the registry (or its mirrors, tried first) to a manifest — an
 * index or manifest list narrowed to one platform — whose config and layers are fetched and
 * stored. Layer blobs download in parallel (3 at a time by default), each verified against its
 * digest as it is written into the content store (a resumed transfer continues with a `Range`
 * request) and then applied, bottom first, into the layer store with its DiffID checked; layers
 * already present are not fetched. The image record keeps the manifest and every original
 * compressed blob, so a push of it sends the same digests. The store's ingest lock is held
 * from the first blob to the image record; if the pull fails, what it left that no image uses
 * is collected, so nothing half-written stays.
 * @module
 */
import type { Digest } from '../image/digest.js';
import { ContentError } from '../image/errors.js';
import type { Image, ImageLayer, ImageStore } from '../image/image-store.js';
import { chainIDs, type StackLayer } from '../image/layer-store.js';
import type { FileRange } from '../image/layer-apply.js';
import type { Descriptor, ImageConfig, ImageManifest, Platform } from '../image/oci.js';
import { hostPlatform } from '../image/oci.js';
import { normalizeReference, referenceString, repositoryName, withDefaultTag, type Reference } from '../image/reference.js';
import { fetchBlob } from './blobs.js';
import type { Endpoint, RegistryClient } from './client.js';
import { RegistryError, throwIfAborted, type RegistryErrorDetails } from './errors.js';
import { fetchManifest, MAX_CONFIG_SIZE, parseManifest, type FetchedManifest } from './manifests.js';
import { choosePlatform, normalizePlatform, parsePlatform, platformRank, platformString } from './platform.js';

/** The state of one layer in a pull. */
export type LayerState = 'waiting' | 'exists' | 'downloading' | 'downloaded' | 'extracting' | 'done';

/** A progress event of a pull, for a CLI to draw bars from. */
export type PullProgress =
  | {
      /** The reference was resolved to a manifest. */
      type: 'resolved';
      /** The canonical reference pulled. */
      reference: string;
      /** The manifest's digest. */
      digest: Digest;
      /** The index's digest, when the reference named one. */
      indexDigest?: Digest;
      /** The platform of the manifest chosen. */
      platform?: string;
      /** Its layers. */
      layers: Descriptor[];
      /** The registry host that answered (a mirror's, when one did). */
      host: string;
    }
  | {
      /** One layer moved on. */
      type: 'layer';
      /** Its position, bottom first. */
      index: number;
      /** Its blob digest. */
      digest: Digest;
      /** What it is doing. */
      state: LayerState;
      /** Bytes of the blob downloaded so far. */
      current: number;
      /** The blob's size. */
      total: number;
    };

/** Options of {@link pullImage}. */
export interface PullOptions {
  /** The platform to choose from an index (`linux/arm64` or a Platform); default this host's. */
  platform?: Platform | string;
  /** How many blobs download at once (default 3). */
  concurrency?: number;
  /** Cancels the pull; nothing half-written is kept. */
  signal?: AbortSignal;
  /** Progress events. */
  onProgress?: (event: PullProgress) => void;
  /** Largest layer blob accepted, in bytes (default 64 GiB). */
  maxBlobSize?: number;
}

/** What a pull did. */
export interface PullResult {
  /** The image stored. */
  image: Image;
  /** The canonical reference pulled (`127.0.0.1:5000/x:1`). */
  reference: string;
  /** The image manifest's digest. */
  manifestDigest: Digest;
  /** The digest the reference resolved to (the index's, for a multi-platform image): the `repoDigest`. */
  digest: Digest;
  /** The host it came from (a mirror's when one served it). */
  host: string;
  /** Layer blobs downloaded (others were present). */
  downloadedLayers: number;
  /** Bytes downloaded. */
  downloadedBytes: number;
}

const DEFAULT_MAX_BLOB = 64 * 1024 ** 3;

/** Reads a whole blob into memory (configs), refusing it when its descriptor says it is over `limit`. */
async function fetchSmallBlob(client: RegistryClient, ep: Endpoint, repository: string, desc: Descriptor, limit: number, what: string, signal?: AbortSignal): Promise<Buffer> {
  if (desc.size > limit) throw new RegistryError(`${what} ${desc.digest} is ${desc.size} bytes, more than the ${limit} accepted`, 'ETOOLARGE', { registry: ep.registry, repository, digest: desc.digest });
  const parts: Buffer[] = [];
  for await (const c of fetchBlob(client, ep, repository, desc, signal ? { signal } : {})) parts.push(c);
  return Buffer.concat(parts);
}

/** A manifest, its config and everything needed to store it, resolved on one endpoint. */
interface Resolved {
  ep: Endpoint;
  top: FetchedManifest;
  manifestBytes: FetchedManifest;
  manifest: ImageManifest;
  /** The manifest's media type as classified. */
  mediaType: string;
  configBytes: Buffer;
  config: ImageConfig;
  platform?: string;
}

/** Resolves a reference on an endpoint to a platform's manifest and its config, all verified. */
async function resolve(client: RegistryClient, ep: Endpoint, ref: Reference, wanted: Platform, explicit: boolean, signal?: AbortSignal): Promise<Resolved> {
  const repository = ref.path;
  const details: RegistryErrorDetails = { registry: ep.registry, repository };
  const top = await fetchManifest(client, ep, repository, ref.digest ?? ref.tag ?? 'latest', signal ? { signal } : {});
  let parsed = parseManifest(top.bytes, top.mediaType, { ...details, digest: top.digest });
  let fetched = top;
  let platform: string | undefined;
  if (parsed.kind === 'index') {
    const chosen = choosePlatform(parsed.index.manifests, wanted, { ...details, digest: top.digest });
    if (chosen.platform !== undefined) platform = platformString(normalizePlatform(chosen.platform));
    fetched = await fetchManifest(client, ep, repository, chosen.digest, signal ? { signal } : {});
    if (fetched.bytes.length !== chosen.size) throw new RegistryError(`manifest ${chosen.digest} is ${fetched.bytes.length} bytes, the index says ${chosen.size}`, 'ESIZE', { ...details, digest: chosen.digest });
    parsed = parseManifest(fetched.bytes, fetched.mediaType || chosen.mediaType, { ...details, digest: chosen.digest });
    if (parsed.kind !== 'manifest') throw new RegistryError(`index entry ${chosen.digest} is itself an index`, 'EUNSUPPORTEDMEDIATYPE', { ...details, digest: chosen.digest });
  }
  const manifest = parsed.manifest;
  const configBytes = await fetchSmallBlob(client, ep, repository, manifest.config, MAX_CONFIG_SIZE, 'image config', signal);
  let config: ImageConfig;
  try {
    config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
  } catch (err) {
    throw new RegistryError(`image config ${manifest.config.digest} is not JSON`, 'EINVALIDMANIFEST', { ...details, digest: manifest.config.digest, cause: err });
  }
  const diffIDs = config?.rootfs?.diff_ids;
  if (!Array.isArray(diffIDs) || diffIDs.length !== manifest.layers.length) {
    throw new RegistryError(`image config ${manifest.config.digest} lists ${Array.isArray(diffIDs) ? diffIDs.length : 'no'} layers, the manifest ${manifest.layers.length}`, 'EINVALIDMANIFEST', { ...details, digest: manifest.config.digest });
  }
  if (explicit && top === fetched && platformRank({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) }, wanted) === undefined) {
    // A single-platform image asked for by another platform: refused, as docker does.
    throw new RegistryError(`image ${repository} is for ${platformString(normalizePlatform({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) }))}, not ${platformString(wanted)}`, 'ENOPLATFORM', { ...details, digest: top.digest });
  }
  for (const d of diffIDs) {
    if (typeof d !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(d)) throw new RegistryError(`image config ${manifest.config.digest} has an invalid DiffID ${JSON.stringify(d)}`, 'EINVALIDDIGEST', { ...details, digest: manifest.config.digest });
  }
  return { ep, top, manifestBytes: fetched, manifest, mediaType: parsed.mediaType, configBytes, config, ...(platform === undefined ? {} : { platform }) };
}

/** Runs `tasks` with at most `limit` at once; each result is a promise of its own. */
function limited<T>(limit: number, tasks: Array<(() => Promise<T>) | undefined>): Array<Promise<T> | undefined> {
  let running = 0;
  const queue: Array<() => void> = [];
  const next = (): void => {
    if (running >= limit) return;
    const go = queue.shift();
    if (go === undefined) return;
    running++;
    go();
  };
  return tasks.map((task) => {
    if (task === undefined) return undefined;
    const p = new Promise<T>((resolvePromise, reject) => {
      queue.push(() => {
        task()
          .then(resolvePromise, reject)
          .finally(() => {
            running--;
            next();
          });
      });
    });
    next();
    return p;
  });
}

/**
 * Pulls an image into `store` and names it by the reference (a tag; a pull by digest is found
 * by `name@digest` through its repoDigest). Errors: {@link RegistryError} for anything the
 * registry said or sent (EDIGEST, ENOENT, EUNAUTHORIZED, ETOOLARGE, EUNSUPPORTEDMEDIATYPE,
 * ENOPLATFORM, ...), ImageReferenceError for a reference that does not parse, and the layer
 * store's LayerError for a layer that does not apply; in every case nothing half-written stays.
 */
export async function pullImage(client: RegistryClient, store: ImageStore, reference: string | Reference, options: PullOptions = {}): Promise<PullResult> {
  const ref = typeof reference === 'string' ? normalizeReference(reference) : withDefaultTag(reference);
  const wanted = options.platform === undefined ? hostPlatform() : typeof options.platform === 'string' ? parsePlatform(options.platform) : normalizePlatform(options.platform);
  const endpoints = await client.endpoints(ref.domain, 'pull', options.signal);
  const failures: RegistryError[] = [];
  let wrote = false;
  try {
    for (const [i, ep] of endpoints.entries()) {
      const last = i === endpoints.length - 1;
      try {
        throwIfAborted(options.signal, { registry: ref.domain, repository: ref.path });
        const resolved = await resolve(client, ep, ref, wanted, options.platform !== undefined, options.signal);
        wrote = true;
        return await store_(client, store, ref, resolved, options);
      } catch (err) {
        // A mirror that fails for any reason but the caller's abort or a local error falls back to the next.
        if (last || !(err instanceof RegistryError) || err.code === 'EABORTED') {
          if (failures.length > 0 && err instanceof RegistryError) {
            (err as { message: string }).message += ` (after mirror failures: ${failures.map((f) => f.message).join('; ')})`;
          }
          throw err;
        }
        failures.push(err);
      }
    }
    throw new RegistryError(`no endpoint for ${ref.domain}`, 'EINVALIDCONFIG', { registry: ref.domain });
  } catch (err) {
    // Drop what this pull stored that no image names (blobs, layers); concurrent ingests are waited for.
    if (wrote) await store.collect().catch(() => undefined);
    throw err;
  }
}

/** Downloads, verifies, applies and records a resolved image. */
async function store_(client: RegistryClient, store: ImageStore, ref: Reference, r: Resolved, options: PullOptions): Promise<PullResult> {
  const repository = ref.path;
  const { ep, manifest, config } = r;
  const emit = options.onProgress ?? (() => undefined);
  const diffIDs = config.rootfs.diff_ids;
  const chains = chainIDs(diffIDs);
  const maxBlob = options.maxBlobSize ?? DEFAULT_MAX_BLOB;
  for (const l of manifest.layers) {
    if (l.size > maxBlob) throw new RegistryError(`layer ${l.digest} is ${l.size} bytes, more than the ${maxBlob} accepted`, 'ETOOLARGE', { registry: ep.registry, repository, digest: l.digest });
  }
  emit({
    type: 'resolved',
    reference: referenceString(ref),
    digest: r.manifestBytes.digest,
    ...(r.top.digest !== r.manifestBytes.digest ? { indexDigest: r.top.digest } : {}),
    ...(r.platform === undefined ? {} : { platform: r.platform }),
    layers: manifest.layers,
    host: ep.host,
  });
  const inner = new AbortController();
  const onAbort = (): void => inner.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const lock = await store.ingestLock();
  let downloadedLayers = 0;
  let downloadedBytes = 0;
  let downloads: Array<Promise<void> | undefined> = [];
  try {
    await store.content.write(r.manifestBytes.bytes, r.manifestBytes.digest);
    const present = await Promise.all(chains.map((c) => store.layers.find(c)));
    const blobHere = await Promise.all(manifest.layers.map((l) => store.content.has(l.digest)));
    manifest.layers.forEach((l, i) => emit({ type: 'layer', index: i, digest: l.digest, state: present[i] || blobHere[i] ? 'exists' : 'waiting', current: 0, total: l.size }));
    downloads = limited(
      Math.max(1, options.concurrency ?? 3),
      manifest.layers.map((l, i) =>
        present[i] !== undefined || blobHere[i]
          ? undefined
          : async () => {
              emit({ type: 'layer', index: i, digest: l.digest, state: 'downloading', current: 0, total: l.size });
              let last = 0;
              const body = fetchBlob(client, ep, repository, l, {
                signal: inner.signal,
                onProgress: (n) => {
                  // at most one event per 256 KiB, and the last
                  if (n - last >= 256 << 10 || n === l.size) {
                    last = n;
                    emit({ type: 'layer', index: i, digest: l.digest, state: 'downloading', current: n, total: l.size });
                  }
                },
              });
              try {
                await store.content.write(body, l.digest);
              } catch (err) {
                if (err instanceof ContentError && err.code === 'EDIGEST') throw new RegistryError(err.message, 'EDIGEST', { registry: ep.registry, repository, digest: l.digest, cause: err });
                throw err;
              }
              downloadedLayers++;
              downloadedBytes += l.size;
              emit({ type: 'layer', index: i, digest: l.digest, state: 'downloaded', current: l.size, total: l.size });
            },
      ),
    );
    // Keep failures of downloads not awaited yet from being unhandled; the layer store meets each in its turn.
    for (const d of downloads) d?.catch(() => undefined);
    // Each layer applies from its kept blob as soon as it is downloaded, on the layer workers,
    // while later ones still download; they are committed in order.
    const blobRange = async (l: Descriptor): Promise<FileRange> => ({ file: store.content.path(l.digest), start: 0, length: (await store.content.size(l.digest)) ?? 0 });
    const stack: StackLayer[] = manifest.layers.map((l, i) => ({
      source: (downloads[i] ?? Promise.resolve()).then(() => {
        throwIfAborted(options.signal, { registry: ep.registry, repository, digest: l.digest });
        return blobRange(l);
      }),
      expectedDigest: l.digest,
      expectedDiffID: diffIDs[i]!,
    }));
    const registered = await store.layers.registerStack(stack, undefined, {
      onLayer: (i, state) => {
        const l = manifest.layers[i]!;
        emit({ type: 'layer', index: i, digest: l.digest, state: state === 'applying' ? 'extracting' : 'done', current: l.size, total: l.size });
      },
    });
    const layers: ImageLayer[] = [];
    for (const [i, l] of manifest.layers.entries()) {
      if (registered[i]!.chainID !== chains[i]) throw new RegistryError(`layer ${l.digest} registered as ${registered[i]!.chainID}, expected ${chains[i]}`, 'EINVALIDMANIFEST', { registry: ep.registry, repository, digest: l.digest });
      const blob: Descriptor = { mediaType: l.mediaType, digest: l.digest, size: l.size, ...(l.annotations ? { annotations: l.annotations } : {}), ...(l.urls ? { urls: l.urls } : {}) };
      layers.push({ chainID: chains[i]!, diffID: diffIDs[i]!, ...((await store.content.has(l.digest)) ? { blob } : {}) });
    }
    const repoDigest = `${repositoryName(ref)}@${r.top.digest}`;
    const image = await store.add({
      config: r.configBytes,
      layers,
      manifest: { mediaType: r.mediaType, digest: r.manifestBytes.digest, size: r.manifestBytes.bytes.length },
      references: ref.digest === undefined ? [ref] : [],
      repoDigests: [repoDigest],
    });
    return { image, reference: referenceString(ref), manifestDigest: r.manifestBytes.digest, digest: r.top.digest, host: ep.host, downloadedLayers, downloadedBytes };
  } catch (err) {
    inner.abort();
    await Promise.allSettled(downloads.filter((d) => d !== undefined));
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    lock.release();
  }
}
