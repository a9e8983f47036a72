/**
 * Reading an OCI image layout's `index.json` into image plans. Nested indexes (multi-platform
 * images, Docker manifest lists) are walked to the manifest for this host's platform
 * ({@link hostPlatform}); attestation manifests (`vnd.docker.reference.type:
 * attestation-manifest`) are skipped. Names come from `io.containerd.image.name` (a whole
 * reference, as Docker and containerd write it) or `org.opencontainers.image.ref.name`: a
 * whole reference is used as is; a bare tag (what skopeo and umoci write) is joined to the
 * caller's `repository`, and without one the image loads unnamed.
 * @module
 */
import { digestHex, type Digest } from '../digest.js';
import { ImageError } from '../errors.js';
import { hostPlatform, MediaType, type Descriptor, type ImageIndex, type ImageManifest, type Platform } from '../oci.js';
import { compressionOfMediaType } from '../compression.js';
import { normalizeReference, parseReference, withTag, type Reference } from '../reference.js';
import type { ArchiveFiles } from './archive-files.js';
import { blobPath, parseArchiveJson, readPlannedBlob, type ImagePlan } from './image-plan.js';

/** The annotation naming an image by its whole reference (containerd, Docker). */
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';
/** The OCI annotation naming a manifest in an index (a tag, or a whole reference). */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
/** The annotation BuildKit puts on attestation manifests. */
const ANNOTATION_REFERENCE_TYPE = 'vnd.docker.reference.type';

/** How an OCI index's names become references (options of {@link loadArchive} and {@link readOciLayout}). */
export interface OciPlanOptions {
  /** The repository (`busybox`, `localhost:5000/app`) to join to `ref.name` annotations that hold only a tag. */
  repository?: string;
}

const TAG_RE = /^\w[\w.-]{0,127}$/;

/** The names an index entry's annotations give. */
function namesOf(desc: Descriptor, options: OciPlanOptions): Reference[] {
  const full = desc.annotations?.[ANNOTATION_IMAGE_NAME];
  if (full) return [normalizeReference(full)];
  const ref = desc.annotations?.[ANNOTATION_REF_NAME];
  if (!ref) return [];
  if (TAG_RE.test(ref) && options.repository !== undefined) {
    const repo = parseReference(options.repository);
    return [withTag({ domain: repo.domain, path: repo.path }, ref)];
  }
  return /[/:@]/.test(ref) ? [normalizeReference(ref)] : [];
}

/** Whether a descriptor is an attestation manifest. */
function isAttestation(desc: Descriptor): boolean {
  return desc.annotations?.[ANNOTATION_REFERENCE_TYPE] === 'attestation-manifest';
}

/** Whether a platform is this host's. */
function isHostPlatform(p: Platform | undefined): boolean {
  const host = hostPlatform();
  return p !== undefined && p.os === host.os && p.architecture === host.architecture;
}

/** Whether a descriptor (or, lacking a media type, the document itself) is an index. */
function isIndex(desc: Descriptor, doc: { manifests?: unknown }): boolean {
  return desc.mediaType === MediaType.OCI_INDEX || desc.mediaType === MediaType.DOCKER_MANIFEST_LIST || (desc.mediaType === undefined && Array.isArray(doc.manifests));
}

/** The manifests of an index worth loading: for a set of platforms, this host's. */
function choose(manifests: Descriptor[], where: string): Descriptor[] {
  const candidates = manifests.filter((m) => !isAttestation(m));
  if (!candidates.some((m) => m.platform !== undefined)) return candidates;
  const host = candidates.find((m) => isHostPlatform(m.platform));
  if (host === undefined) {
    const h = hostPlatform();
    throw new ImageError(`${where} has no manifest for ${h.os}/${h.architecture} (it has ${candidates.map((m) => `${m.platform?.os}/${m.platform?.architecture}`).join(', ')})`, 'ENOPLATFORM', where);
  }
  return [host];
}

/** Checks a descriptor's shape; ImageError `EINVALIDARCHIVE` naming `where`. */
function checkDescriptor(d: Descriptor | undefined, where: string): Descriptor {
  if (typeof d !== 'object' || d === null || typeof d.digest !== 'string') throw new ImageError(`${where} has a descriptor without a digest`, 'EINVALIDARCHIVE', where);
  try {
    digestHex(d.digest);
  } catch (err) {
    throw new ImageError(`${where} names an invalid digest ${JSON.stringify(d.digest)}`, 'EINVALIDARCHIVE', where, err);
  }
  return d;
}

/** Walks a descriptor down to image manifests, adding a plan for each. */
async function walk(files: ArchiveFiles, desc: Descriptor, names: Reference[], where: string, out: ImagePlan[]): Promise<void> {
  const name = blobPath(desc.digest);
  const bytes = await readPlannedBlob(files, { name, digest: desc.digest, ...(typeof desc.size === 'number' ? { size: desc.size } : {}) });
  const doc = parseArchiveJson<Partial<ImageManifest & ImageIndex>>(bytes, name, `manifest of ${where}`);
  if (isIndex(desc, doc)) {
    if (!Array.isArray(doc.manifests)) throw new ImageError(`index ${name} has no manifests`, 'EINVALIDARCHIVE', name);
    for (const m of choose(doc.manifests.map((d) => checkDescriptor(d, name)), name)) await walk(files, m, names, name, out);
    return;
  }
  if (!Array.isArray(doc.layers)) throw new ImageError(`manifest ${name} has no layers`, 'EINVALIDARCHIVE', name);
  const config = checkDescriptor(doc.config, name);
  const layers = doc.layers.map((l) => {
    const d = checkDescriptor(l, name);
    if (compressionOfMediaType(d.mediaType ?? '') === undefined) throw new ImageError(`manifest ${name} has a layer of unsupported media type ${JSON.stringify(d.mediaType)}`, 'EINVALIDARCHIVE', name);
    return { name: blobPath(d.digest), digest: d.digest, size: d.size, mediaType: d.mediaType };
  });
  out.push({
    source: name,
    config: { name: blobPath(config.digest), digest: config.digest as Digest, size: config.size, mediaType: config.mediaType },
    layers,
    manifest: { descriptor: { mediaType: desc.mediaType ?? doc.mediaType ?? MediaType.OCI_MANIFEST, digest: desc.digest, size: bytes.length }, bytes },
    references: names,
  });
}

/**
 * The images an OCI layout's `index.json` lists, as plans (ImageError `EINVALIDARCHIVE` when the
 * layout has no `index.json`, `ENOPLATFORM` when a multi-platform image lacks this host's).
 * Entries that are one platform each of a set (same names, each with a `platform`) give only
 * this host's.
 */
export async function ociPlans(files: ArchiveFiles, options: OciPlanOptions = {}): Promise<ImagePlan[]> {
  const data = await files.read('index.json');
  if (data === undefined) throw new ImageError('archive has neither manifest.json nor index.json', 'EINVALIDARCHIVE', 'index.json');
  const index = parseArchiveJson<Partial<ImageIndex>>(data, 'index.json', 'index');
  if (!Array.isArray(index.manifests)) throw new ImageError('index.json has no manifests', 'EINVALIDARCHIVE', 'index.json');
  const groups = new Map<string, Array<{ desc: Descriptor; names: Reference[] }>>();
  for (const d of index.manifests) {
    const desc = checkDescriptor(d, 'index.json');
    const names = namesOf(desc, options);
    const key = JSON.stringify(names);
    groups.set(key, [...(groups.get(key) ?? []), { desc, names }]);
  }
  const out: ImagePlan[] = [];
  for (const group of groups.values()) {
    const chosen = new Set(choose(group.map((g) => g.desc), 'index.json'));
    for (const g of group) if (chosen.has(g.desc)) await walk(files, g.desc, g.names, 'index.json', out);
  }
  return out;
}
