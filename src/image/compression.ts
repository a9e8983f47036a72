/**
 * Layer and archive compression, detected from a stream's first bytes as `docker load` does:
 * gzip (`1f 8b 08`), zstd (`28 b5 2f fd`, or a skippable frame `5x 2a 4d 18`), bzip2 (`BZh`)
 * and xz (`fd 37 7a 58 5a 00`); anything else is uncompressed. gzip and zstd are decoded
 * (zstd through the `zstd-napi` addon, since Node 20's zlib has none); bzip2 and xz are
 * recognised only to be refused with a {@link LayerError} `EUNSUPPORTEDCOMPRESSION`.
 * Also the layer media types of OCI and Docker schema 2 and the compression each implies.
 * @module
 */
import { Readable, pipeline, type Transform } from 'node:stream';
import { lazyRequire } from '../util/lazy-require.js';
import { BerthError } from '../errors.js';
import { LayerError } from './errors.js';

/** A compression that can be detected from the first bytes. */
export type Compression = 'none' | 'gzip' | 'zstd' | 'bzip2' | 'xz';
/** A compression berth can decode and encode. */
export type SupportedCompression = 'none' | 'gzip' | 'zstd';

/** How many leading bytes {@link detectCompression} needs to tell every format apart. */
export const COMPRESSION_MAGIC_LENGTH = 8;

const GZIP = [0x1f, 0x8b, 0x08];
const ZSTD = [0x28, 0xb5, 0x2f, 0xfd];
const BZIP2 = [0x42, 0x5a, 0x68];
const XZ = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const ZSTD_SKIPPABLE_START = 0x184d2a50;
const ZSTD_SKIPPABLE_MASK = 0xfffffff0;

/** Whether `buf` starts with `magic`. */
function startsWith(buf: Uint8Array, magic: readonly number[]): boolean {
  return buf.length >= magic.length && magic.every((b, i) => buf[i] === b);
}

/** The compression of a stream whose first bytes are `head` (give at least {@link COMPRESSION_MAGIC_LENGTH}, or all there is). */
export function detectCompression(head: Uint8Array): Compression {
  if (startsWith(head, BZIP2)) return 'bzip2';
  if (startsWith(head, GZIP)) return 'gzip';
  if (startsWith(head, XZ)) return 'xz';
  if (startsWith(head, ZSTD)) return 'zstd';
  // a zstd skippable frame (magic 0x184D2A50..5F, then a 4-byte size), as Docker accepts
  if (head.length >= 8 && ((Buffer.from(head.buffer, head.byteOffset, 4).readUInt32LE(0) & ZSTD_SKIPPABLE_MASK) >>> 0) === ZSTD_SKIPPABLE_START) return 'zstd';
  return 'none';
}

/** Throws {@link LayerError} `EUNSUPPORTEDCOMPRESSION` for bzip2 and xz; narrows the others. */
export function assertSupportedCompression(compression: Compression): asserts compression is SupportedCompression {
  if (compression === 'bzip2' || compression === 'xz') {
    throw new LayerError(`${compression}-compressed content is not supported (only gzip, zstd or uncompressed)`, 'EUNSUPPORTEDCOMPRESSION', compression);
  }
}

/** The start of a stream, read ahead, and the whole stream again. */
interface Peeked {
  /** At least the bytes asked for, unless the stream was shorter. */
  head: Buffer;
  /** Yields the head's chunks, then the rest of the stream. */
  all: AsyncIterable<Buffer>;
  /** Ends the source without reading on (for a stream refused after the peek). */
  release(): Promise<void>;
  /** Whether an error came from the source itself (not from decoding it). */
  fromSource(err: unknown): boolean;
}

/** Reads chunks until at least `n` bytes (or the end), keeping them to be yielded again. */
async function peek(src: AsyncIterable<Uint8Array>, n: number): Promise<Peeked> {
  const it = src[Symbol.asyncIterator]();
  const asBuffer = (c: Uint8Array): Buffer => (Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  const sourceErrors = new WeakSet<object>();
  const next = async (): Promise<IteratorResult<Uint8Array>> => {
    try {
      return await it.next();
    } catch (err) {
      if (typeof err === 'object' && err !== null) sourceErrors.add(err);
      throw err;
    }
  };
  const taken: Buffer[] = [];
  let len = 0;
  let done = false;
  while (len < n) {
    const r = await next();
    if (r.done === true) {
      done = true;
      break;
    }
    taken.push(asBuffer(r.value));
    len += r.value.length;
  }
  const release = async (): Promise<void> => {
    if (done) return;
    done = true;
    await it.return?.();
  };
  async function* all(): AsyncGenerator<Buffer> {
    try {
      yield* taken.splice(0);
      while (!done) {
        const r = await next();
        if (r.done === true) {
          done = true;
          return;
        }
        yield asBuffer(r.value);
      }
    } finally {
      await release(); // stopped early: let the source release what it holds
    }
  }
  return { head: Buffer.concat(taken), all: all(), release, fromSource: (err) => typeof err === 'object' && err !== null && sourceErrors.has(err) };
}

const zlib = lazyRequire<typeof import('node:zlib')>('node:zlib');
const zstd = lazyRequire<typeof import('zstd-napi')>('zstd-napi');

/** Output buffer size of gunzip: 4× zlib's default, so a layer crosses to the thread pool a quarter as often. */
const GUNZIP_CHUNK = 64 * 1024;

/** A decoder for `compression`. */
function decoder(compression: 'gzip' | 'zstd'): Transform {
  return compression === 'gzip' ? zlib().createGunzip({ chunkSize: GUNZIP_CHUNK }) : new (zstd().DecompressStream)();
}

/** What {@link decompressStream} returns. */
export interface Decompressed {
  /** The compression detected from the first bytes. */
  compression: SupportedCompression;
  /** The uncompressed content; a corrupt or truncated input makes it fail with {@link LayerError} `ECORRUPT`. */
  stream: Readable;
}

/**
 * Detects the compression of `source` from its first bytes (which are not lost) and returns
 * it with a stream of the uncompressed content. bzip2 and xz are refused with
 * {@link LayerError} `EUNSUPPORTEDCOMPRESSION`. Destroying the returned stream ends the source.
 */
export async function decompressStream(source: Readable | AsyncIterable<Uint8Array>): Promise<Decompressed> {
  const peeked = await peek(source, COMPRESSION_MAGIC_LENGTH);
  const compression = detectCompression(peeked.head);
  if (compression === 'bzip2' || compression === 'xz') {
    await peeked.release();
    assertSupportedCompression(compression);
  }
  if (compression === 'none') return { compression, stream: Readable.from(peeked.all, { objectMode: false }) };
  const kind = compression as 'gzip' | 'zstd';
  const dec = decoder(kind);
  pipeline(Readable.from(peeked.all, { objectMode: false }), dec, () => undefined); // a failure surfaces on dec
  async function* decoded(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of dec) yield chunk as Buffer;
    } catch (err) {
      if (err instanceof BerthError || peeked.fromSource(err)) throw err;
      throw new LayerError(`corrupt ${kind} stream: ${err instanceof Error ? err.message : String(err)}`, 'ECORRUPT', undefined, err);
    }
  }
  return { compression: kind, stream: Readable.from(decoded(), { objectMode: false }) };
}

/** Options of {@link compressStream}. */
export interface CompressOptions {
  /** Compression level: gzip 1-9 (default 6), zstd 1-22 (default 3). */
  level?: number;
}

/** A Transform that compresses what is written to it with gzip or zstd (zstd frames carry a content checksum, as the zstd CLI writes them). */
export function compressStream(kind: 'gzip' | 'zstd', options: CompressOptions = {}): Transform {
  if (kind === 'gzip') return zlib().createGzip(options.level === undefined ? {} : { level: options.level });
  if (kind === 'zstd') return new (zstd().CompressStream)({ checksumFlag: true, ...(options.level === undefined ? {} : { compressionLevel: options.level }) });
  throw new LayerError(`cannot compress with ${JSON.stringify(kind)} (gzip or zstd)`, 'EUNSUPPORTEDCOMPRESSION', String(kind));
}

/** Which family of manifest a layer media type is for. */
export type MediaTypeFormat = 'oci' | 'docker';

const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
const OCI_NONDIST = 'application/vnd.oci.image.layer.nondistributable.v1.tar';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar';
const DOCKER_FOREIGN = 'application/vnd.docker.image.rootfs.foreign.diff.tar';

const LAYER_MEDIA_TYPES: Readonly<Record<string, SupportedCompression>> = {
  [OCI_LAYER]: 'none',
  [`${OCI_LAYER}+gzip`]: 'gzip',
  [`${OCI_LAYER}+zstd`]: 'zstd',
  [OCI_NONDIST]: 'none',
  [`${OCI_NONDIST}+gzip`]: 'gzip',
  [`${OCI_NONDIST}+zstd`]: 'zstd',
  [DOCKER_LAYER]: 'none',
  [`${DOCKER_LAYER}.gzip`]: 'gzip',
  [`${DOCKER_LAYER}.zstd`]: 'zstd', // not in the schema 2 spec; written by BuildKit and read by containerd
  [DOCKER_FOREIGN]: 'none',
  [`${DOCKER_FOREIGN}.gzip`]: 'gzip',
};

/**
 * The layer media type for a compression: OCI `application/vnd.oci.image.layer.v1.tar[+gzip|+zstd]`
 * or Docker `application/vnd.docker.image.rootfs.diff.tar[.gzip|.zstd]`; `nonDistributable`
 * gives the OCI non-distributable or Docker foreign variant (Docker has no zstd foreign type:
 * {@link LayerError} `EUNSUPPORTEDCOMPRESSION`).
 */
export function layerMediaType(kind: SupportedCompression, format: MediaTypeFormat = 'oci', options: { nonDistributable?: boolean } = {}): string {
  const nondist = options.nonDistributable === true;
  if (format === 'oci') return (nondist ? OCI_NONDIST : OCI_LAYER) + (kind === 'none' ? '' : `+${kind}`);
  if (nondist && kind === 'zstd') throw new LayerError('Docker schema 2 has no zstd foreign layer media type', 'EUNSUPPORTEDCOMPRESSION', kind);
  return (nondist ? DOCKER_FOREIGN : DOCKER_LAYER) + (kind === 'none' ? '' : `.${kind}`);
}

/** The compression a layer media type implies, or undefined if it is not a known layer media type (parameters after `;` are ignored). */
export function compressionOfMediaType(mediaType: string): SupportedCompression | undefined {
  const bare = mediaType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return Object.hasOwn(LAYER_MEDIA_TYPES, bare) ? LAYER_MEDIA_TYPES[bare] : undefined;
}

/** Whether a layer media type is OCI non-distributable or Docker foreign (its blob may live elsewhere than the registry). */
export function isNonDistributableMediaType(mediaType: string): boolean {
  const bare = mediaType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return compressionOfMediaType(bare) !== undefined && (bare.startsWith(OCI_NONDIST) || bare.startsWith(DOCKER_FOREIGN));
}
