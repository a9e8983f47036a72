/**
 * Images keyed by config digest, and the references (`name:tag`, `name@digest`) that name them.
 * An image record (`<root>/images/<hex>.json`) lists its layers by chainID with, where known,
 * the original (compressed) blob each came from, so an image pulled or loaded is pushed or
 * saved with the same digests; the config and those blobs live in the content store. The
 * reference map (`<root>/references.json`) is rewritten atomically under an exclusive lock.
 *
 * Garbage: removing an image drops what nothing else uses — layers that no image and no
 * container snapshot sits on, blobs that no image names. Writers of new content (a pull, a
 * load) hold the `gc.lock` shared from their first blob to their image record, and collection
 * holds it exclusive, so it never takes what a concurrent writer is about to reference.
 * @module
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { readJsonIfExists, removeStaleTemps, writeJsonAtomic } from '../util/atomic-file.js';
import { FileLock, withFileLock } from '../util/file-lock.js';
import type { GraphDriver } from '../graphdriver/driver.js';
import { ContentStore } from './content-store.js';
import { digestHex, sha256, type Digest } from './digest.js';
import { ImageError } from './errors.js';
import { chainIDs, Layer, LayerStore } from './layer-store.js';
import type { Descriptor, ImageConfig } from './oci.js';
import { familiarString, normalizeReference, parseImageIdLike, parseReference, referenceString, type Reference } from './reference.js';
import { compareStrings } from '../util/compare-strings.js';

/** One layer of an image. */
export interface ImageLayer {
  /** The layer's chainID in the layer store. */
  chainID: Digest;
  /** Its DiffID. */
  diffID: Digest;
  /** The blob it came from, kept in the content store (absent for layers made here, until saved or pushed). */
  blob?: Descriptor;
}

/** What is recorded of an image. */
export interface ImageRecord {
  /** The image id: its config's digest. */
  id: Digest;
  /** Its layers, bottom first. */
  layers: ImageLayer[];
  /** The manifest it was pulled or loaded with, kept in the content store. */
  manifest?: Descriptor;
  /** `repository@digest` names of the manifests it was pulled by. */
  repoDigests: string[];
  /** When it was stored here. */
  stored: string;
}

/** What {@link Image.inspect} returns (Docker's field names where they apply). */
export interface ImageInspect {
  /** `sha256:<hex>`. */
  Id: Digest;
  /** Tags naming it, familiar form (`busybox:latest`). */
  RepoTags: string[];
  /** Digests naming it (`busybox@sha256:...`). */
  RepoDigests: string[];
  /** When it was made (its config's `created`). */
  Created: string | undefined;
  /** Its author. */
  Author: string | undefined;
  /** Architecture. */
  Architecture: string;
  /** Operating system. */
  Os: string;
  /** CPU variant. */
  Variant: string | undefined;
  /** Sum of its layers' uncompressed sizes. */
  Size: number;
  /** Container defaults. */
  Config: ImageConfig['config'];
  /** The layers' DiffIDs. */
  RootFS: {
    /** Always `layers`. */
    Type: 'layers';
    /** DiffIDs, bottom first. */
    Layers: Digest[];
  };
  /** The config's history. */
  History: NonNullable<ImageConfig['history']>;
}

/** Options of {@link ImageStore.open}. */
export interface ImageStoreOptions {
  /** The directory of the image store (`<berth root>/image`). */
  root: string;
  /** The graph driver holding layers. */
  driver: GraphDriver;
  /** Which containers use an image (the engine's answer); images in use are not removed unless forced. */
  containersUsing?: (id: Digest) => Promise<string[]>;
}

/** Options of {@link ImageStore.add}. */
export interface AddImageOptions {
  /** The config blob, exactly as it is to be stored (its digest is the image id). */
  config: Uint8Array;
  /** The layers, bottom first; their DiffIDs must match the config's `rootfs.diff_ids`. */
  layers: ImageLayer[];
  /** The manifest it came with (already in the content store). */
  manifest?: Descriptor;
  /** Names to give it (each moved here from any image it named before). */
  references?: Array<string | Reference>;
  /** `repository@digest` names it is known by. */
  repoDigests?: string[];
}

/** Options of {@link ImageStore.remove}. */
export interface RemoveImageOptions {
  /** Remove even when containers use it or several repositories name it. */
  force?: boolean;
  /** Keep untagged parents (no effect: berth images have no parent chain of images); kept for Docker parity. */
  noPrune?: boolean;
}

/** What a removal did, as `docker rmi` reports it. */
export interface RemoveImageResult {
  /** References removed. */
  untagged: string[];
  /** Image ids and layer chainIDs deleted. */
  deleted: string[];
}

/** A handle on one stored image. */
export class Image {
  constructor(
    /** The store holding it. */
    readonly store: ImageStore,
    /** The image id (config digest). */
    readonly id: Digest,
  ) {}

  /** The short id as Docker prints it (12 hex digits). */
  get shortId(): string {
    return digestHex(this.id).slice(0, 12);
  }

  /** The stored record. */
  record(): Promise<ImageRecord> {
    return this.store.record(this.id);
  }

  /** The parsed config. */
  async config(): Promise<ImageConfig> {
    return JSON.parse((await this.store.content.readAll(this.id)).toString('utf8')) as ImageConfig;
  }

  /** Its layers, bottom first. */
  async layers(): Promise<Layer[]> {
    const rec = await this.record();
    return Promise.all(rec.layers.map((l) => this.store.layers.layer(l.chainID)));
  }

  /** The chainID of its top layer (undefined for an image without layers). */
  async topLayer(): Promise<Digest | undefined> {
    const rec = await this.record();
    return rec.layers[rec.layers.length - 1]?.chainID;
  }

  /** Config, history, size, layers and names. */
  async inspect(): Promise<ImageInspect> {
    const [rec, config, refs] = await Promise.all([this.record(), this.config(), this.store.referencesTo(this.id)]);
    let size = 0;
    for (const l of rec.layers) size += (await this.store.layers.find(l.chainID))?.size ?? 0;
    return {
      Id: this.id,
      RepoTags: refs.filter((r) => r.digest === undefined).map(familiarString),
      RepoDigests: rec.repoDigests,
      Created: config.created,
      Author: config.author,
      Architecture: config.architecture,
      Os: config.os,
      Variant: config.variant,
      Size: size,
      Config: config.config,
      RootFS: { Type: 'layers', Layers: config.rootfs.diff_ids },
      History: config.history ?? [],
    };
  }

  /** Names this image `ref` too. */
  tag(ref: string | Reference): Promise<void> {
    return this.store.tag(this.id, ref);
  }

  /** Removes it (see {@link ImageStore.remove}). */
  remove(options: RemoveImageOptions = {}): Promise<RemoveImageResult> {
    return this.store.remove(this.id, options);
  }
}

/** The image store of one berth root. */
export class ImageStore {
  /** The content store (configs, manifests, layer blobs). */
  readonly content: ContentStore;
  /** The layer store. */
  readonly layers: LayerStore;
  private readonly imagesDir: string;
  private readonly refsFile: string;

  private constructor(
    /** The store's directory. */
    readonly root: string,
    content: ContentStore,
    driver: GraphDriver,
    private readonly containersUsing: (id: Digest) => Promise<string[]>,
  ) {
    this.content = content;
    this.layers = new LayerStore(root, driver);
    this.imagesDir = path.join(root, 'images');
    this.refsFile = path.join(root, 'references.json');
  }

  /** Opens (creating) the store and repairs what a crash may have left. */
  static async open(options: ImageStoreOptions): Promise<ImageStore> {
    const root = path.resolve(options.root);
    const content = await ContentStore.open(root);
    const store = new ImageStore(root, content, options.driver, options.containersUsing ?? (async () => []));
    await withFileLock(store.gcLockFile, true, async () => {
      await removeStaleTemps(store.imagesDir);
      await removeStaleTemps(root);
      await store.layers.repair();
    });
    return store;
  }

  private get gcLockFile(): string {
    return path.join(this.root, 'gc.lock');
  }

  /** Holds the store open for writing new content until released: garbage collection waits meanwhile. */
  ingestLock(): Promise<FileLock> {
    return FileLock.acquire(this.gcLockFile, false);
  }

  private imageFile(id: Digest): string {
    return path.join(this.imagesDir, `${digestHex(id)}.json`);
  }

  /** The record of image `id`; ImageError ENOENT when absent. */
  async record(id: Digest): Promise<ImageRecord> {
    const rec = await readJsonIfExists<ImageRecord>(this.imageFile(id));
    if (rec === undefined) throw new ImageError(`no such image: ${id}`, 'ENOENT', id);
    return rec;
  }

  /** All references, canonical string → image id. */
  private async readRefs(): Promise<Record<string, Digest>> {
    return (await readJsonIfExists<Record<string, Digest>>(this.refsFile)) ?? {};
  }

  /** Changes the reference map under its lock. */
  private async updateRefs(change: (refs: Record<string, Digest>) => void): Promise<void> {
    await withFileLock(path.join(this.root, 'references.lock'), true, async () => {
      const refs = await this.readRefs();
      change(refs);
      await writeJsonAtomic(this.refsFile, refs);
    });
  }

  /** The references naming image `id`, parsed. */
  async referencesTo(id: Digest): Promise<Reference[]> {
    return Object.entries(await this.readRefs())
      .filter(([, v]) => v === id)
      .map(([k]) => parseReference(k))
      .sort((a, b) => compareStrings(referenceString(a), referenceString(b)));
  }

  /**
   * Stores an image whose layers are already in the layer store and whose config (and manifest)
   * are to be kept: checks the config's DiffIDs against the layers, writes the config blob and
   * the record, and points `references` at it.
   */
  async add(options: AddImageOptions): Promise<Image> {
    const configBuf = Buffer.from(options.config);
    let config: ImageConfig;
    try {
      config = JSON.parse(configBuf.toString('utf8')) as ImageConfig;
    } catch (err) {
      throw new ImageError('image config is not JSON', 'EINVALIDIMAGE', undefined, err);
    }
    const diffIDs = config?.rootfs?.diff_ids;
    if (!Array.isArray(diffIDs)) throw new ImageError('image config has no rootfs.diff_ids', 'EINVALIDIMAGE');
    const got = options.layers.map((l) => l.diffID);
    if (diffIDs.length !== got.length || diffIDs.some((d, i) => d !== got[i])) {
      throw new ImageError(`image config lists layers ${diffIDs.join(', ')} but the layers are ${got.join(', ')}`, 'EINVALIDIMAGE');
    }
    const chains = chainIDs(got);
    options.layers.forEach((l, i) => {
      if (l.chainID !== chains[i]) throw new ImageError(`layer ${i} has chainID ${l.chainID}, expected ${chains[i]}`, 'EINVALIDIMAGE');
    });
    for (const c of chains) await this.layers.get(c);
    const { digest: id } = await this.content.write(configBuf);
    const previous = await readJsonIfExists<ImageRecord>(this.imageFile(id));
    const rec: ImageRecord = {
      id,
      layers: options.layers.map((l, i) => ({ ...l, blob: l.blob ?? previous?.layers[i]?.blob })).map(dropUndefinedBlob),
      ...(options.manifest ?? previous?.manifest ? { manifest: options.manifest ?? previous?.manifest } : {}),
      repoDigests: [...new Set([...(previous?.repoDigests ?? []), ...(options.repoDigests ?? [])])],
      stored: previous?.stored ?? new Date().toISOString(),
    };
    await writeJsonAtomic(this.imageFile(id), rec);
    const refs = (options.references ?? []).map((r) => normalizeReference(r));
    if (refs.length > 0) await this.updateRefs((map) => refs.forEach((r) => (map[referenceString(r)] = id)));
    return new Image(this, id);
  }

  /** All images. */
  async list(): Promise<Image[]> {
    let names: string[];
    try {
      names = await readdir(this.imagesDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names.filter((n) => /^[0-9a-f]{64}\.json$/.test(n)).map((n) => new Image(this, `sha256:${n.slice(0, 64)}`));
  }

  /**
   * The image a name (`busybox`, `busybox:1`, `name@sha256:...`), an id (`sha256:<hex>`) or an
   * id prefix names, trying the name first as Docker does. ImageError ENOENT or EAMBIGUOUS.
   */
  async get(nameOrId: string): Promise<Image> {
    const refs = await this.readRefs();
    let ref: Reference | undefined;
    try {
      ref = normalizeReference(nameOrId);
    } catch {
      ref = undefined;
    }
    if (ref !== undefined) {
      const id = refs[referenceString(ref)];
      if (id !== undefined) return new Image(this, id);
      if (ref.digest !== undefined) {
        for (const img of await this.list()) {
          if ((await img.record()).repoDigests.includes(`${ref.domain}/${ref.path}@${ref.digest}`)) return img;
        }
      }
    }
    const like = parseImageIdLike(nameOrId);
    if (like !== undefined) {
      const matches = (await this.list()).filter((i) => digestHex(i.id).startsWith(like.hex));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) throw new ImageError(`image id prefix ${nameOrId} is ambiguous`, 'EAMBIGUOUS', nameOrId);
    }
    if (ref === undefined && like === undefined) parseReference(nameOrId);
    throw new ImageError(`no such image: ${nameOrId}`, 'ENOENT', nameOrId);
  }

  /** Names image `nameOrId` also as `ref` (moving the name from any image it named before). */
  async tag(nameOrId: string, ref: string | Reference): Promise<void> {
    const img = await this.get(nameOrId);
    const r = normalizeReference(ref);
    if (r.digest !== undefined) throw new ImageError('cannot tag with a digest reference', 'EINVALIDREFERENCE', referenceString(r));
    await this.updateRefs((map) => (map[referenceString(r)] = img.id));
  }

  /** Removes the reference `ref`; ImageError ENOENT when it names nothing. */
  async untag(ref: string | Reference): Promise<void> {
    const key = referenceString(normalizeReference(ref));
    let found = false;
    await this.updateRefs((map) => {
      found = key in map;
      delete map[key];
    });
    if (!found) throw new ImageError(`no such image: ${typeof ref === 'string' ? ref : key}`, 'ENOENT', key);
  }

  /**
   * Removes an image the way `docker rmi` does: given by a name that is one of several naming
   * it, only that name goes; otherwise the image goes with all its names, refused (ECONFLICT)
   * while a container uses it or, given by id, when several repositories name it — unless
   * `force`. Then layers and blobs nothing uses any more are deleted.
   */
  async remove(nameOrId: string, options: RemoveImageOptions = {}): Promise<RemoveImageResult> {
    const img = await this.get(nameOrId);
    const names = await this.referencesTo(img.id);
    const byName = !names.every((r) => !refMatches(r, nameOrId)) && parseImageIdLike(nameOrId) === undefined;
    if (byName && names.length > 1) {
      const ref = normalizeReference(nameOrId);
      await this.untag(ref);
      return { untagged: [familiarString(ref)], deleted: [] };
    }
    if (!options.force) {
      const users = await this.containersUsing(img.id);
      if (users.length > 0) throw new ImageError(`image ${img.shortId} is being used by container ${users.join(', ')}`, 'ECONFLICT', img.id);
      if (!byName && names.length > 1) throw new ImageError(`image ${img.shortId} is referenced in multiple repositories (${names.map(familiarString).join(', ')}); remove by name or force`, 'ECONFLICT', img.id);
    }
    const untagged = names.map(familiarString);
    const keys = new Set(names.map(referenceString));
    await this.updateRefs((map) => keys.forEach((k) => delete map[k]));
    await rm(this.imageFile(img.id), { force: true });
    const deleted = [img.id, ...(await this.collect())];
    return { untagged, deleted };
  }

  /** Removes images no name refers to and no container uses (with `all`, every image no container uses), then collects garbage. */
  async prune(options: { all?: boolean } = {}): Promise<RemoveImageResult> {
    const refs = new Set(Object.values(await this.readRefs()));
    const deleted: string[] = [];
    for (const img of await this.list()) {
      if ((options.all !== true && refs.has(img.id)) || (await this.containersUsing(img.id)).length > 0) continue;
      const r = await this.remove(img.id, { force: true });
      deleted.push(...r.deleted);
    }
    deleted.push(...(await this.collect()));
    return { untagged: [], deleted };
  }

  /** Deletes layers no image or snapshot uses, and blobs no image names; returns what went. */
  async collect(): Promise<string[]> {
    return withFileLock(this.gcLockFile, true, async () => {
      const usedLayers = new Set<string>();
      const usedBlobs = new Set<string>();
      for (const img of await this.list()) {
        const rec = await img.record().catch(() => undefined);
        if (rec === undefined) continue;
        usedBlobs.add(rec.id);
        if (rec.manifest) usedBlobs.add(rec.manifest.digest);
        for (const l of rec.layers) {
          usedLayers.add(l.chainID);
          if (l.blob) usedBlobs.add(l.blob.digest);
        }
      }
      const layers = await this.layers.list();
      const byId = new Map(layers.map((l) => [l.chainID as string, l]));
      // Snapshots that are not layers (containers, views) keep their parent chain.
      for (const s of await this.layers.driver.list()) {
        if (byId.has(s.key)) continue;
        for (let p = s.parent; p !== undefined && !usedLayers.has(p); p = byId.get(p)?.parent) usedLayers.add(p);
      }
      for (const id of [...usedLayers]) for (let p = byId.get(id)?.parent; p !== undefined; p = byId.get(p)?.parent) usedLayers.add(p);
      const depth = (id: string): number => {
        let d = 0;
        for (let p = byId.get(id)?.parent; p !== undefined; p = byId.get(p)?.parent) d++;
        return d;
      };
      const deleted: string[] = [];
      for (const l of layers.filter((x) => !usedLayers.has(x.chainID)).sort((a, b) => depth(b.chainID) - depth(a.chainID))) {
        await this.layers.remove(l.chainID);
        deleted.push(l.chainID);
      }
      for (const b of await this.content.list()) if (!usedBlobs.has(b)) await this.content.delete(b);
      return deleted;
    });
  }
}

/** Whether the reference `r` is what `input` names. */
function refMatches(r: Reference, input: string): boolean {
  try {
    return referenceString(r) === referenceString(normalizeReference(input));
  } catch {
    return false;
  }
}

/** A layer without an undefined `blob` key. */
function dropUndefinedBlob(l: ImageLayer): ImageLayer {
  return l.blob === undefined ? { chainID: l.chainID, diffID: l.diffID } : l;
}

/** The digest an image config would have (its id). */
export function imageIdOf(config: Uint8Array): Digest {
  return sha256(config);
}
