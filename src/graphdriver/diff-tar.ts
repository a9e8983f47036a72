/**
 * A snapshot's changes as a layer tar with `.wh.` whiteouts, the inverse of layer application.
 * Two sources: an overlay upper dir (0:0 character devices become `.wh.<name>`, an opaque
 * directory gets `.wh..wh..opq`), or a full tree compared with its parent's full tree (what is
 * new or whose metadata changed is written; what the parent has and the tree lacks becomes a
 * whiteout). Entries are written in sorted order, so the same changes give the same tar; a
 * file linked several times is written once and then as hard links.
 * @module
 */
import { createReadStream, type BigIntStats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Pack } from 'tar-stream';
import { lazyRequire } from '../util/lazy-require.js';
import * as nat from '../native/index.js';
import type { LayerDirs } from './driver.js';
import { paxHeaderEntry, PaxRetypeStream } from '../image/pax-xattrs.js';

/** Where the changes come from. */
export type DiffSource =
  | { kind: 'overlay'; upper: string }
  | { kind: 'compare'; dir: string; parent: string | undefined }
  | { kind: 'merged'; dirs: readonly string[]; overlay: boolean };

const tarStream = lazyRequire<typeof import('tar-stream')>('tar-stream');

/** A tar entry header as tar-stream's pack takes it. */
type EntryHeader = Parameters<Pack['entry']>[0];

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** An lstat that returns undefined for a missing path. */
async function lstatOrNone(p: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(p, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** Whether two inodes differ in what a layer records. */
function changed(a: BigIntStats, b: BigIntStats): boolean {
  return a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.mtimeNs !== b.mtimeNs || a.rdev !== b.rdev || (!a.isDirectory() && a.size !== b.size);
}

/** The tar entry type of an inode. */
function entryType(st: BigIntStats): EntryHeader['type'] {
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'character-device';
  if (st.isBlockDevice()) return 'block-device';
  if (st.isFIFO()) return 'fifo';
  return 'file';
}

/** Writes the tar of a {@link DiffSource}. */
class DiffWriter {
  private readonly links = new Map<string, string>();
  private opaqueRoot = -1;

  constructor(private readonly pack: Pack) {}

  /**
   * Writes a PAX header carrying the entry's path and its `security.capability` — the one
   * extended attribute Docker's layers carry — when the inode has one; returns the short name
   * the entry then gets (see {@link paxHeaderEntry}).
   */
  private async xattrHeader(rel: string, abs: string, type: string): Promise<string | undefined> {
    if (type === 'symlink') return undefined;
    const root = nat.openRoot(path.dirname(abs));
    let cap: Buffer | undefined;
    try {
      if (nat.listxattrIn(root, path.basename(abs)).includes('security.capability')) cap = nat.getxattrIn(root, path.basename(abs), 'security.capability');
    } finally {
      nat.closeFd(root);
    }
    if (cap === undefined) return undefined;
    const pax = paxHeaderEntry(rel, [['security.capability', cap]]);
    await new Promise<void>((resolve, reject) => this.pack.entry({ name: pax.name, type: 'file', size: pax.body.length, mode: 0o644, mtime: new Date(0) }, pax.body, (err) => (err ? reject(err) : resolve())));
    return xattrHeaderName(rel);
  }

  /** Writes one entry with the inode's metadata (and content for a regular file). */
  private async write(rel: string, abs: string, st: BigIntStats): Promise<void> {
    const type0 = entryType(st);
    const shortName = type0 === 'file' && st.nlink > 1n && this.links.has(`${st.dev}:${st.ino}`) ? undefined : await this.xattrHeader(rel, abs, String(type0));
    const base = {
      name: shortName ?? rel,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtime: new Date(Number(st.mtimeNs / 1000000n)),
    };
    const type = entryType(st);
    const inode = `${st.dev}:${st.ino}`;
    if (type === 'file' && st.nlink > 1n) {
      const first = this.links.get(inode);
      if (first !== undefined) {
        await this.entry({ ...base, type: 'link', linkname: first, size: 0 });
        return;
      }
      this.links.set(inode, rel);
    }
    if (type === 'file') {
      const size = Number(st.size);
      await new Promise<void>((resolve, reject) => {
        const sink = this.pack.entry({ ...base, type, size }, (err) => (err ? reject(err) : resolve()));
        pipeline(createReadStream(abs), sink).catch(reject);
      });
      return;
    }
    if (type === 'symlink') return this.entry({ ...base, type, linkname: await readlink(abs) });
    if (type === 'character-device' || type === 'block-device') {
      const d = st.rdev;
      const devmajor = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
      const devminor = Number((d & 0xffn) | ((d >> 12n) & 0xfff00n));
      return this.entry({ ...base, type, devmajor, devminor });
    }
    return this.entry({ ...base, type });
  }

  /** Writes a header-only entry (with an empty body: a `file` entry given none, as a whiteout is, waits for one forever). */
  private entry(header: EntryHeader): Promise<void> {
    return new Promise((resolve, reject) => this.pack.entry(header, Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
  }

  /** Writes a whiteout for `rel`. */
  private whiteout(rel: string): Promise<void> {
    const dir = path.posix.dirname(rel);
    const name = `${WH}${path.posix.basename(rel)}`;
    return this.entry({ name: dir === '.' ? name : `${dir}/${name}`, type: 'file', size: 0, mode: 0o644, mtime: new Date(0) });
  }

  /** Whether `rel` inside the upper dir carries the opaque xattr. */
  private opaque(rel: string): boolean {
    try {
      return nat.getxattrIn(this.opaqueRoot, rel, 'trusted.overlay.opaque').toString() === 'y';
    } catch {
      return false;
    }
  }

  /** Walks an overlay upper dir. */
  async overlay(upper: string): Promise<void> {
    this.opaqueRoot = nat.openRoot(upper);
    try {
      await this.overlayDir(upper, '');
    } finally {
      nat.closeFd(this.opaqueRoot);
    }
  }

  private async overlayDir(upper: string, rel: string): Promise<void> {
    for (const name of (await readdir(path.join(upper, rel))).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const abs = path.join(upper, r);
      const st = await lstat(abs, { bigint: true });
      if (st.isCharacterDevice() && st.rdev === 0n) {
        await this.whiteout(r);
      } else if (st.isDirectory()) {
        await this.write(r, abs, st);
        if (this.opaque(r)) await this.entry({ name: `${r}/${OPAQUE}`, type: 'file', size: 0, mode: 0o644, mtime: new Date(0) });
        await this.overlayDir(upper, r);
      } else {
        await this.write(r, abs, st);
      }
    }
  }

  /** Walks the union of the layer dirs `roots` (topmost first) as overlayfs shows it; with `overlay`, 0:0 devices are whiteouts and opaque directories hide what is below. */
  async merged(roots: readonly string[], overlay: boolean, rel = ''): Promise<void> {
    const seen = new Map<string, { root: string; st: BigIntStats; roots: string[]; closed: boolean }>();
    const hidden = new Set<string>();
    for (const root of roots) {
      for (const name of await readdir(path.join(root, rel)).catch(() => [] as string[])) {
        const r = rel === '' ? name : `${rel}/${name}`;
        const prior = seen.get(name);
        if (prior !== undefined) {
          if (prior.st.isDirectory() && !prior.closed) {
            const below = await lstat(path.join(root, r)).catch(() => undefined);
            if (below?.isDirectory()) prior.roots.push(root);
            else prior.closed = true;
          }
          continue;
        }
        if (hidden.has(name)) continue;
        const st = await lstat(path.join(root, r), { bigint: true });
        if (overlay && st.isCharacterDevice() && st.rdev === 0n) hidden.add(name);
        else seen.set(name, { root, st, roots: [root], closed: false });
      }
      if (overlay && rel !== '' && this.isOpaque(root, rel)) break;
    }
    for (const name of [...seen.keys()].sort()) {
      const { root, st, roots: below } = seen.get(name)!;
      const r = rel === '' ? name : `${rel}/${name}`;
      await this.write(r, path.join(root, r), st);
      if (st.isDirectory()) await this.merged(below, overlay, r);
    }
  }

  /** Whether `rel` in the layer dir `dir` is an opaque overlay directory. */
  private isOpaque(dir: string, rel: string): boolean {
    let root = -1;
    try {
      root = nat.openRoot(dir);
      return nat.getxattrIn(root, rel, 'trusted.overlay.opaque').toString() === 'y';
    } catch {
      return false;
    } finally {
      if (root >= 0) nat.closeFd(root);
    }
  }

  /** Compares a full tree with its parent's. */
  async compare(dir: string, parent: string | undefined, rel = ''): Promise<void> {
    const here = (await readdir(path.join(dir, rel))).sort();
    const present = new Set(here);
    if (parent !== undefined) {
      const before = await readdir(path.join(parent, rel)).catch(() => [] as string[]);
      for (const name of before.sort()) if (!present.has(name)) await this.whiteout(rel === '' ? name : `${rel}/${name}`);
    }
    for (const name of here) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const abs = path.join(dir, r);
      const st = await lstat(abs, { bigint: true });
      const old = parent === undefined ? undefined : await lstatOrNone(path.join(parent, r));
      const isNew = old === undefined || entryType(old) !== entryType(st);
      if (isNew || changed(st, old) || (st.isSymbolicLink() && (await readlink(abs)) !== (await readlink(path.join(parent!, r))))) {
        await this.write(r, abs, st);
      }
      if (st.isDirectory()) await this.compare(dir, isNew ? undefined : parent, r);
    }
  }
}

/**
 * The ustar name of an entry whose own PAX header carries its path: short enough that tar-stream
 * makes no PAX header of its own (which would replace ours), and ignored by readers, which take
 * the PAX path.
 */
function xattrHeaderName(rel: string): string {
  return Buffer.byteLength(rel) <= 100 ? rel : path.posix.basename(rel).slice(0, 99);
}

/** A readable layer tar of the changes `source()` names (resolved lazily, so errors surface on the stream). */
export function diffTar(source: () => Promise<DiffSource>): Readable {
  const pack = tarStream().pack();
  const out = new PassThrough();
  pack.pipe(new PaxRetypeStream()).pipe(out);
  void (async () => {
    const src = await source();
    const w = new DiffWriter(pack);
    if (src.kind === 'overlay') await w.overlay(src.upper);
    else if (src.kind === 'merged') await w.merged(src.dirs, src.overlay);
    else await w.compare(src.dir, src.parent);
    pack.finalize();
  })().catch((err: unknown) => {
    out.destroy(err instanceof Error ? err : new Error(String(err)));
    pack.destroy();
  });
  return out;
}

/** The whole tree of a snapshot (the union of its layer dirs, whiteouts applied) as a tar. */
export function mergedTreeTar(layers: LayerDirs): Readable {
  return diffTar(async () => ({ kind: 'merged', dirs: layers.dirs, overlay: layers.whiteouts === 'overlay' }));
}
