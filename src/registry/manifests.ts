/**
 * Manifests on a registry: fetched by tag or digest with every media type berth reads in
 * `Accept`, size-limited, digest-checked (against the digest asked for, or the
 * `Docker-Content-Digest` the registry claims), classified and validated before anything of
 * them is used; and put with their own media type as `Content-Type`.
 * @module
 */
import { sha256, type Digest } from '../image/digest.js';
import { compressionOfMediaType } from '../image/compression.js';
import { MediaType, type Descriptor, type ImageIndex, type ImageManifest } from '../image/oci.js';
import { repositoryScope } from './auth.js';
import { readBody, responseError, type Endpoint, type RegistryClient } from './client.js';
import { RegistryError, type RegistryErrorDetails } from './errors.js';

/** The largest manifest or index accepted (containerd's limit). */
export const MAX_MANIFEST_SIZE = 4 << 20;
/** The largest image config accepted. */
export const MAX_CONFIG_SIZE = 16 << 20;

/** Manifest media types berth reads, best first, as sent in `Accept`. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST_LIST, MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST];

const SCHEMA1 = ['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws'];
const CONFIG_MEDIA_TYPES = new Set<string>([MediaType.OCI_CONFIG, MediaType.DOCKER_CONFIG]);
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** A manifest as fetched: its bytes (kept exactly, its digest depends on them), media type and digest. */
export interface FetchedManifest {
  /** The bytes as the registry sent them. */
  bytes: Buffer;
  /** Its media type. */
  mediaType: string;
  /** sha256 of `bytes`. */
  digest: Digest;
}

/** A manifest parsed: an index (or manifest list), or an image manifest. */
export type ParsedManifest = ParsedIndex | ParsedImageManifest;

/** A parsed index or manifest list. */
export interface ParsedIndex {
  /** Always `index`. */
  kind: 'index';
  /** Its media type. */
  mediaType: string;
  /** The index. */
  index: ImageIndex;
}

/** A parsed image manifest. */
export interface ParsedImageManifest {
  /** Always `manifest`. */
  kind: 'manifest';
  /** Its media type. */
  mediaType: string;
  /** The manifest. */
  manifest: ImageManifest;
}

/** The media type without parameters, lowercased. */
function bare(mediaType: string | undefined): string {
  return (mediaType ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

/** Checks a descriptor: a sha256 digest (`EINVALIDDIGEST`), a size, a media type (`EINVALIDMANIFEST`). */
export function checkDescriptor(d: unknown, what: string, details: RegistryErrorDetails): asserts d is Descriptor {
  const x = d as Partial<Descriptor> | null;
  if (typeof x !== 'object' || x === null) throw new RegistryError(`${what} is not a descriptor`, 'EINVALIDMANIFEST', details);
  if (typeof x.digest !== 'string' || !DIGEST_RE.test(x.digest)) {
    const algo = typeof x.digest === 'string' && /^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(x.digest) && !x.digest.startsWith('sha256:');
    throw new RegistryError(`${what} has ${algo ? 'a digest of an unsupported algorithm' : 'an invalid digest'} ${JSON.stringify(x.digest)}`, 'EINVALIDDIGEST', { ...details, digest: String(x.digest) });
  }
  if (typeof x.size !== 'number' || !Number.isSafeInteger(x.size) || x.size < 0) throw new RegistryError(`${what} has an invalid size ${JSON.stringify(x.size)}`, 'EINVALIDMANIFEST', { ...details, digest: x.digest });
  if (typeof x.mediaType !== 'string' || x.mediaType === '') throw new RegistryError(`${what} has no media type`, 'EINVALIDMANIFEST', { ...details, digest: x.digest });
}

/**
 * Parses and validates a manifest's bytes: its media type (from the answer's `Content-Type`,
 * else its own `mediaType`, else its shape), a schema-2 index with valid descriptors, or an
 * image manifest whose config and layers are of media types berth can pull.
 * RegistryError `EUNSUPPORTEDMEDIATYPE`, `EINVALIDMANIFEST` or `EINVALIDDIGEST` otherwise.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined, details: RegistryErrorDetails = {}): ParsedManifest {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new RegistryError('manifest is not JSON', 'EINVALIDMANIFEST', { ...details, cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new RegistryError('manifest is not a JSON object', 'EINVALIDMANIFEST', details);
  const header = bare(contentType);
  const own = typeof doc['mediaType'] === 'string' ? bare(doc['mediaType']) : '';
  let mt = MANIFEST_MEDIA_TYPES.includes(header) ? header : own !== '' ? own : '';
  if (SCHEMA1.includes(header) || SCHEMA1.includes(own) || doc['schemaVersion'] === 1) {
    throw new RegistryError('Docker schema 1 manifests are not supported (deprecated; push the image again with a current client)', 'EUNSUPPORTEDMEDIATYPE', details);
  }
  if (mt === '') {
    if (Array.isArray(doc['manifests'])) mt = MediaType.OCI_INDEX;
    else if (doc['config'] !== undefined && Array.isArray(doc['layers'])) mt = MediaType.OCI_MANIFEST;
  }
  if (!MANIFEST_MEDIA_TYPES.includes(mt)) {
    throw new RegistryError(`manifest of unsupported media type ${JSON.stringify(mt || header || 'none')} (berth reads ${MANIFEST_MEDIA_TYPES.join(', ')})`, 'EUNSUPPORTEDMEDIATYPE', details);
  }
  if (doc['schemaVersion'] !== 2) throw new RegistryError(`manifest has schemaVersion ${JSON.stringify(doc['schemaVersion'])}, not 2`, 'EINVALIDMANIFEST', details);
  if (own !== '' && own !== mt && MANIFEST_MEDIA_TYPES.includes(own)) {
    throw new RegistryError(`manifest says it is ${own} but was served as ${mt}`, 'EINVALIDMANIFEST', details);
  }
  if (mt === MediaType.OCI_INDEX || mt === MediaType.DOCKER_MANIFEST_LIST) {
    const list = doc['manifests'];
    if (!Array.isArray(list)) throw new RegistryError('index has no manifests list', 'EINVALIDMANIFEST', details);
    list.forEach((d, i) => checkDescriptor(d, `index entry ${i}`, details));
    return { kind: 'index', mediaType: mt, index: doc as unknown as ImageIndex };
  }
  const config = doc['config'];
  const layers = doc['layers'];
  checkDescriptor(config, 'manifest config', details);
  if (!Array.isArray(layers)) throw new RegistryError('manifest has no layers list', 'EINVALIDMANIFEST', details);
  layers.forEach((d, i) => checkDescriptor(d, `layer ${i}`, details));
  if (!CONFIG_MEDIA_TYPES.has(bare(config.mediaType))) {
    throw new RegistryError(`manifest config of unsupported media type ${config.mediaType} (not a container image)`, 'EUNSUPPORTEDMEDIATYPE', { ...details, digest: config.digest });
  }
  for (const l of layers as Descriptor[]) {
    if (compressionOfMediaType(l.mediaType) === undefined) {
      throw new RegistryError(`layer ${l.digest} of unsupported media type ${l.mediaType}`, 'EUNSUPPORTEDMEDIATYPE', { ...details, digest: l.digest });
    }
  }
  return { kind: 'manifest', mediaType: mt, manifest: doc as unknown as ImageManifest };
}

/**
 * Fetches a manifest by tag or digest, with digest check: by digest, the bytes must have that
 * digest; by tag, they must have the `Docker-Content-Digest` the registry sends (if it does).
 */
export async function fetchManifest(client: RegistryClient, ep: Endpoint, repository: string, reference: string, options: { signal?: AbortSignal } = {}): Promise<FetchedManifest> {
  const byDigest = reference.includes(':');
  const details: RegistryErrorDetails = { registry: ep.registry, repository, ...(byDigest ? { digest: reference } : {}) };
  const res = await client.send(ep, {
    method: 'GET',
    path: `/v2/${repository}/manifests/${reference}`,
    headers: { Accept: MANIFEST_MEDIA_TYPES.join(', ') },
    scopes: [repositoryScope(repository, ['pull'])],
    repository,
    ...(byDigest ? { digest: reference } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (res.status !== 200) throw await responseError(res, `manifest ${reference}`, details);
  const bytes = await readBody(res, MAX_MANIFEST_SIZE, `manifest ${reference}`, details);
  const digest = sha256(bytes);
  const claimed = res.headers['docker-content-digest'];
  if (byDigest && digest !== reference) {
    throw new RegistryError(`manifest ${reference} from ${ep.host}/${repository} has digest ${digest}`, 'EDIGEST', details);
  }
  if (!byDigest && typeof claimed === 'string' && claimed.startsWith('sha256:') && claimed !== digest) {
    throw new RegistryError(`manifest ${repository}:${reference} from ${ep.host} has digest ${digest}, but the registry says ${claimed}`, 'EDIGEST', { ...details, digest: claimed });
  }
  return { bytes, mediaType: bare(res.headers['content-type']), digest };
}

/** Whether a manifest exists (HEAD): its digest when the registry says, `true` when it does not say, undefined when absent. */
export async function manifestExists(client: RegistryClient, ep: Endpoint, repository: string, reference: string, options: { signal?: AbortSignal; scopes?: string[] } = {}): Promise<string | true | undefined> {
  const details: RegistryErrorDetails = { registry: ep.registry, repository };
  const res = await client.send(ep, {
    method: 'HEAD',
    path: `/v2/${repository}/manifests/${reference}`,
    headers: { Accept: MANIFEST_MEDIA_TYPES.join(', ') },
    scopes: options.scopes ?? [repositoryScope(repository, ['pull'])],
    repository,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  res.body.resume();
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw await responseError(res, `manifest ${reference}`, details);
  const d = res.headers['docker-content-digest'];
  return typeof d === 'string' && d !== '' ? d : true;
}

/** Puts a manifest under a tag or its digest with its media type; returns its digest (checked against what the registry says it stored). */
export async function putManifest(client: RegistryClient, ep: Endpoint, repository: string, reference: string, bytes: Buffer, mediaType: string, options: { signal?: AbortSignal } = {}): Promise<Digest> {
  const digest = sha256(bytes);
  const details: RegistryErrorDetails = { registry: ep.registry, repository, digest };
  const res = await client.send(ep, {
    method: 'PUT',
    path: `/v2/${repository}/manifests/${reference}`,
    headers: { 'Content-Type': mediaType },
    body: bytes,
    scopes: [repositoryScope(repository, ['pull', 'push'])],
    repository,
    digest,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (res.status !== 201 && res.status !== 200) throw await responseError(res, `putting manifest ${repository}:${reference}`, details);
  res.body.resume();
  const claimed = res.headers['docker-content-digest'];
  if (typeof claimed === 'string' && claimed.startsWith('sha256:') && claimed !== digest) {
    throw new RegistryError(`registry ${ep.host} stored manifest ${digest} as ${claimed}`, 'EDIGEST', details);
  }
  return digest;
}
