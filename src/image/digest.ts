/**
 * sha256 digests as OCI writes them (`sha256:<64 hex>`), and a pass-through stream that digests.
 * @module
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ContentError } from './errors.js';

/** A digest string `sha256:<64 lowercase hex>`. */
export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** Checks a digest string and returns its hex part (throws ContentError EINVALIDDIGEST). */
export function digestHex(digest: string): string {
  if (!DIGEST_RE.test(digest)) throw new ContentError(`invalid digest ${JSON.stringify(digest)}`, 'EINVALIDDIGEST', { path: digest });
  return digest.slice('sha256:'.length);
}

/** The sha256 digest of a buffer or string. */
export function sha256(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A pass-through stream that digests (and counts) what flows through it. */
export class DigestStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  /** Bytes seen so far. */
  size = 0;
  private result: Digest | undefined;

  /** Passes chunks on, digesting them. */
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }

  /** The digest of everything seen; call once the stream has ended. */
  digest(): Digest {
    this.result ??= `sha256:${this.hash.digest('hex')}`;
    return this.result;
  }
}
