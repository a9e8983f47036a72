/**
 * Binary extended attributes through tar-stream. A layer keeps a file's xattrs in PAX records
 * (`SCHILY.xattr.<name>=<bytes>`), and their values are bytes — a `security.capability` is a
 * binary structure — but tar-stream decodes PAX values as UTF-8 text, which replaces every byte
 * sequence that is not valid UTF-8. This pass-through stream, placed before tar-stream's
 * parser, rewrites each xattr record whose value is not valid UTF-8 as
 * `BERTH.xattr.base64.<name>=<base64>` (tar-stream passes that on intact), and leaves all other
 * bytes as they are. It follows the archive exactly as tar-stream does (a PAX `size` overrides
 * the next header's; a directory has no body), so the two never disagree on where entries are.
 *
 * The other way, tar-stream's packer can neither encode binary PAX values nor write a PAX
 * header of its own making: {@link paxHeaderEntry} makes one as a plain file entry under a
 * marker name, and {@link PaxRetypeStream}, after the packer, turns it into a real PAX header.
 * @module
 */
import { Transform, type TransformCallback } from 'node:stream';
import { TextDecoder } from 'node:util';
import { BLOCK, headerNumber, padding, parsePaxRecords, zeroBlock } from './tar-blocks.js';

/** The PAX key prefix under which a binary xattr value arrives, base64-encoded. */
export const BASE64_XATTR_PREFIX = 'BERTH.xattr.base64.';

const XATTR_PREFIX = 'SCHILY.xattr.';
/** PAX bodies larger than this are passed on unread (tar-stream refuses headers over 1 MiB anyway). */
const MAX_PAX = 1 << 20;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Whether bytes are valid UTF-8. */
function validUtf8(bytes: Buffer): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** One PAX record, `<len> <key>=<value>\n`, with its length counting itself. */
function encodeRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
  return Buffer.concat([Buffer.from(String(len), 'latin1'), rest]);
}

/** A header block with a new size, its checksum recomputed. */
function withSize(header: Buffer, size: number): Buffer {
  const h = Buffer.from(header);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 12, 'latin1');
  return withChecksum(h);
}

/** Recomputes a header block's checksum in place and returns it. */
function withChecksum(h: Buffer): Buffer {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return h;
}

/**
 * Walks a tar stream block by block, passing bytes on: a subclass sees each header block (and
 * pushes it, or something in its place), says how many body bytes follow to pass on unread
 * ({@link TarBlockStream.skip}) or to collect for itself ({@link TarBlockStream.collect}).
 */
abstract class TarBlockStream extends Transform {
  private pending = Buffer.alloc(0);
  /** Bytes of the current body (and padding) still to pass on unread. */
  protected skip = 0;
  private collecting: { need: number; chunks: Buffer[] } | null = null;

  /** Handles one header block. */
  protected abstract header(block: Buffer): void;

  /** Receives the bytes asked for with {@link TarBlockStream.collect}. */
  protected collected(_data: Buffer): void {}

  /** Passes on what the stream ended in the middle of (a header block taken for collecting, say). */
  protected unfinished(chunks: Buffer[]): void {
    for (const c of chunks) this.push(c);
  }

  /** Collects the next `n` bytes for {@link TarBlockStream.collected}. */
  protected collect(n: number): void {
    if (n === 0) this.collected(Buffer.alloc(0));
    else this.collecting = { need: n, chunks: [] };
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (data.length > 0) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length);
        this.push(data.subarray(0, n));
        this.skip -= n;
        data = data.subarray(n);
      } else if (this.collecting !== null) {
        const c = this.collecting;
        const n = Math.min(c.need, data.length);
        c.chunks.push(data.subarray(0, n));
        c.need -= n;
        data = data.subarray(n);
        if (c.need === 0) {
          this.collecting = null;
          this.collected(Buffer.concat(c.chunks));
        }
      } else if (data.length < BLOCK) {
        this.pending = Buffer.from(data);
        break;
      } else {
        this.header(data.subarray(0, BLOCK));
        data = data.subarray(BLOCK);
      }
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (this.collecting !== null) this.unfinished(this.collecting.chunks);
    this.collecting = null;
    if (this.pending.length > 0) this.push(this.pending);
    cb();
  }
}

/** The stream described in the module comment. */
export class PaxXattrStream extends TarBlockStream {
  /** The PAX header block whose body is being collected, and the body's size. */
  private pax: { header: Buffer; size: number } | null = null;
  /** A `size` a PAX record set for the next entry. */
  private nextSize: number | undefined;

  protected override unfinished(chunks: Buffer[]): void {
    if (this.pax !== null) this.push(this.pax.header);
    this.pax = null;
    super.unfinished(chunks);
  }

  protected header(block: Buffer): void {
    if (zeroBlock(block)) {
      this.push(block);
      return;
    }
    const type = String.fromCharCode(block[156]!);
    let size = headerNumber(block, 124, 12);
    if (type === 'x' && size <= MAX_PAX) {
      this.pax = { header: Buffer.from(block), size };
      this.collect(size + padding(size));
      return;
    }
    this.push(block);
    const meta = type === 'x' || type === 'g' || type === 'L' || type === 'K';
    if (!meta && this.nextSize !== undefined) size = this.nextSize;
    if (!meta) this.nextSize = undefined;
    if (size === 0 || type === '5') return;
    this.skip = size + padding(size);
  }

  /** Passes on a collected PAX header, with binary xattr values rewritten. */
  protected override collected(all: Buffer): void {
    const { header, size } = this.pax!;
    this.pax = null;
    const records = parsePaxRecords(all.subarray(0, size));
    const sizeRecord = records?.find((r) => r.key === 'size');
    if (sizeRecord !== undefined) this.nextSize = parseInt(sizeRecord.value.toString('latin1'), 10);
    if (records === undefined || !records.some((r) => r.key.startsWith(XATTR_PREFIX) && !validUtf8(r.value))) {
      this.push(header);
      this.push(all);
      return;
    }
    const rewritten = Buffer.concat(
      records.map((r) =>
        r.key.startsWith(XATTR_PREFIX) && !validUtf8(r.value)
          ? encodeRecord(BASE64_XATTR_PREFIX + r.key.slice(XATTR_PREFIX.length), Buffer.from(r.value.toString('base64'), 'latin1'))
          : encodeRecord(r.key, r.value),
      ),
    );
    this.push(withSize(header, rewritten.length));
    this.push(rewritten);
    this.push(Buffer.alloc(padding(rewritten.length)));
  }
}

/** The name prefix of a file entry that {@link PaxRetypeStream} turns into a PAX header. */
const PAX_MARKER = '.berth-pax-header/';

/**
 * The PAX header for the entry `rel` carrying its path and the given extended attributes (values
 * as bytes), as a file entry for tar-stream's packer: name and body. The entry that follows it
 * should have a short ustar name (so that the packer adds no PAX header of its own, which would
 * replace this one): readers take the path from the PAX record.
 */
export function paxHeaderEntry(rel: string, xattrs: ReadonlyArray<[string, Buffer]>): { name: string; body: Buffer } {
  const body = Buffer.concat([encodeRecord('path', Buffer.from(rel, 'utf8')), ...xattrs.map(([k, v]) => encodeRecord(`${XATTR_PREFIX}${k}`, v))]);
  return { name: PAX_MARKER + String(rel.length), body };
}

/** After tar-stream's packer: entries made by {@link paxHeaderEntry} become PAX headers (typeflag `x`). */
export class PaxRetypeStream extends TarBlockStream {
  protected header(block: Buffer): void {
    if (zeroBlock(block)) {
      this.push(block);
      return;
    }
    const size = headerNumber(block, 124, 12);
    if (block.toString('latin1', 0, PAX_MARKER.length) === PAX_MARKER) {
      const h = Buffer.from(block);
      h.fill(0, 0, 100);
      h.write('PaxHeaders/entry', 0, 'latin1');
      h[156] = 0x78; // 'x'
      this.push(withChecksum(h));
    } else {
      this.push(block);
    }
    this.skip = size + padding(size);
  }
}
