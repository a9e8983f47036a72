/**
 * The content-addressed blob store: `<root>/blobs/sha256/<hex>`, sha256 checked on every write
 * and every read. Writes go to a temp file in the same directory, are fsynced, verified and
 * renamed into place, so a blob is either whole or absent; concurrent writers of one blob (in
 * any process) all succeed, since each rename atomically installs the same content.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { digestHex, type Digest } from './digest.js';
import { ContentError } from './errors.js';
import { syncDir } from '../util/atomic-file.js';
import { processAlive } from '../util/process-alive.js';

/** What {@link ContentStore.write} stored. */
export interface BlobInfo {
  /** The blob's digest. */
  digest: Digest;
  /** Its size in bytes. */
  size: number;
}

const TEMP_PREFIX = '.tmp-';
/** Temp files of live processes younger than this are left alone by {@link ContentStore.open}. */
const TEMP_MAX_AGE_MS = 24 * 3600 * 1000;

/** A stream that passes a blob through and errors at its end when the content does not match `expected`. */
export class VerifyStream extends Transform {
  private readonly hash = createHash('sha256');

  constructor(
    /** The digest the content must have. */
    readonly expected: Digest,
    private readonly where?: string,
  ) {
    super();
  }

  /** Passes the chunk on, digesting it. */
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    cb(null, chunk);
  }

  /** Compares the digest at the end. */
  override _flush(cb: TransformCallback): void {
    const actual = `sha256:${this.hash.digest('hex')}` as Digest;
    if (actual === this.expected) cb();
    else cb(new ContentError(`content digest mismatch: expected ${this.expected}, got ${actual}`, 'EDIGEST', { expected: this.expected, actual, path: this.where }));
  }
}

/** A content-addressed blob store rooted at a directory. */
export class ContentStore {
  /** `<root>/blobs/sha256`. */
  readonly dir: string;

  private constructor(
    /** The store's root directory. */
    readonly root: string,
  ) {
    this.dir = path.join(root, 'blobs', 'sha256');
  }

  /** Opens (creating) the store at `root`, dropping temp files left by dead processes (crash repair). */
  static async open(root: string): Promise<ContentStore> {
    const store = new ContentStore(path.resolve(root));
    await mkdir(store.dir, { recursive: true, mode: 0o700 });
    const now = Date.now();
    for (const name of await readdir(store.dir)) {
      if (!name.startsWith(TEMP_PREFIX)) continue;
      const pid = Number(name.slice(TEMP_PREFIX.length).split('-')[0]);
      const file = path.join(store.dir, name);
      const st = await stat(file).catch(() => undefined);
      if (st === undefined) continue;
      if (!Number.isInteger(pid) || !processAlive(pid) || now - st.mtimeMs > TEMP_MAX_AGE_MS) {
        await rm(file, { force: true });
      }
    }
    return store;
  }

  /** The file holding a blob (which may not exist). */
  path(digest: Digest | string): string {
    return path.join(this.dir, digestHex(digest));
  }

  /** Whether the blob is present. */
  async has(digest: Digest | string): Promise<boolean> {
    return (await this.size(digest)) !== undefined;
  }

  /** The blob's size, or undefined when it is absent. */
  async size(digest: Digest | string): Promise<number | undefined> {
    try {
      return (await stat(this.path(digest))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * Stores content from a stream, an async iterable or a buffer; its digest is computed while
   * writing. With `expected`, a mismatch throws ContentError `EDIGEST` (naming expected and
   * actual) and stores nothing.
   */
  async write(source: Readable | AsyncIterable<Uint8Array> | Uint8Array, expected?: Digest): Promise<BlobInfo> {
    if (expected !== undefined) digestHex(expected);
    const temp = this.tempPath();
    const hash = createHash('sha256');
    let size = 0;
    const fh = await open(temp, 'wx', 0o644);
    try {
      try {
        const chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array> = source instanceof Uint8Array ? [source] : source;
        for await (const chunk of chunks) {
          const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          hash.update(buf);
          size += buf.length;
          let off = 0;
          while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      const digest = `sha256:${hash.digest('hex')}` as Digest;
      if (expected !== undefined && digest !== expected) {
        throw new ContentError(`content digest mismatch: expected ${expected}, got ${digest}`, 'EDIGEST', { expected, actual: digest });
      }
      return await this.install(temp, { digest, size });
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
    }
  }

  /** Renames a synced temp file into place as its blob, and syncs the directory. */
  private async install(temp: string, blob: BlobInfo): Promise<BlobInfo> {
    await rename(temp, this.path(blob.digest));
    await syncDir(this.dir);
    return blob;
  }

  /**
   * A new temp file name in the store (the file is not made), for a writer that hashes what it
   * writes itself and hands the file to {@link adopt}; crash repair drops it if never adopted.
   */
  tempPath(): string {
    return path.join(this.dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  /**
   * Installs a temp file from {@link tempPath} as the blob `digest`, which the caller computed
   * over exactly the bytes it wrote there (the layer applier does, while it copies a blob it
   * applies): synced, then renamed into place. The temp file is gone afterwards either way.
   */
  async adopt(temp: string, digest: Digest): Promise<BlobInfo> {
    digestHex(digest);
    if (path.dirname(temp) !== this.dir || !path.basename(temp).startsWith(TEMP_PREFIX)) {
      throw new ContentError(`${temp} is not a temp file of this store`, 'EINVAL', { path: temp });
    }
    try {
      const fh = await open(temp, 'r');
      let size: number;
      try {
        await fh.sync();
        size = (await fh.stat()).size;
      } finally {
        await fh.close();
      }
      return await this.install(temp, { digest, size });
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
    }
  }

  /** A stream of the blob's content that errors (ContentError `EDIGEST`) at its end if the content does not match; ContentError `ENOENT` when absent. */
  read(digest: Digest): Readable {
    const file = this.path(digest);
    const verify = new VerifyStream(digest, file);
    const src = createReadStream(file);
    src.on('error', (err: NodeJS.ErrnoException) => {
      verify.destroy(err.code === 'ENOENT' ? new ContentError(`blob ${digest} not found`, 'ENOENT', { expected: digest, path: file, cause: err }) : err);
    });
    return src.pipe(verify);
  }

  /** The whole blob as a buffer, verified. */
  async readAll(digest: Digest): Promise<Buffer> {
    let data: Buffer;
    try {
      data = await readFile(this.path(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ContentError(`blob ${digest} not found`, 'ENOENT', { expected: digest, cause: err });
      throw err;
    }
    const actual = `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
    if (actual !== digest) throw new ContentError(`content digest mismatch: expected ${digest}, got ${actual}`, 'EDIGEST', { expected: digest, actual, path: this.path(digest) });
    return data;
  }

  /** Removes a blob; false when it was absent. */
  async delete(digest: Digest): Promise<boolean> {
    try {
      await unlink(this.path(digest));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** The digests of all stored blobs (temp files excluded), sorted. */
  async list(): Promise<Digest[]> {
    const names = await readdir(this.dir);
    return names.filter((n) => /^[0-9a-f]{64}$/.test(n)).sort().map((n) => `sha256:${n}` as Digest);
  }
}
