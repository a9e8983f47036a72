/**
 * What a loader learns from an archive's index or manifest before it stores anything: for each
 * image, the entries holding its config and layer blobs (with the digests the format gives),
 * the manifest it came with and the names to give it. Both archive forms — `docker save`'s
 * `manifest.json` and an OCI layout's `index.json` — are read into plans, and one ingest path
 * stores them. Also the blob helpers both forms share.
 * @module
 */
import { sha256, type Digest } from '../digest.js';
import { ContentError, ImageError } from '../errors.js';
import type { Descriptor } from '../oci.js';
import type { Reference } from '../reference.js';
import type { ArchiveFiles } from './archive-files.js';

/** One blob of a plan: the archive entry holding it and what the format says of it. */
export interface PlannedBlob {
  /** The entry's name in the archive. */
  name: string;
  /** The digest the blob must have, when the format gives one. */
  digest?: Digest;
  /** The size the blob must have, when the format gives one. */
  size?: number;
  /** The media type the format gives it. */
  mediaType?: string;
}

/** One image to load. */
export interface ImagePlan {
  /** Where the image was described (`manifest.json`, `index.json`, a manifest blob), for errors. */
  source: string;
  /** The config blob (its digest is the image id). */
  config: PlannedBlob;
  /** The layer blobs, bottom first. */
  layers: PlannedBlob[];
  /** The manifest it came with (kept in the content store, so a save or push keeps its digest). */
  manifest?: { descriptor: Descriptor; bytes: Buffer };
  /** The names to give it. */
  references: Reference[];
}

/** The entry name of a blob in an OCI layout: `blobs/<algorithm>/<hex>`. */
export function blobPath(digest: string): string {
  const [alg, hex] = digest.split(':', 2);
  return `blobs/${alg}/${hex}`;
}

/** The digest a `blobs/sha256/<hex>` (or legacy `<hex>.json`) entry name implies, if any. */
export function digestOfPath(name: string): Digest | undefined {
  const m = /^(?:blobs\/sha256\/([0-9a-f]{64})|([0-9a-f]{64})\.json)$/.exec(name);
  return m === null ? undefined : (`sha256:${m[1] ?? m[2]}` as Digest);
}

/** Reads a small blob (an index, manifest or config) whole and checks its digest and size; ImageError `EINVALIDARCHIVE` when absent. */
export async function readPlannedBlob(files: ArchiveFiles, blob: PlannedBlob): Promise<Buffer> {
  const data = await files.read(blob.name);
  if (data === undefined) throw new ImageError(`archive entry ${blob.name} is missing`, 'EINVALIDARCHIVE', blob.name);
  if (blob.digest !== undefined) {
    const actual = sha256(data);
    if (actual !== blob.digest) throw new ContentError(`archive entry ${blob.name}: content digest mismatch: expected ${blob.digest}, got ${actual}`, 'EDIGEST', { expected: blob.digest, actual, path: blob.name });
  }
  if (blob.size !== undefined && data.length !== blob.size) {
    throw new ImageError(`archive entry ${blob.name} has ${data.length} bytes, its descriptor says ${blob.size}`, 'EINVALIDARCHIVE', blob.name);
  }
  return data;
}

/** Parses a JSON document of the archive; ImageError `EINVALIDARCHIVE` naming the entry when it is not JSON or not an object. */
export function parseArchiveJson<T>(data: Buffer, name: string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new ImageError(`${what} ${name} is not JSON: ${(err as Error).message}`, 'EINVALIDARCHIVE', name, err);
  }
  if (typeof value !== 'object' || value === null) throw new ImageError(`${what} ${name} is not a JSON object`, 'EINVALIDARCHIVE', name);
  return value as T;
}
