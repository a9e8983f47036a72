/**
 * The files of an image archive as a loader reads them, whatever holds them: a directory (an
 * OCI image layout on disk), a plain tar file (read in place through its index of entries: no
 * copy is made), or any other tar stream, plain or compressed with gzip or zstd, spooled to a
 * temp directory first — tar entries may come in any order, and a loader needs the manifest
 * before the layers. The spool directory is named as {@link tempName} names temp files (with
 * this process's pid), so the image store's crash repair drops one that a killed process left;
 * entries are stored under numbers, never under their archive names, so no name can write
 * outside it. Symbolic and hard links between entries (the legacy `docker save` form links a
 * layer shared by several images) are followed inside the archive.
 * @module
 */
import { createReadStream, type Stats } from 'node:fs';
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { lazyRequire } from '../../util/lazy-require.js';
import { BerthError } from '../../errors.js';
import { tempName } from '../../util/atomic-file.js';
import { COMPRESSION_MAGIC_LENGTH, decompressStream, detectCompression } from '../compression.js';
import { ImageError } from '../errors.js';
import type { FileRange } from '../layer-apply.js';
import { indexTar } from './tar-index.js';

const tarStream = lazyRequire<typeof import('tar-stream')>('tar-stream');

/** Read access to the files of an archive, by their names in it (`manifest.json`, `blobs/sha256/<hex>`). */
export interface ArchiveFiles {
  /** Where the files are: the layout directory, or the archive's spool directory. */
  readonly location: string;
  /** The size of the file `name`, or undefined when the archive has no such file. */
  size(name: string): Promise<number | undefined>;
  /** A stream of the file `name` (ImageError `EINVALIDARCHIVE` naming it when absent). */
  open(name: string): Promise<Readable>;
  /** The file `name` as a buffer, or undefined when absent. */
  read(name: string): Promise<Buffer | undefined>;
  /** Where the file `name` lies on disk, for a reader of its own (a layer worker); undefined when absent. */
  range(name: string): Promise<FileRange | undefined>;
  /** Removes what was spooled (nothing for a directory). */
  close(): Promise<void>;
}

/** How many links are followed from one name before the archive is refused as a loop. */
const MAX_LINK_HOPS = 16;

/** An archive entry name in canonical form (`./a//b/` → `a/b`); undefined for one that climbs out of the archive. */
export function entryName(name: string): string | undefined {
  const n = path.posix.normalize(`/${name}`).slice(1).replace(/\/+$/, '');
  return n === '' || n.startsWith('../') || n === '..' ? undefined : n;
}

/** The error for a file the archive lacks. */
function missing(name: string): ImageError {
  return new ImageError(`archive entry ${name} is missing`, 'EINVALIDARCHIVE', name);
}

/** The files of an image layout directory. */
class DirectoryFiles implements ArchiveFiles {
  constructor(readonly location: string) {}

  private file(name: string): string | undefined {
    const n = entryName(name);
    return n === undefined ? undefined : path.join(this.location, n);
  }

  private async stat(name: string): Promise<Stats | undefined> {
    const file = this.file(name);
    if (file === undefined) return undefined;
    const st = await stat(file).catch(() => undefined);
    return st?.isFile() === true ? st : undefined;
  }

  async size(name: string): Promise<number | undefined> {
    return (await this.stat(name))?.size;
  }

  async open(name: string): Promise<Readable> {
    if ((await this.stat(name)) === undefined) throw missing(name);
    return createReadStream(this.file(name)!);
  }

  async read(name: string): Promise<Buffer | undefined> {
    return (await this.stat(name)) === undefined ? undefined : readFile(this.file(name)!);
  }

  async range(name: string): Promise<FileRange | undefined> {
    const st = await this.stat(name);
    return st === undefined ? undefined : { file: this.file(name)!, start: 0, length: st.size };
  }

  async close(): Promise<void> {}
}

/** One entry of a tar archive: a regular file's body (a range of a file on disk) or a link to another entry. */
type ArchiveEntry = { kind: 'file'; range: FileRange } | { kind: 'link'; target: string };

/** The files of a tar archive, from its entries: spooled to a temp directory (removed by close) or indexed in place. */
class TarEntryFiles implements ArchiveFiles {
  readonly entries = new Map<string, ArchiveEntry>();

  constructor(
    readonly location: string,
    /** The spool directory close() removes, if any. */
    private readonly spool?: string,
  ) {}

  /** Adds a link entry, its target resolved as tar resolves it (a symlink's relative to its own directory). */
  addLink(name: string, type: 'symlink' | 'link', linkname: string): void {
    const target = entryName(type === 'symlink' ? path.posix.join(path.posix.dirname(name), linkname) : linkname);
    if (target !== undefined) this.entries.set(name, { kind: 'link', target });
  }

  private resolve(name: string): FileRange | undefined {
    let n = entryName(name);
    for (let hops = 0; n !== undefined; hops++) {
      const e = this.entries.get(n);
      if (e === undefined) return undefined;
      if (e.kind === 'file') return e.range;
      if (hops === MAX_LINK_HOPS) throw new ImageError(`archive entry ${name} is a link loop`, 'EINVALIDARCHIVE', name);
      n = e.target;
    }
    return undefined;
  }

  async size(name: string): Promise<number | undefined> {
    return this.resolve(name)?.length;
  }

  async open(name: string): Promise<Readable> {
    const r = this.resolve(name);
    if (r === undefined) throw missing(name);
    return r.length === 0 ? Readable.from([]) : createReadStream(r.file, { start: r.start, end: r.start + r.length - 1 });
  }

  async read(name: string): Promise<Buffer | undefined> {
    const r = this.resolve(name);
    if (r === undefined) return undefined;
    const fh = await open(r.file, 'r');
    try {
      const buf = Buffer.alloc(r.length);
      for (let got = 0; got < r.length; ) {
        const { bytesRead } = await fh.read(buf, got, r.length - got, r.start + got);
        if (bytesRead === 0) throw new ImageError(`archive entry ${name} is cut short`, 'EINVALIDARCHIVE', name);
        got += bytesRead;
      }
      return buf;
    } finally {
      await fh.close();
    }
  }

  async range(name: string): Promise<FileRange | undefined> {
    return this.resolve(name);
  }

  async close(): Promise<void> {
    if (this.spool !== undefined) await rm(this.spool, { recursive: true, force: true });
  }
}

/** Progress of {@link spoolArchive}: entries and bytes read so far. */
export interface SpoolProgress {
  /** Entries read. */
  entries: number;
  /** Bytes of entry content read. */
  bytes: number;
}

/**
 * Reads a tar archive (plain, gzip or zstd) into a new temp directory under `parent` and returns
 * its files; the directory is removed on failure, and by {@link ArchiveFiles.close} after use.
 * ImageError `EINVALIDARCHIVE` when the input is not a tar archive.
 */
export async function spoolArchive(source: Readable | AsyncIterable<Uint8Array>, parent: string, options: { onProgress?: (p: SpoolProgress) => void; signal?: AbortSignal } = {}): Promise<ArchiveFiles> {
  const spool = path.join(parent, tempName());
  const files = new TarEntryFiles(spool, spool);
  await mkdir(spool, { mode: 0o700 });
  const progress: SpoolProgress = { entries: 0, bytes: 0 };
  try {
    const { stream } = await decompressStream(source);
    const extract = tarStream().extract();
    const parsed = pipeline(stream, extract, ...(options.signal ? [{ signal: options.signal }] : [])).then(
      () => undefined,
      (err: unknown) => err,
    );
    try {
      for await (const entry of extract) {
        const h = entry.header;
        const name = entryName(h.name);
        if (name !== undefined && h.type === 'file') {
          const file = path.join(files.location, String(files.entries.size));
          const fh = await open(file, 'wx', 0o600);
          try {
            for await (const chunk of entry as AsyncIterable<Buffer>) {
              for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off)).bytesWritten;
              progress.bytes += chunk.length;
            }
          } finally {
            await fh.close();
          }
          files.entries.set(name, { kind: 'file', range: { file, start: 0, length: h.size ?? 0 } });
        } else {
          if (name !== undefined && (h.type === 'symlink' || h.type === 'link') && h.linkname) files.addLink(name, h.type, h.linkname);
          entry.resume();
        }
        progress.entries++;
        options.onProgress?.({ ...progress });
      }
    } catch (err) {
      stream.destroy();
      throw (await parsed) ?? err;
    }
    const failed = await parsed;
    if (failed !== undefined) throw failed;
  } catch (err) {
    await files.close();
    if (err instanceof BerthError || (err as Error).name === 'AbortError') throw err;
    throw new ImageError(`not a tar archive: ${err instanceof Error ? err.message : String(err)}`, 'EINVALIDARCHIVE', undefined, err);
  }
  return files;
}

/** The files of the plain tar archive file `file`, read in place through its index. */
export async function indexedArchive(file: string): Promise<ArchiveFiles> {
  const files = new TarEntryFiles(path.dirname(file));
  for (const e of await indexTar(file)) {
    const name = entryName(e.name);
    if (name === undefined) continue;
    if (e.type === 'file') files.entries.set(name, { kind: 'file', range: { file, start: e.start, length: e.size } });
    else if ((e.type === 'symlink' || e.type === 'link') && e.linkname) files.addLink(name, e.type, e.linkname);
  }
  return files;
}

/** The compression of a file, from its first bytes. */
async function fileCompression(file: string): Promise<ReturnType<typeof detectCompression>> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(COMPRESSION_MAGIC_LENGTH);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return detectCompression(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/**
 * The files of an archive given as a stream, a tar file's path or a layout directory's path:
 * a directory and a plain tar file are read in place, anything else spooled (see
 * {@link spoolArchive}).
 */
export async function archiveFiles(source: Readable | string, spoolParent: string, options: { onProgress?: (p: SpoolProgress) => void; signal?: AbortSignal } = {}): Promise<ArchiveFiles> {
  if (typeof source === 'string') {
    const st = await stat(source).catch((err: unknown) => {
      throw new ImageError(`cannot read archive ${source}: ${(err as Error).message}`, (err as NodeJS.ErrnoException).code ?? 'EIO', source, err);
    });
    if (st.isDirectory()) return new DirectoryFiles(path.resolve(source));
    if (st.isFile() && (await fileCompression(source)) === 'none') {
      try {
        return await indexedArchive(path.resolve(source));
      } catch (err) {
        if (err instanceof ImageError) throw new ImageError(`not a tar archive: ${err.message}`, 'EINVALIDARCHIVE', source, err);
        throw err;
      }
    }
    return spoolArchive(createReadStream(source), spoolParent, options);
  }
  return spoolArchive(source, spoolParent, options);
}
