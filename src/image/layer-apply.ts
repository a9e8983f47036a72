/**
 * Safe layer extraction. A layer tar (uncompressed, gzip or zstd, detected from its first bytes) is
 * parsed with tar-stream and every filesystem operation is resolved inside the target with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) through the addon's `*In` primitives: `..`,
 * absolute paths and symlinks (to `/` or elsewhere) resolve inside the layer, hard links can
 * only name what is inside it, and a rejected layer leaves nothing (it is applied into a temp
 * directory beside the target and renamed into place only on success).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { closeSync, createReadStream, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, pipeline as pipeStreams, type TransformCallback } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { Header } from 'tar-stream';
import { lazyRequire } from '../util/lazy-require.js';
import { BerthError, NativeError } from '../errors.js';
import * as nat from '../native/index.js';
import { DigestStream, digestHex, type Digest } from './digest.js';
import { decompressStream } from './compression.js';
import { BASE64_XATTR_PREFIX, PaxXattrStream } from './pax-xattrs.js';
import { LayerError } from './errors.js';
import { applyLayerInWorker } from './layer-workers.js';

const tarStream = lazyRequire<typeof import('tar-stream')>('tar-stream');

/** How whiteouts are materialised: removed from the lower content (`vfs`), or as overlayfs whiteouts (0:0 char devices and `trusted.overlay.opaque=y`). */
export type WhiteoutFormat = 'vfs' | 'overlay';

/**
 * A layer blob that is a byte range of a file (an archive's entry, a stored blob): a source a
 * worker thread can open for itself.
 */
export interface FileRange {
  /** The file holding the blob. */
  file: string;
  /** Where the blob starts in it. */
  start: number;
  /** The blob's length in bytes. */
  length: number;
}

/** What a layer can be applied from: a stream, an async iterable, bytes, or a {@link FileRange}. */
export type LayerInput = Readable | AsyncIterable<Uint8Array> | Uint8Array | FileRange;

/** Whether a layer input is a {@link FileRange}. */
export function isFileRange(input: unknown): input is FileRange {
  return typeof input === 'object' && input !== null && typeof (input as Partial<FileRange>).file === 'string';
}

/** Options of {@link applyLayer}. */
export interface ApplyLayerOptions {
  /** How whiteouts are written (default `vfs`). */
  whiteoutFormat?: WhiteoutFormat;
  /** The digest the blob as given must have (compressed, if it is). */
  expectedDigest?: Digest;
  /** The DiffID (digest of the uncompressed tar) the layer must have. */
  expectedDiffID?: Digest;
  /** Set owners from the tar headers (default: when running as root). */
  chown?: boolean;
  /**
   * A new file (it must not exist) to write the blob as given to while it is applied, so that
   * keeping the blob costs no second read: kept when the layer applies, removed when it fails.
   * Not synced to disk: the keeper does that.
   */
  copyTo?: string;
  /**
   * Apply on a worker thread (see {@link applyLayerInWorker}) so that several layers apply at
   * once, each on a core of its own. Only for a {@link FileRange} source; ignored otherwise.
   */
  worker?: boolean;
}

/** What {@link applyLayer} applied. */
export interface ApplyLayerResult {
  /** sha256 of the uncompressed tar. */
  diffID: Digest;
  /** sha256 of the blob as given. */
  digest: Digest;
  /** Compression detected from the first bytes. */
  compression: 'none' | 'gzip' | 'zstd';
  /** Size of the uncompressed tar in bytes. */
  size: number;
}

const O_WRONLY = 0o1;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const O_NOFOLLOW = 0o400000;
const O_DIRECTORY = 0o200000;
const O_PATH = 0o10000000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const WH = '.wh.';
/** Read size for a {@link FileRange}: 4× the stream default, fewer trips to the thread pool. */
const READ_CHUNK = 256 * 1024;
const OPAQUE = '.wh..wh..opq';

/** The entry name made relative to the layer root, lexically (`../x` and `/x` become `x`; the root is ''). */
export function cleanEntryPath(name: string): string {
  if (name.includes('\0')) throw new LayerError('NUL byte in entry name', 'EBADNAME', name);
  const p = path.posix.normalize(`/${name}`);
  return p === '/' ? '' : p.replace(/^\/+/, '').replace(/\/+$/, '');
}

/** The extended attributes an entry's PAX records carry, values as bytes. */
function xattrsOf(header: Header): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  for (const [key, value] of Object.entries(header.pax ?? {})) {
    if (key.startsWith('SCHILY.xattr.')) out.push([key.slice('SCHILY.xattr.'.length), Buffer.from(String(value), 'utf8')]);
    else if (key.startsWith(BASE64_XATTR_PREFIX)) out.push([key.slice(BASE64_XATTR_PREFIX.length), Buffer.from(String(value), 'base64')]);
  }
  return out;
}

/** A PAX record's decimal value (`uid`, `gid`, `mtime`), or undefined when absent or malformed. tar-stream applies only `path`, `linkpath` and `size` itself. */
function paxNumber(header: Header, key: string, pattern: RegExp): number | undefined {
  const v = (header.pax as Record<string, string> | undefined)?.[key];
  return typeof v === 'string' && pattern.test(v) ? Number(v) : undefined;
}

/** An entry's mtime in seconds, sub-second from a PAX record (0 when absent). */
function mtimeOf(header: Header): number {
  return paxNumber(header, 'mtime', /^-?\d{1,15}(\.\d{1,9})?$/) ?? (header.mtime instanceof Date ? header.mtime.getTime() / 1000 : 0);
}

/** An entry's owner: PAX `uid`/`gid` records (ids the header's octal fields cannot hold) over the header's. */
function ownerOf(header: Header): { uid: number; gid: number } {
  const id = /^\d{1,10}$/;
  return { uid: paxNumber(header, 'uid', id) ?? header.uid ?? 0, gid: paxNumber(header, 'gid', id) ?? header.gid ?? 0 };
}

/** The error code of a native failure, or undefined. */
function errCode(err: unknown): string | undefined {
  return err instanceof NativeError ? err.code : undefined;
}

/** Applies one layer's entries onto an open root fd. */
class Applier {
  /** Paths written by this layer (kept by an opaque directory marker) and their ancestors. */
  private readonly written = new Set<string>();
  private readonly ancestors = new Set<string>();
  private readonly dirTimes: Array<[string, number]> = [];

  constructor(
    private readonly root: number,
    private readonly whiteouts: WhiteoutFormat,
    private readonly chown: boolean,
  ) {}

  /** Runs a native call, turning its error into a LayerError for `entry`. */
  private op<T>(entry: string, code: string | undefined, call: () => T): T {
    try {
      return call();
    } catch (err) {
      if (err instanceof LayerError) throw err;
      throw new LayerError(err instanceof Error ? err.message : String(err), code ?? errCode(err) ?? 'EIO', entry, err);
    }
  }

  /** Records a written path and its ancestors. */
  private mark(rel: string): void {
    this.written.add(rel);
    for (let d = path.posix.dirname(rel); d !== '.' && d !== ''; d = path.posix.dirname(d)) this.ancestors.add(d);
  }

  /** Creates the directories of `rel`'s ancestors that are missing (resolved in the root). */
  private mkdirParents(rel: string): void {
    const parts = rel.split('/').slice(0, -1);
    let cur = '';
    for (const part of parts) {
      cur = cur === '' ? part : `${cur}/${part}`;
      try {
        nat.mkdirIn(this.root, cur, 0o755);
      } catch (err) {
        if (errCode(err) !== 'EEXIST') throw err;
      }
    }
  }

  /** Runs `call`, creating missing parents and retrying once on ENOENT. */
  private withParents(rel: string, call: () => void): void {
    try {
      call();
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err;
      this.mkdirParents(rel);
      call();
    }
  }

  /**
   * Runs `make`, which creates `rel` exclusively: missing parents are made first, and whatever
   * is at `rel` already (a file, a symlink, a whole directory) is removed and `make` retried.
   * Trying first keeps the common case, a new name, to a single call.
   */
  private create(rel: string, make: () => void): void {
    try {
      this.withParents(rel, make);
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw err;
      this.remove(rel);
      make();
    }
  }

  /** Removes whatever is at `rel` (absent is fine). */
  private remove(rel: string): void {
    try {
      nat.rmtreeIn(this.root, rel, false);
    } catch (err) {
      const code = errCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    }
  }

  /** Handles one tar entry; its content stream must be consumed. */
  async entry(header: Header, stream: Readable): Promise<void> {
    const rel = cleanEntryPath(header.name);
    const base = path.posix.basename(rel);
    const dir = rel.includes('/') ? path.posix.dirname(rel) : '';
    if (base.startsWith(WH)) {
      stream.resume();
      this.op(rel, undefined, () => this.whiteout(rel, dir, base));
      return;
    }
    const type = header.type ?? 'file';
    if (rel === '') {
      stream.resume();
      if (type !== 'directory') throw new LayerError(`a ${type} cannot replace the layer root`, 'EBADNAME', header.name);
      return;
    }
    switch (type) {
      case 'directory':
        stream.resume();
        this.op(rel, undefined, () => this.directory(rel, header.mode ?? 0o755));
        break;
      case 'file':
      case 'contiguous-file':
        await this.file(rel, header, stream);
        this.mark(rel);
        return; // its metadata was set through its fd
      case 'symlink':
        stream.resume();
        this.op(rel, undefined, () => this.create(rel, () => nat.symlinkIn(this.root, rel, header.linkname ?? '')));
        break;
      case 'link': {
        stream.resume();
        const target = cleanEntryPath(header.linkname ?? '');
        if (target === '' || target === rel) throw new LayerError(`hard link to ${JSON.stringify(header.linkname)} is invalid`, 'EBADLINK', rel);
        this.op(rel, 'EBADLINK', () => this.create(rel, () => nat.linkIn(this.root, rel, target)));
        this.mark(rel);
        return; // a hard link shares its target's metadata
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        stream.resume();
        if (type !== 'fifo' && process.getuid?.() !== 0) return; // device nodes need root: skipped
        const kind = type === 'fifo' ? S_IFIFO : type === 'block-device' ? S_IFBLK : S_IFCHR;
        this.op(rel, undefined, () => this.create(rel, () => nat.mknodIn(this.root, rel, kind | ((header.mode ?? 0o600) & 0o7777), header.devmajor ?? 0, header.devminor ?? 0)));
        break;
      }
      default:
        stream.resume();
        throw new LayerError(`unsupported entry type ${type}`, 'EUNSUPPORTED', rel);
    }
    this.mark(rel);
    this.op(rel, undefined, () => this.metadata(rel, header, type));
  }

  /** A whiteout or opaque marker. */
  private whiteout(rel: string, dir: string, base: string): void {
    if (base === OPAQUE) {
      this.opaque(dir, rel);
      return;
    }
    const name = base.slice(WH.length);
    if (name === '' || name === '.' || name === '..') throw new LayerError(`bad whiteout ${JSON.stringify(base)}`, 'EBADWHITEOUT', rel);
    if (name.startsWith(WH)) return; // other .wh..wh. names are aufs metadata: ignored, as docker does
    const target = dir === '' ? name : `${dir}/${name}`;
    this.remove(target);
    if (this.whiteouts === 'overlay') {
      this.withParents(target, () => nat.mknodIn(this.root, target, S_IFCHR, 0, 0));
      this.mark(target);
    }
  }

  /** An opaque directory marker: hides the lower content of `dir`. */
  private opaque(dir: string, rel: string): void {
    if (this.whiteouts === 'overlay') {
      if (dir === '') throw new LayerError('the layer root cannot be opaque', 'EBADWHITEOUT', rel);
      this.directory(dir, 0o755);
      nat.setxattrIn(this.root, dir, 'trusted.overlay.opaque', Buffer.from('y'));
      this.mark(dir);
      return;
    }
    if (dir !== '') this.directory(dir, 0o755);
    this.clearLower(dir);
  }

  /** Removes what `dir` holds that this layer did not write. */
  private clearLower(dir: string): void {
    const fd = nat.openIn(this.root, dir, O_DIRECTORY);
    let names: string[];
    try {
      names = readdirSync(`/proc/self/fd/${fd}`); // fd already resolved in the root
    } finally {
      nat.closeFd(fd);
    }
    for (const name of names) {
      const child = dir === '' ? name : `${dir}/${name}`;
      if (this.ancestors.has(child)) this.clearLower(child);
      else if (!this.written.has(child)) this.remove(child);
    }
  }

  /** Makes `rel` a directory (replacing a non-directory). */
  private directory(rel: string, mode: number): void {
    try {
      this.withParents(rel, () => nat.mkdirIn(this.root, rel, mode & 0o777));
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw err;
      try {
        nat.closeFd(nat.openIn(this.root, rel, O_PATH | O_DIRECTORY | O_NOFOLLOW));
      } catch (e) {
        const code = errCode(e);
        if (code !== 'ENOTDIR' && code !== 'ELOOP') throw e;
        this.remove(rel);
        nat.mkdirIn(this.root, rel, mode & 0o777);
      }
    }
  }

  /**
   * A regular file: created fresh (O_EXCL, no symlink followed), written through its fd, and
   * its metadata set through that fd before it is closed.
   */
  private async file(rel: string, header: Header, stream: Readable): Promise<void> {
    let fd = -1;
    this.op(rel, undefined, () => this.create(rel, () => (fd = nat.openIn(this.root, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600))));
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
      }
    } catch (err) {
      nat.closeFd(fd);
      throw err;
    }
    const { uid, gid } = ownerOf(header);
    this.op(rel, undefined, () => nat.finishFile(fd, this.chown ? uid : -1, gid, (header.mode ?? 0o644) & 0o7777, mtimeOf(header), xattrsOf(header)));
  }

  /** Owner, mode, xattrs (kept as written) and times, in that order (chown clears setuid bits and capabilities). */
  private metadata(rel: string, header: Header, type: string): void {
    if (this.chown) {
      const { uid, gid } = ownerOf(header);
      nat.chownIn(this.root, rel, uid, gid);
    }
    if (type !== 'symlink') nat.chmodIn(this.root, rel, (header.mode ?? 0o644) & 0o7777);
    for (const [name, value] of xattrsOf(header)) nat.setxattrIn(this.root, rel, name, value);
    const mtime = mtimeOf(header);
    if (type === 'directory') this.dirTimes.push([rel, mtime]);
    else nat.utimesIn(this.root, rel, mtime, mtime);
  }

  /** Sets directory times last (their entries changed them). */
  finish(): void {
    for (const [rel, t] of this.dirTimes.reverse()) {
      try {
        nat.utimesIn(this.root, rel, t, t);
      } catch (err) {
        if (errCode(err) !== 'ENOENT') throw err; // removed later by a whiteout
      }
    }
  }
}

/**
 * Applies a layer tar (uncompressed, gzip or zstd) as the new directory `dest` (which must not
 * exist): into a temp directory beside it, renamed into place on success. Digests are checked
 * as by {@link applyLayerInto}. Any failure throws a {@link LayerError} and leaves no `dest`
 * (nor any temp directory).
 */
export async function applyLayer(
  source: LayerInput,
  dest: string,
  options: ApplyLayerOptions = {},
): Promise<ApplyLayerResult> {
  const target = path.resolve(dest);
  if (await stat(target).then(() => true, () => false)) throw new LayerError('target already exists', 'EEXIST', target);
  const temp = `${target}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    await mkdir(temp, { mode: 0o755 });
    const result = await applyLayerInto(source, temp, options);
    try {
      await rename(temp, target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw new LayerError('target already exists', 'EEXIST', target, err);
      throw err;
    }
    return result;
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    if (err instanceof BerthError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new LayerError(err instanceof Error ? err.message : String(err), typeof code === 'string' ? code : 'EIO', target, err);
  }
}

/**
 * Applies a layer tar onto the existing directory `dir` in place (a graph driver's snapshot,
 * which is discarded as a whole when this fails). The blob's digest and DiffID are computed
 * while applying and checked against the expected ones; failures throw a {@link LayerError}.
 */
export async function applyLayerInto(source: LayerInput, dir: string, options: ApplyLayerOptions = {}): Promise<ApplyLayerResult> {
  if (options.expectedDigest !== undefined) digestHex(options.expectedDigest);
  if (options.expectedDiffID !== undefined) digestHex(options.expectedDiffID);
  if (options.worker === true && isFileRange(source)) {
    const { worker: _worker, ...rest } = options;
    return applyLayerInWorker(source, dir, rest);
  }
  let root = -1;
  let copy: BlobCopy | undefined;
  try {
    root = nat.openRoot(path.resolve(dir));
    if (options.copyTo !== undefined) copy = new BlobCopy(options.copyTo);
    return await applyEntries(source, root, options, copy);
  } catch (err) {
    if (copy !== undefined) {
      copy.destroy(); // closes its fd: nothing can be written to that fd number any more
      rmSync(options.copyTo!, { force: true });
    }
    if (err instanceof BerthError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new LayerError(err instanceof Error ? err.message : String(err), typeof code === 'string' ? code : 'EIO', dir, err);
  } finally {
    copy?.destroy();
    if (root >= 0) nat.closeFd(root);
  }
}

/** A stream of a layer input's bytes. */
function inputStream(source: LayerInput): Readable {
  if (source instanceof Uint8Array) return Readable.from([Buffer.from(source)], { objectMode: false });
  if (isFileRange(source)) {
    if (source.length === 0) return Readable.from([], { objectMode: false });
    return createReadStream(source.file, { start: source.start, end: source.start + source.length - 1, highWaterMark: READ_CHUNK });
  }
  return Readable.from(source as AsyncIterable<Buffer>, { objectMode: false });
}

/**
 * Passes chunks on after writing each to a new file (created exclusively): a copy of the blob
 * as given, made as it is applied. The stream owns the file's fd and closes it when it ends or
 * is destroyed, after which it writes nothing (so a closed fd number is never written to).
 */
class BlobCopy extends Transform {
  private fd: number;

  constructor(file: string) {
    super();
    this.fd = openSync(file, 'wx', 0o644);
  }

  /** Writes the chunk, then passes it on. */
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      for (let off = 0; off < chunk.length; ) off += writeSync(this.fd, chunk, off, chunk.length - off);
      cb(null, chunk);
    } catch (err) {
      cb(err as Error);
    }
  }

  /** Closes the file once everything is written. */
  override _flush(cb: TransformCallback): void {
    try {
      this.close();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  /** Closes the file (if still open) when destroyed. */
  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    try {
      this.close();
    } catch {
      // the stream's own error, if any, is the one to report
    }
    cb(err);
  }

  private close(): void {
    const fd = this.fd;
    this.fd = -1;
    if (fd >= 0) closeSync(fd);
  }
}

/** Parses the tar and applies its entries onto `root`; checks digests; passes the blob as given through `copy`, if any. */
async function applyEntries(source: LayerInput, root: number, options: ApplyLayerOptions, copy: BlobCopy | undefined): Promise<ApplyLayerResult> {
  const raw = new DigestStream();
  const given: NodeJS.ReadWriteStream[] = copy !== undefined ? [raw, copy] : [raw];
  const tail = given[given.length - 1] as unknown as Readable;
  pipeStreams([inputStream(source), ...given] as unknown as NodeJS.ReadWriteStream[], () => undefined); // a failure surfaces on the tail
  const { compression, stream: src } = await decompressStream(tail);
  const extract = tarStream().extract();
  // An uncompressed blob is its own tar: its digest is the DiffID, so it is hashed once.
  const diff = compression === 'none' ? raw : new DigestStream();
  const done = pipeline([src, ...(diff === raw ? [] : [diff]), new PaxXattrStream(), extract] as unknown as NodeJS.ReadWriteStream[]).then(
    () => undefined,
    (err: unknown) => err,
  );
  const applier = new Applier(root, options.whiteoutFormat ?? 'vfs', options.chown ?? process.getuid?.() === 0);
  try {
    for await (const entry of extract) {
      await applier.entry(entry.header, entry as unknown as Readable);
    }
  } catch (err) {
    src.destroy();
    await done;
    if (err instanceof LayerError) throw err;
    throw new LayerError(`corrupt layer: ${err instanceof Error ? err.message : String(err)}`, 'ECORRUPT', undefined, err);
  }
  const failed = await done;
  if (failed !== undefined) {
    throw new LayerError(`corrupt layer: ${failed instanceof Error ? failed.message : String(failed)}`, 'ECORRUPT', undefined, failed);
  }
  applier.finish();
  if (copy !== undefined) await finished(copy, { readable: false }); // the copy is whole and closed
  const digest = raw.digest();
  const diffID = diff.digest();
  if (options.expectedDigest !== undefined && digest !== options.expectedDigest) {
    throw new LayerError(`layer digest mismatch: expected ${options.expectedDigest}, got ${digest}`, 'EDIGEST', options.expectedDigest);
  }
  if (options.expectedDiffID !== undefined && diffID !== options.expectedDiffID) {
    throw new LayerError(`layer DiffID mismatch: expected ${options.expectedDiffID}, got ${diffID}`, 'EDIGEST', options.expectedDiffID);
  }
  return { digest, diffID, compression, size: diff.size };
}
