/**
 * Where a saver writes an archive's files: into a tar stream (entries in the order written,
 * parent directories first, a fixed mtime so the same images give the same archive) or into
 * a directory (an OCI layout on disk; each file written to a temp name, fsynced and renamed,
 * so a reader sees whole blobs only, and blobs already there are not written again).
 * @module
 */
import { createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { lazyRequire } from '../../util/lazy-require.js';
import { syncDir, tempName, writeFileAtomic } from '../../util/atomic-file.js';

const tarStream = lazyRequire<typeof import('tar-stream')>('tar-stream');

/** A sink for an archive's files, by their names in it. */
export interface LayoutWriter {
  /** Whether `name` is already there (written by this writer, or a blob already in the directory). */
  has(name: string): Promise<boolean>;
  /** The content `name` had before this writer started (an existing layout's `index.json`), if any. */
  existing(name: string): Promise<Buffer | undefined>;
  /** Writes a file from a buffer. */
  file(name: string, data: Uint8Array): Promise<void>;
  /** Writes a file of `size` bytes from a stream. */
  stream(name: string, size: number, source: Readable): Promise<void>;
  /** Completes the archive (ends the tar stream). */
  finish(): Promise<void>;
  /** Abandons the archive after a failure (destroys the tar stream with `err`). */
  abort(err: unknown): Promise<void>;
}

/** The mtime of every tar entry, so that saving the same images twice gives the same archive. */
const ENTRY_MTIME = new Date(0);

/** Writes the archive as a tar into a Writable (which is ended, or destroyed on failure). */
export class TarLayoutWriter implements LayoutWriter {
  private readonly pack = tarStream().pack();
  private readonly names = new Set<string>();
  private readonly done: Promise<unknown>;

  constructor(output: Writable) {
    this.done = pipeline(this.pack, output).then(
      () => undefined,
      (err: unknown) => err,
    );
  }

  /** Adds the directory entries above `name` not yet written. */
  private async dirs(name: string): Promise<void> {
    const parts = name.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const dir = `${parts.slice(0, i).join('/')}/`;
      if (this.names.has(dir)) continue;
      this.names.add(dir);
      await new Promise<void>((resolve, reject) => this.pack.entry({ name: dir, type: 'directory', mode: 0o755, mtime: ENTRY_MTIME }, (err) => (err ? reject(err) : resolve())));
    }
  }

  async has(name: string): Promise<boolean> {
    return this.names.has(name);
  }

  async existing(): Promise<Buffer | undefined> {
    return undefined;
  }

  async file(name: string, data: Uint8Array): Promise<void> {
    await this.dirs(name);
    this.names.add(name);
    await new Promise<void>((resolve, reject) => this.pack.entry({ name, mode: 0o644, mtime: ENTRY_MTIME }, Buffer.from(data), (err) => (err ? reject(err) : resolve())));
  }

  async stream(name: string, size: number, source: Readable): Promise<void> {
    await this.dirs(name);
    this.names.add(name);
    const written = new Promise<void>((resolve, reject) => {
      const sink = this.pack.entry({ name, size, mode: 0o644, mtime: ENTRY_MTIME }, (err) => (err ? reject(err) : resolve()));
      pipeline(source, sink).catch(reject);
    });
    await written;
  }

  async finish(): Promise<void> {
    this.pack.finalize();
    const failed = await this.done;
    if (failed !== undefined) throw failed;
  }

  async abort(err: unknown): Promise<void> {
    this.pack.destroy(err instanceof Error ? err : new Error(String(err)));
    await this.done;
  }
}

/** Writes the archive as an OCI layout directory (created if absent; an existing layout is added to). */
export class DirLayoutWriter implements LayoutWriter {
  private readonly names = new Set<string>();

  constructor(
    /** The layout directory. */
    readonly dir: string,
  ) {}

  private path(name: string): string {
    return path.join(this.dir, ...name.split('/'));
  }

  async has(name: string): Promise<boolean> {
    if (this.names.has(name)) return true;
    return name.startsWith('blobs/') && (await stat(this.path(name)).then((s) => s.isFile(), () => false));
  }

  async existing(name: string): Promise<Buffer | undefined> {
    return readFile(this.path(name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
  }

  async file(name: string, data: Uint8Array): Promise<void> {
    await writeFileAtomic(this.path(name), data);
    this.names.add(name);
  }

  async stream(name: string, _size: number, source: Readable): Promise<void> {
    const file = this.path(name);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
    const temp = path.join(path.dirname(file), tempName());
    try {
      await pipeline(source, createWriteStream(temp, { flags: 'wx', mode: 0o644 }));
      const fh = await open(temp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(temp, file);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    await syncDir(path.dirname(file));
    this.names.add(name);
  }

  async finish(): Promise<void> {}

  async abort(): Promise<void> {}
}
