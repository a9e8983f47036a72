/**
 * `docker save` and writing an OCI image layout. Names are resolved as Docker resolves them
 * (`busybox:1` one image and that tag; `busybox` with no tag every tag of the repository; an id
 * the image without names). The Docker form is the one Docker 25+ writes — `oci-layout`,
 * `index.json`, `blobs/sha256/`, `manifest.json`, `repositories` — with uncompressed layer tars;
 * the OCI layout keeps each layer's original blob (gzip, zstd) where the store has it.
 *
 * A layer's uncompressed tar is the original blob when that is uncompressed, the original blob
 * decompressed (checked against its DiffID) when it is compressed, and otherwise regenerated
 * from the graph driver. A regenerated tar whose digest is not the DiffID (the layer came
 * from a tar written by another tool, and berth does not keep tar-split data to rebuild it
 * byte for byte) is written with its own digest, and the image's config is rewritten with the
 * new DiffIDs, so the archive is consistent: such an image is saved under a new id, which
 * {@link SavedImage} reports.
 * @module
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tempName } from '../../util/atomic-file.js';
import { compressionOfMediaType, decompressStream, layerMediaType } from '../compression.js';
import { VerifyStream } from '../content-store.js';
import { DigestStream, sha256, type Digest } from '../digest.js';
import { ImageError } from '../errors.js';
import type { Image, ImageLayer, ImageStore } from '../image-store.js';
import { MediaType, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest } from '../oci.js';
import { familiarName, familiarString, normalizeReference, parseReference, referenceString, type Reference } from '../reference.js';
import { blobPath } from './image-plan.js';
import { DirLayoutWriter, TarLayoutWriter, type LayoutWriter } from './layout-writer.js';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME } from './oci-index.js';
import type { DockerManifestItem } from './docker-manifest.js';

/** Options of {@link saveArchive}. */
export interface SaveOptions {
  /** `docker` (default): the form Docker 25+ writes, uncompressed layers; `oci`: an OCI layout tar keeping the original blobs. */
  format?: 'docker' | 'oci';
  /** Stops the save between layers (the output is destroyed). */
  signal?: AbortSignal;
}

/** One image as saved. */
export interface SavedImage {
  /** Its id in the archive (its config's digest there). */
  id: Digest;
  /** Its id in the store: the same, unless its config had to be rewritten (see the module's notes). */
  storedId: Digest;
  /** The names it was saved with, familiar form. */
  references: string[];
  /** Its manifest in the archive. */
  manifest: Descriptor;
}

/** What a save wrote. */
export interface SaveResult {
  /** The images, in the order first named. */
  images: SavedImage[];
}

/** An image to save and the names to save it with. */
interface Selection {
  image: Image;
  references: Map<string, Reference>;
}

/** Resolves names to images and the names each is saved with, as `docker save` does. */
async function select(store: ImageStore, names: readonly string[]): Promise<Selection[]> {
  const out = new Map<Digest, Selection>();
  const add = (image: Image, ref?: Reference): void => {
    const sel = out.get(image.id) ?? { image, references: new Map<string, Reference>() };
    out.set(image.id, sel);
    if (ref?.tag !== undefined && ref.digest === undefined) sel.references.set(referenceString(ref), ref);
  };
  let all: Array<{ image: Image; ref: Reference }> | undefined;
  for (const name of names) {
    let ref: Reference | undefined;
    try {
      ref = parseReference(name);
    } catch {
      ref = undefined;
    }
    if (ref !== undefined && ref.tag === undefined && ref.digest === undefined) {
      all ??= (await Promise.all((await store.list()).map(async (image) => (await store.referencesTo(image.id)).map((r) => ({ image, ref: r }))))).flat();
      const inRepo = all.filter((x) => x.ref.domain === ref!.domain && x.ref.path === ref!.path && x.ref.tag !== undefined);
      if (inRepo.length > 0) {
        for (const x of inRepo) add(x.image, x.ref);
        continue;
      }
    }
    const image = await store.get(name);
    const full = ref === undefined ? undefined : normalizeReference(ref);
    const named = full !== undefined && (await store.referencesTo(image.id)).some((r) => referenceString(r) === referenceString(full));
    add(image, named ? full : undefined);
  }
  return [...out.values()];
}

/** A layer as it goes into the archive. */
interface LayerOut {
  /** Its descriptor in the manifest. */
  descriptor: Descriptor;
  /** The DiffID its content has. */
  diffID: Digest;
  /** Its content. */
  open(): Promise<Readable>;
}

/** How layer blobs are written: always as uncompressed tars (Docker), or as the original blob where there is one (OCI). */
type LayerMode = 'uncompressed' | 'original';

/** Where the layers of one save are regenerated to. */
class Scratch {
  private dir: string | undefined;

  constructor(private readonly parent: string) {}

  /** A new file path in the scratch directory (created on first use; named so crash repair drops it). */
  async file(): Promise<string> {
    if (this.dir === undefined) {
      this.dir = path.join(this.parent, tempName());
      await mkdir(this.dir, { mode: 0o700 });
    }
    return path.join(this.dir, tempName());
  }

  /** Removes the scratch directory. */
  async remove(): Promise<void> {
    if (this.dir !== undefined) await rm(this.dir, { recursive: true, force: true });
  }
}

/** The OCI media type of a layer blob of compression `mediaType` implies. */
function ociLayerType(mediaType: string): string {
  return layerMediaType(compressionOfMediaType(mediaType) ?? 'none', 'oci');
}

/** How one layer goes into the archive (see the module's notes). */
async function layerOut(store: ImageStore, layer: ImageLayer, mode: LayerMode, scratch: Scratch): Promise<LayerOut> {
  const blob = layer.blob !== undefined && (await store.content.has(layer.blob.digest)) ? layer.blob : undefined;
  if (blob !== undefined) {
    const compressed = compressionOfMediaType(blob.mediaType) !== 'none';
    if (mode === 'original' || !compressed) {
      return { descriptor: { mediaType: ociLayerType(blob.mediaType), digest: blob.digest, size: blob.size }, diffID: layer.diffID, open: async () => store.content.read(blob.digest) };
    }
    const { size } = await store.layers.get(layer.chainID);
    return {
      descriptor: { mediaType: MediaType.OCI_LAYER, digest: layer.diffID, size },
      diffID: layer.diffID,
      open: async () => (await decompressStream(store.content.read(blob.digest))).stream.pipe(new VerifyStream(layer.diffID, blobPath(layer.diffID))),
    };
  }
  const file = await scratch.file();
  const digest = new DigestStream();
  await pipeline(store.layers.tar(layer.chainID), digest, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  const d = digest.digest();
  return { descriptor: { mediaType: MediaType.OCI_LAYER, digest: d, size: digest.size }, diffID: d, open: async () => createReadStream(file) };
}

/** The manifest of an image as saved: the one it came with when it still fits, else a new OCI manifest. */
async function manifestOf(store: ImageStore, image: Image, config: Descriptor, layers: LayerOut[]): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
  const kept = (await image.record()).manifest;
  if (kept !== undefined && (await store.content.has(kept.digest))) {
    const bytes = await store.content.readAll(kept.digest);
    const m = JSON.parse(bytes.toString('utf8')) as ImageManifest;
    if (m.config?.digest === config.digest && m.layers?.length === layers.length && m.layers.every((l, i) => l.digest === layers[i]!.descriptor.digest)) {
      return { descriptor: { mediaType: kept.mediaType, digest: kept.digest, size: kept.size }, bytes };
    }
  }
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config, layers: layers.map((l) => l.descriptor) };
  const bytes = Buffer.from(JSON.stringify(manifest));
  return { descriptor: { mediaType: MediaType.OCI_MANIFEST, digest: sha256(bytes), size: bytes.length }, bytes };
}

/** What was written of one image, for the index and manifest.json. */
interface Written {
  saved: SavedImage;
  refs: Reference[];
  layers: Descriptor[];
}

/** Writes one image's blobs: layers, config, manifest. */
async function writeImage(store: ImageStore, sel: Selection, writer: LayoutWriter, mode: LayerMode, scratch: Scratch, signal?: AbortSignal): Promise<Written> {
  const rec = await sel.image.record();
  const layers: LayerOut[] = [];
  for (const layer of rec.layers) {
    signal?.throwIfAborted();
    const out = await layerOut(store, layer, mode, scratch);
    const name = blobPath(out.descriptor.digest);
    if (!(await writer.has(name))) await writer.stream(name, out.descriptor.size, await out.open());
    layers.push(out);
  }
  let configBytes = await store.content.readAll(rec.id);
  const diffIDs = layers.map((l) => l.diffID);
  const config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
  if (config.rootfs.diff_ids.some((d, i) => d !== diffIDs[i])) {
    configBytes = Buffer.from(JSON.stringify({ ...config, rootfs: { ...config.rootfs, diff_ids: diffIDs } }));
  }
  const configDesc: Descriptor = { mediaType: MediaType.OCI_CONFIG, digest: sha256(configBytes), size: configBytes.length };
  if (!(await writer.has(blobPath(configDesc.digest)))) await writer.file(blobPath(configDesc.digest), configBytes);
  const manifest = await manifestOf(store, sel.image, configDesc, layers);
  if (!(await writer.has(blobPath(manifest.descriptor.digest)))) await writer.file(blobPath(manifest.descriptor.digest), manifest.bytes);
  const refs = [...sel.references.values()];
  return {
    saved: { id: configDesc.digest, storedId: rec.id, references: refs.map(familiarString), manifest: manifest.descriptor },
    refs,
    layers: layers.map((l) => l.descriptor),
  };
}

/** The index entries of the written images: one per name (annotated), or one unnamed. */
function indexEntries(written: Written[]): Descriptor[] {
  return written.flatMap((w) =>
    w.refs.length === 0 ? [w.saved.manifest] : w.refs.map((r) => ({ ...w.saved.manifest, annotations: { [ANNOTATION_IMAGE_NAME]: referenceString(r), [ANNOTATION_REF_NAME]: r.tag! } })),
  );
}

/** Adds `entries` to an existing layout's index, replacing entries of the same names. */
function mergeIndex(existing: Buffer | undefined, entries: Descriptor[]): ImageIndex {
  let old: Descriptor[] = [];
  if (existing !== undefined) {
    try {
      old = (JSON.parse(existing.toString('utf8')) as ImageIndex).manifests ?? [];
    } catch (err) {
      throw new ImageError(`the layout's index.json is not JSON: ${(err as Error).message}`, 'EINVALIDARCHIVE', 'index.json', err);
    }
  }
  const nameOf = (d: Descriptor): string | undefined => d.annotations?.[ANNOTATION_IMAGE_NAME] ?? d.annotations?.[ANNOTATION_REF_NAME];
  const taken = new Set(entries.map(nameOf).filter((n) => n !== undefined));
  const kept = old.filter((d) => {
    const n = nameOf(d);
    return n === undefined ? !entries.some((e) => e.digest === d.digest) : !taken.has(n);
  });
  return { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [...kept, ...entries] };
}

/** Writes the images named by `names` through `writer`; with `docker`, also manifest.json and repositories. */
async function write(store: ImageStore, names: readonly string[], writer: LayoutWriter, mode: LayerMode, docker: boolean, signal?: AbortSignal): Promise<SaveResult> {
  const scratch = new Scratch(store.root);
  try {
    const selections = await select(store, names);
    const written: Written[] = [];
    for (const sel of selections) written.push(await writeImage(store, sel, writer, mode, scratch, signal));
    await writer.file('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    await writer.file('index.json', Buffer.from(JSON.stringify(mergeIndex(await writer.existing('index.json'), indexEntries(written)))));
    if (docker) {
      const items: DockerManifestItem[] = written.map((w) => ({ Config: blobPath(w.saved.id), RepoTags: w.saved.references, Layers: w.layers.map((l) => blobPath(l.digest)) }));
      await writer.file('manifest.json', Buffer.from(JSON.stringify(items)));
      const repositories: Record<string, Record<string, string>> = {};
      for (const w of written) {
        const top = w.layers[w.layers.length - 1];
        if (top === undefined) continue;
        for (const r of w.refs) (repositories[familiarName(r)] ??= {})[r.tag!] = top.digest.slice('sha256:'.length);
      }
      if (Object.keys(repositories).length > 0) await writer.file('repositories', Buffer.from(JSON.stringify(repositories)));
    }
    await writer.finish();
    return { images: written.map((w) => w.saved) };
  } catch (err) {
    await writer.abort(err);
    throw err;
  } finally {
    await scratch.remove();
  }
}

/**
 * Writes the images `names` name to `output` as `docker save` does: by default the form Docker
 * 25+ writes (loadable by `docker load`, `podman load`, skopeo's `docker-archive:`), with
 * several images and names in one archive. `output` is ended when the archive is complete, and
 * destroyed on failure. ImageError `ENOENT` for a name that names nothing.
 */
export async function saveArchive(store: ImageStore, names: readonly string[], output: Writable, options: SaveOptions = {}): Promise<SaveResult> {
  const format = options.format ?? 'docker';
  if (format !== 'docker' && format !== 'oci') throw new ImageError(`unknown archive format ${JSON.stringify(format)} (docker or oci)`, 'EINVALIDARCHIVE', String(format));
  return write(store, names, new TarLayoutWriter(output), format === 'docker' ? 'uncompressed' : 'original', format === 'docker', options.signal);
}

/**
 * Writes the images `names` name as an OCI image layout: into a directory (created, or added to
 * if it holds a layout: same-named entries of its `index.json` are replaced) or as a tar into a
 * Writable. The index names each image with `io.containerd.image.name` (the whole reference)
 * and `org.opencontainers.image.ref.name` (its tag, as skopeo's `oci:<dir>:<tag>` looks it up).
 */
export async function writeOciLayout(store: ImageStore, names: readonly string[], target: string | Writable, options: Omit<SaveOptions, 'format'> = {}): Promise<SaveResult> {
  const writer = typeof target === 'string' ? new DirLayoutWriter(path.resolve(target)) : new TarLayoutWriter(target);
  return write(store, names, writer, 'original', false, options.signal);
}
