/**
 * The index of a plain tar archive file, read in place: each entry's name, type and where its
 * body lies in the file, found by reading the headers alone (their bodies are skipped, not
 * read). A load reads a `docker save` archive's layers straight out of the file this way
 * instead of first copying each one to a spool directory. Names follow the header forms tar
 * writers use: name, and prefix in POSIX ustar headers only (GNU headers keep times there), GNU
 * long names (`L`, `K`) and PAX records (`path`, `linkpath`, `size` of the next real entry);
 * global PAX headers are skipped. A bad checksum or an entry running
 * past the end of the file is {@link ImageError} `EINVALIDARCHIVE`.
 * @module
 */
import { open, type FileHandle } from 'node:fs/promises';
import { ImageError } from '../errors.js';
import { BLOCK, checksumOk, headerNumber, padding, parsePaxRecords, zeroBlock } from '../tar-blocks.js';

/** One entry of the index. */
export interface TarIndexEntry {
  /** Its name as written (not normalised). */
  name: string;
  /** `file`, `link` (hard), `symlink`, `directory` or `other`. */
  type: 'file' | 'link' | 'symlink' | 'directory' | 'other';
  /** A link's target as written. */
  linkname?: string;
  /** Where its body starts in the file. */
  start: number;
  /** Its body's length. */
  size: number;
}

/** Long names and PAX bodies larger than this are refused (tar-stream's limit for PAX headers too). */
const MAX_META = 1 << 20;

/** Reads `length` bytes at `position`; EINVALIDARCHIVE if the file ends first. */
async function readAt(fh: FileHandle, file: string, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) throw new ImageError(`${file} is truncated at byte ${position + got}`, 'EINVALIDARCHIVE', file);
    got += bytesRead;
  }
  return buf;
}

/** A NUL-terminated header string. */
function text(block: Buffer, offset: number, length: number): string {
  const end = block.indexOf(0, offset);
  return block.toString('utf8', offset, end < 0 || end > offset + length ? offset + length : end);
}

const TYPES: Readonly<Record<string, TarIndexEntry['type']>> = { '\0': 'file', '0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '5': 'directory' };

/** Indexes the plain tar archive at `file` (a compressed one is not a tar here: EINVALIDARCHIVE). */
export async function indexTar(file: string): Promise<TarIndexEntry[]> {
  const fh = await open(file, 'r');
  try {
    const fileSize = (await fh.stat()).size;
    const entries: TarIndexEntry[] = [];
    let pos = 0;
    let longName: string | undefined;
    let longLink: string | undefined;
    let pax: Map<string, string> | undefined;
    while (pos + BLOCK <= fileSize) {
      const block = await readAt(fh, file, pos, BLOCK);
      if (zeroBlock(block)) return entries;
      if (!checksumOk(block)) throw new ImageError(`${file}: bad tar header checksum at byte ${pos}`, 'EINVALIDARCHIVE', file);
      const typeflag = String.fromCharCode(block[156]!);
      const meta = typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K';
      let size = headerNumber(block, 124, 12);
      const paxSize = meta ? undefined : pax?.get('size');
      if (paxSize !== undefined) {
        if (!/^\d{1,15}$/.test(paxSize)) throw new ImageError(`${file}: bad PAX size ${JSON.stringify(paxSize)} at byte ${pos}`, 'EINVALIDARCHIVE', file);
        size = Number(paxSize);
      }
      if (!Number.isSafeInteger(size) || size < 0 || pos + BLOCK + size > fileSize) {
        throw new ImageError(`${file}: the entry at byte ${pos} runs past the end of the file`, 'EINVALIDARCHIVE', file);
      }
      const start = pos + BLOCK;
      pos = start + size + padding(size);
      if (typeflag === 'x' || typeflag === 'L' || typeflag === 'K') {
        if (size > MAX_META) throw new ImageError(`${file}: a ${size}-byte tar metadata entry at byte ${start - BLOCK}`, 'EINVALIDARCHIVE', file);
        const body = await readAt(fh, file, start, size);
        if (typeflag === 'x') {
          const records = parsePaxRecords(body);
          if (records === undefined) throw new ImageError(`${file}: malformed PAX header at byte ${start - BLOCK}`, 'EINVALIDARCHIVE', file);
          pax = new Map(records.map((r) => [r.key, r.value.toString('utf8')]));
        } else if (typeflag === 'L') longName = text(body, 0, body.length);
        else longLink = text(body, 0, body.length);
        continue;
      }
      if (typeflag === 'g') continue;
      const posix = block.toString('latin1', 257, 263) === 'ustar\0'; // GNU's magic is 'ustar  \0', and it keeps atime where POSIX has the prefix
      const prefix = posix ? text(block, 345, 155) : '';
      const name = pax?.get('path') ?? longName ?? (prefix === '' ? text(block, 0, 100) : `${prefix}/${text(block, 0, 100)}`);
      const linkname = pax?.get('linkpath') ?? longLink ?? text(block, 157, 100);
      const type = TYPES[typeflag] ?? 'other';
      entries.push({ name, type, ...(type === 'link' || type === 'symlink' ? { linkname } : {}), start, size });
      longName = longLink = pax = undefined;
    }
    if (pos !== fileSize) throw new ImageError(`${file} is truncated at byte ${pos}`, 'EINVALIDARCHIVE', file);
    return entries; // no end-of-archive blocks: GNU tar reads such an archive too
  } finally {
    await fh.close();
  }
}
