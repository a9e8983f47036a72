// Safe layer extraction against a hostile corpus made here with tar-stream: nothing may land
// outside the target (a sentinel directory beside it is checked after every case), and a
// rejected layer leaves nothing behind.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { compress as zstdCompress } from 'zstd-napi';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer, applyLayerInto, LayerError, type ApplyLayerOptions, type Digest } from '../src/index.js';
import { chmodIn, closeFd, getxattrIn, mkdirIn, openIn, openRoot, rmtreeIn, symlinkIn, unlinkIn } from '../src/native/index.js';
import { packTar, type TarEntry } from './tar-fixtures.js';

const base = mkdtempSync(path.join(os.tmpdir(), `berth-layer-${process.pid}-`));
const sentinel = path.join(base, 'sentinel');
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
let target = '';
beforeEach(() => {
  target = path.join(base, `out-${process.pid}-${n++}`);
});

type Entry = TarEntry;
const sha = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;


const file = (name: string, content = 'data', header: Partial<tar.Header> = {}): Entry => ({ header: { name, type: 'file', mode: 0o644, ...header }, content });
const dir = (name: string): Entry => ({ header: { name, type: 'directory', mode: 0o755 } });
const symlink = (name: string, linkname: string): Entry => ({ header: { name, type: 'symlink', linkname } });
const link = (name: string, linkname: string): Entry => ({ header: { name, type: 'link', linkname } });

/** The sentinel beside the target is untouched, nothing but sentinel and out-* dirs exist in base, and no temp dir is left. */
function checkContained(): void {
  expect(readdirSync(sentinel)).toEqual(['keep']);
  expect(readFileSync(path.join(sentinel, 'keep'), 'utf8')).toBe('keep');
  for (const name of readdirSync(base)) expect(name === 'sentinel' || /^out-\d+-(\d+|lower|prims)$/.test(name)).toBe(true);
  expect(existsSync(`/tmp/berth-escape-${process.pid}`)).toBe(false);
}

/** Applies and expects a LayerError with `code`; the target must not exist afterwards. */
async function rejects(tarball: Buffer, code: string, options?: ApplyLayerOptions): Promise<LayerError> {
  const err = await applyLayer(tarball, target, options).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(LayerError);
  expect((err as LayerError).code).toBe(code);
  expect(existsSync(target)).toBe(false);
  checkContained();
  return err as LayerError;
}

mkdirSync(sentinel);
writeFileSync(path.join(sentinel, 'keep'), 'keep');
const sentinelRel = sentinel.slice(1); // without the leading '/'

describe('applyLayer', () => {
  it('applies files, dirs, symlinks, hard links, modes and times; DiffID and digest computed', async () => {
    const t = await packTar([dir('etc'), file('etc/hosts', 'h', { mode: 0o600, uid: 12, gid: 34 }), symlink('lnk', 'etc/hosts'), link('hard', 'etc/hosts'), file('deep/er/f', 'x')]);
    const r = await applyLayer(t, target);
    expect(r).toEqual({ diffID: sha(t), digest: sha(t), compression: 'none', size: t.length });
    expect(readFileSync(path.join(target, 'etc/hosts'), 'utf8')).toBe('h');
    const st = statSync(path.join(target, 'etc/hosts'));
    expect([st.mode & 0o7777, st.uid, st.gid, st.nlink, st.mtimeMs]).toEqual([0o600, 12, 34, 2, 1_600_000_000_000]);
    expect(readlinkSync(path.join(target, 'lnk'))).toBe('etc/hosts');
    expect(statSync(path.join(target, 'etc')).mtimeMs).toBe(1_600_000_000_000);
    expect(readFileSync(path.join(target, 'deep/er/f'), 'utf8')).toBe('x');
    checkContained();
  });

  it('detects gzip from the first bytes; the DiffID is that of the uncompressed tar', async () => {
    const t = await packTar([file('a', 'gz')]);
    const gz = gzipSync(t);
    const r = await applyLayer(gz, target, { expectedDigest: sha(gz), expectedDiffID: sha(t) });
    expect(r).toMatchObject({ compression: 'gzip', diffID: sha(t), digest: sha(gz) });
    expect(readFileSync(path.join(target, 'a'), 'utf8')).toBe('gz');
  });

  it('detects zstd from the first bytes and applies it; a truncated or corrupt zstd layer is ECORRUPT', async () => {
    const t = await packTar([dir('etc'), file('etc/z', 'zstd content'.repeat(100))]);
    const zst = zstdCompress(t);
    const r = await applyLayer(zst, target, { expectedDigest: sha(zst), expectedDiffID: sha(t) });
    expect(r).toEqual({ compression: 'zstd', diffID: sha(t), digest: sha(zst), size: t.length });
    expect(readFileSync(path.join(target, 'etc/z'), 'utf8')).toBe('zstd content'.repeat(100));
    target = `${target}-2`;
    await rejects(zst.subarray(0, zst.length - 10), 'ECORRUPT');
    await rejects(Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), t]), 'ECORRUPT');
  });

  it('neutralises ../ and absolute paths: they resolve inside the target', async () => {
    const t = await packTar([file(`../../../../../${sentinelRel}/evil`), file(`${sentinel}/evil2`), file(`../../../../tmp/berth-escape-${process.pid}`)]);
    await applyLayer(t, target);
    expect(existsSync(path.join(target, sentinelRel, 'evil'))).toBe(true);
    expect(existsSync(path.join(target, sentinelRel, 'evil2'))).toBe(true);
    expect(existsSync(path.join(target, `tmp/berth-escape-${process.pid}`))).toBe(true);
    checkContained();
  });

  it('keeps writes through a symlink to / (and to ../..) inside the target', async () => {
    const t = await packTar([symlink('root', '/'), file(`root/${sentinelRel}/evil`), symlink('up', '../../../../..'), file(`up/${sentinelRel}/evil2`), file(`root/tmp/berth-escape-${process.pid}`)]);
    await applyLayer(t, target);
    expect(readdirSync(path.join(target, sentinelRel)).sort()).toEqual(['evil', 'evil2']);
    expect(readlinkSync(path.join(target, 'root'))).toBe('/');
    checkContained();
  });

  it('keeps symlink chains inside the target, and a later entry replaces a symlink instead of following it', async () => {
    const t = await packTar([symlink('a', 'b'), symlink('b', '/'), symlink('c', 'a'), file(`c/${sentinelRel}/evil`), symlink('x', `${sentinel}/keep`), file('x', 'replaced')]);
    await applyLayer(t, target);
    expect(existsSync(path.join(target, sentinelRel, 'evil'))).toBe(true);
    expect(lstatSync(path.join(target, 'x')).isFile()).toBe(true);
    checkContained();
  });

  it('rejects a hard link to a file outside the layer, directly or through a symlink', async () => {
    let err = await rejects(await packTar([file('ok'), link('h', `../../../${sentinelRel}/keep`)]), 'EBADLINK');
    expect(err.path).toBe('h');
    err = await rejects(await packTar([symlink('root', '/'), link('h2', `root/${sentinelRel}/keep`)]), 'EBADLINK');
    expect(err.path).toBe('h2');
    await rejects(await packTar([link('self', 'self')]), 'EBADLINK');
    expect(statSync(path.join(sentinel, 'keep')).nlink).toBe(1);
  });

  it('links a symlink itself for a hard link to a symlink, never what it points to', async () => {
    const before = statSync('/etc/passwd').nlink;
    await applyLayer(await packTar([symlink('s', '/etc/passwd'), link('h', 's')]), target);
    expect(lstatSync(path.join(target, 'h')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(path.join(target, 'h'))).toBe('/etc/passwd');
    expect(statSync('/etc/passwd').nlink).toBe(before);
    checkContained();
  });

  it('rejects bad whiteouts', async () => {
    await rejects(await packTar([file('a/x'), file('.wh..')]), 'EBADWHITEOUT');
    await rejects(await packTar([file('a/x'), file('a/.wh...')]), 'EBADWHITEOUT');
    await rejects(await packTar([file('.wh.')]), 'EBADWHITEOUT');
  });

  it('applies whiteouts and opaque directories onto the lower content (vfs)', async () => {
    const lower = path.join(base, `out-${process.pid}-lower`);
    await applyLayer(await packTar([file('a/x'), file('a/y'), file('a/sub/z'), file('b/z'), file('c'), file('keep')]), lower);
    const t = await packTar([dir('a'), file('a/new'), file('a/sub/newer'), file('.wh..wh..opq2'), file('a/.wh..wh..opq'), file('.wh.b'), file('.wh.c'), file('.wh.absent')]);
    // The vfs model: the layer applied in place onto a copy of the lower content.
    execFileSync('cp', ['-a', lower, target]);
    await applyLayerInto(t, target);
    expect(readdirSync(path.join(target, 'a')).sort()).toEqual(['new', 'sub']);
    expect(readdirSync(path.join(target, 'a/sub'))).toEqual(['newer']);
    expect(readdirSync(target).sort()).toEqual(['a', 'keep']); // .wh..wh.* (aufs metadata) is ignored
    expect(readdirSync(path.join(lower, 'a')).sort()).toEqual(['sub', 'x', 'y']);
    checkContained();
  });

  it('writes overlay whiteouts: 0:0 char devices and trusted.overlay.opaque=y', async () => {
    await applyLayer(await packTar([file('.wh.gone'), file('d/.wh..wh..opq'), file('d/f')]), target, { whiteoutFormat: 'overlay' });
    const st = statSync(path.join(target, 'gone'));
    expect(st.isCharacterDevice() && st.rdev === 0).toBe(true);
    const root = openRoot(target);
    try {
      expect(getxattrIn(root, 'd', 'trusted.overlay.opaque').toString()).toBe('y');
    } finally {
      closeFd(root);
    }
    expect(existsSync(path.join(target, 'd/f'))).toBe(true);
  });

  it('creates device nodes and fifos, keeps setuid bits and security.capability xattrs', async () => {
    const cap = Buffer.from([1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // v2, cap_net_bind_service
    const t = await packTar([
      { header: { name: 'dev/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 } },
      { header: { name: 'dev/loopx', type: 'block-device', mode: 0o660, devmajor: 7, devminor: 200 } },
      { header: { name: 'fifo', type: 'fifo', mode: 0o600 } },
      file('bin/su', '#!', { mode: 0o4755, uid: 0 }),
      file('bin/ping', 'p', { mode: 0o755, pax: { 'SCHILY.xattr.security.capability': cap.toString('utf8') } }),
    ]);
    await applyLayer(t, target);
    const dev = statSync(path.join(target, 'dev/null'));
    expect(dev.isCharacterDevice()).toBe(true);
    expect([dev.rdev >> 8, dev.rdev & 0xff, dev.mode & 0o777]).toEqual([1, 3, 0o666]);
    expect(statSync(path.join(target, 'dev/loopx')).isBlockDevice()).toBe(true);
    expect(statSync(path.join(target, 'fifo')).isFIFO()).toBe(true);
    expect(statSync(path.join(target, 'bin/su')).mode & 0o7777).toBe(0o4755);
    const root = openRoot(target);
    try {
      expect(getxattrIn(root, 'bin/ping', 'security.capability').equals(cap)).toBe(true);
    } finally {
      closeFd(root);
    }
    checkContained();
  });

  it('keeps a binary security.capability (bytes that are not UTF-8) exactly, from a raw PAX record', async () => {
    // v2, effective, permitted = cap_setuid (bit 7: a 0x80 byte, which UTF-8 decoding would mangle).
    const cap = Buffer.from([1, 0, 0, 2, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const record = (key: string, value: Buffer): Buffer => {
      const rest = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
      let len = rest.length + 1;
      while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
      return Buffer.concat([Buffer.from(String(len)), rest]);
    };
    const header = (name: string, size: number, type: string): Buffer => {
      const h = Buffer.alloc(512);
      h.write(name, 0, 'latin1');
      h.write('0000755\0', 100, 'latin1');
      h.write('0000000\0', 108, 'latin1');
      h.write('0000000\0', 116, 'latin1');
      h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
      h.write('14000000000\0', 136, 'latin1');
      h.write(type, 156, 'latin1');
      h.write('ustar\0', 257, 'latin1');
      h.write('00', 263, 'latin1');
      h.fill(0x20, 148, 156);
      let sum = 0;
      for (const b of h) sum += b;
      h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
      return h;
    };
    const pad = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
    const paxBody = Buffer.concat([record('SCHILY.xattr.security.capability', cap), record('SCHILY.xattr.user.note', Buffer.from('plain text'))]);
    const content = Buffer.from('#!/bin/sh\n');
    const t = Buffer.concat([
      header('PaxHeaders/newuidmap', paxBody.length, 'x'), pad(paxBody),
      header('newuidmap', content.length, '0'), pad(content),
      header('after', 2, '0'), pad(Buffer.from('ok')),
      Buffer.alloc(1024),
    ]);
    const r = await applyLayer(t, target);
    expect(r.diffID).toBe(sha(t)); // the DiffID is that of the tar as given, not as rewritten
    const root = openRoot(target);
    try {
      expect(getxattrIn(root, 'newuidmap', 'security.capability').equals(cap)).toBe(true);
      expect(getxattrIn(root, 'newuidmap', 'user.note').toString()).toBe('plain text');
    } finally {
      closeFd(root);
    }
    expect(readFileSync(path.join(target, 'newuidmap'), 'utf8')).toBe('#!/bin/sh\n');
    expect(readFileSync(path.join(target, 'after'), 'utf8')).toBe('ok');
    checkContained();
  });

  it('rejects huge and negative sizes, truncated and corrupt archives', async () => {
    const good = await packTar([file('a', 'x'.repeat(5000)), file('b', 'y')]);
    // huge: the header claims 8 GiB, the data is not there
    await rejects(setSize(good, 0, 8 * 1024 ** 3), 'ECORRUPT');
    await rejects(setSize(good, 0, -1), 'ECORRUPT');
    await rejects(good.subarray(0, 2048), 'ECORRUPT');
    await rejects(good.subarray(0, 700), 'ECORRUPT');
    const garbage = Buffer.alloc(2048, 0x41);
    await rejects(garbage, 'ECORRUPT');
    await rejects(gzipSync(good).subarray(0, 60), 'ECORRUPT');
    const gz = gzipSync(good);
    await rejects(gz.subarray(0, gz.length - 8), 'ECORRUPT'); // all data, trailer (CRC, size) cut off
    await rejects(await packTar([file('.', 'not a dir')]), 'EBADNAME');
    const badSum = Buffer.from(good);
    badSum[0] = 0x5a;
    await rejects(badSum, 'ECORRUPT');
  });

  it('rejects a layer whose digest or DiffID does not match, and bzip2 or xz compression', async () => {
    const t = await packTar([file('a')]);
    const err = await rejects(t, 'EDIGEST', { expectedDigest: sha(Buffer.from('other')) });
    expect(err.message).toContain(sha(t));
    await rejects(gzipSync(t), 'EDIGEST', { expectedDiffID: sha(gzipSync(t)) });
    const bz = await rejects(Buffer.concat([Buffer.from('BZh91AY&SY'), t]), 'EUNSUPPORTEDCOMPRESSION');
    expect(bz.message).toContain('bzip2');
    await rejects(Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), t]), 'EUNSUPPORTEDCOMPRESSION');
    await expect(applyLayer(t, sentinel)).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(applyLayer(t, path.join(base, 'no-such-dir', 'x'))).rejects.toMatchObject({ name: 'LayerError', code: 'ENOENT' });
    // two applies racing for one target: one wins, the other is EEXIST; no temp dir is left
    const both = await Promise.allSettled([applyLayer(t, target), applyLayer(t, target)]);
    expect(both.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(both.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'EEXIST' } });
    checkContained();
  });
});

describe('applyLayerInto on worker threads, from file ranges', () => {
  /** Writes `blobs` one after another into one file (with junk around them) and returns their ranges. */
  function rangesIn(blobs: Buffer[]): Array<{ file: string; start: number; length: number }> {
    const f = path.join(base, `out-${process.pid}-${n++}`);
    const parts: Buffer[] = [Buffer.from('junk before')];
    const ranges = blobs.map((b) => {
      const start = parts.reduce((a, p) => a + p.length, 0);
      parts.push(b, Buffer.from('junk after'));
      return { file: f, start, length: b.length };
    });
    writeFileSync(f, Buffer.concat(parts));
    return ranges;
  }

  it('applies several layers at once, as on this thread, and copies each blob as given while applying it', async () => {
    const tars = await Promise.all([0, 1, 2, 3].map((i) => packTar([dir('etc'), file(`etc/f${i}`, `layer ${i}`, { mode: 0o640, uid: 7, gid: 8 }), file(`etc/high${i}`, 'h', { pax: { uid: '3000000000', gid: '4000000000', mtime: '1600000000.25' } }), symlink(`l${i}`, `etc/f${i}`), file(`big${i}`, 'z'.repeat(300_000 + i))])));
    const blobs = tars.map((t, i) => (i % 2 === 0 ? gzipSync(t) : t));
    const ranges = rangesIn(blobs);
    const dirs = ranges.map(() => path.join(base, `out-${process.pid}-${n++}`));
    for (const d of dirs) mkdirSync(d);
    const copies = dirs.map((d) => `${d}.copy`);
    const results = await Promise.all(ranges.map((r, i) => applyLayerInto(r, dirs[i]!, { worker: true, copyTo: copies[i]!, expectedDigest: sha(blobs[i]!), expectedDiffID: sha(tars[i]!) })));
    for (const [i, r] of results.entries()) {
      expect(r).toEqual({ diffID: sha(tars[i]!), digest: sha(blobs[i]!), compression: i % 2 === 0 ? 'gzip' : 'none', size: tars[i]!.length });
      expect(readFileSync(copies[i]!)).toEqual(blobs[i]);
      rmSync(copies[i]!);
      const st = statSync(path.join(dirs[i]!, `etc/f${i}`));
      expect([readFileSync(path.join(dirs[i]!, `etc/f${i}`), 'utf8'), st.mode & 0o7777, st.uid, st.gid, st.mtimeMs]).toEqual([`layer ${i}`, 0o640, 7, 8, 1_600_000_000_000]);
      expect(readlinkSync(path.join(dirs[i]!, `l${i}`))).toBe(`etc/f${i}`);
      const high = statSync(path.join(dirs[i]!, `etc/high${i}`));
      expect([high.uid, high.gid, high.mtimeMs]).toEqual([3_000_000_000, 4_000_000_000, 1_600_000_000_250]); // PAX ids (past 2^31) and sub-second times
      expect(statSync(path.join(dirs[i]!, `big${i}`)).size).toBe(300_000 + i);
    }
    // The same on this thread gives the same result.
    const here = path.join(base, `out-${process.pid}-${n++}`);
    mkdirSync(here);
    expect(await applyLayerInto(ranges[1]!, here)).toEqual(results[1]);
    checkContained();
  });

  it('rejects a hostile or mismatched layer with the typed error it gets on this thread, and leaves no copy', async () => {
    const hostile = await packTar([file('ok'), link('h', `../../../${sentinelRel}/keep`)]);
    const good = await packTar([file('a')]);
    const [r1, r2] = rangesIn([hostile, good]);
    const d = path.join(base, `out-${process.pid}-${n++}`);
    mkdirSync(d);
    const copy = `${d}.copy`;
    const err = await applyLayerInto(r1!, d, { worker: true, copyTo: copy }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LayerError);
    expect(err).toMatchObject({ code: 'EBADLINK', path: 'h' });
    expect((err as LayerError).message).toMatch(/^h: /);
    expect(existsSync(copy)).toBe(false);
    expect(statSync(path.join(sentinel, 'keep')).nlink).toBe(1);
    const d2 = path.join(base, `out-${process.pid}-${n++}`);
    mkdirSync(d2);
    await expect(applyLayerInto(r2!, d2, { worker: true, copyTo: copy, expectedDigest: sha(hostile) })).rejects.toMatchObject({ name: 'LayerError', code: 'EDIGEST' });
    // On this thread too, and the copy's fd is closed for good: a file opened right after the
    // failure (it may get the same fd number) receives nothing of the blob still flowing.
    const [r3] = rangesIn([await packTar([file('a', 'a'.repeat(1 << 20)), file('x/.wh..'), file('big', 'b'.repeat(8 << 20))])]);
    const d3 = path.join(base, `out-${process.pid}-${n++}`);
    mkdirSync(d3);
    const victim = path.join(base, `out-${process.pid}-${n++}`);
    let vfd = -1;
    const failed = await applyLayerInto(r3!, d3, { copyTo: copy }).catch((e: unknown) => {
      vfd = openSync(victim, 'w'); // at once, before anything else runs
      return e;
    });
    expect(failed).toMatchObject({ code: 'EBADWHITEOUT' });
    await new Promise((r) => setTimeout(r, 200));
    closeSync(vfd);
    expect(statSync(victim).size).toBe(0);
    expect(existsSync(copy)).toBe(false);
    expect(existsSync(copy)).toBe(false);
    await expect(applyLayerInto({ ...r2!, length: r2!.length - 100 }, d2, { worker: true })).rejects.toMatchObject({ name: 'LayerError', code: 'ECORRUPT' });
    await expect(applyLayerInto({ ...r2!, file: path.join(base, 'no-such-file') }, d2, { worker: true })).rejects.toMatchObject({ name: 'LayerError', code: 'ENOENT' });
    checkContained();
  });
});

/** Rewrites the size field of the header at `offset` (base-256 for huge or negative) and fixes its checksum. */
function setSize(tarball: Buffer, offset: number, size: number): Buffer {
  const b = Buffer.from(tarball);
  const h = b.subarray(offset, offset + 512);
  if (size >= 0 && size < 8 ** 11) h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  else {
    const field = Buffer.alloc(12, size < 0 ? 0xff : 0);
    let v = BigInt.asUintN(88, BigInt(size));
    for (let i = 11; i >= 1; i--) {
      field[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    field[0] = size < 0 ? 0xff : 0x80;
    field.copy(h, 124);
  }
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return b;
}

describe('dirfd-relative primitives', () => {
  it('resolve every path inside the root and never follow a last-component symlink', () => {
    const dirPath = path.join(base, `out-${process.pid}-prims`);
    mkdirSync(dirPath);
    const root = openRoot(dirPath);
    try {
      expect(() => openIn(root, '../../../../etc/passwd', 0)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
      symlinkIn(root, 'esc', '/');
      expect(() => openIn(root, `esc/${sentinelRel}/keep`, 0)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
      symlinkIn(root, 'proc', '/proc/self/root');
      expect(() => openIn(root, 'proc/etc', 0)).toThrow(/ELOOP|ENOENT/); // resolves to itself inside the root, never the host's /proc
      mkdirIn(root, 'd');
      symlinkIn(root, 'd/s', sentinel);
      symlinkIn(root, 'k', `${sentinel}/keep`);
      chmodIn(root, 'k', 0o777); // a symlink: left alone, the file it names untouched
      expect(statSync(path.join(sentinel, 'keep')).mode & 0o777).toBe(0o644);
      rmtreeIn(root, 'd');
      unlinkIn(root, 'k');
      rmtreeIn(root, 'esc');
      expect(readdirSync(dirPath).sort()).toEqual(['proc']);
      expect(() => mkdirIn(root, '..')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    } finally {
      closeFd(root);
    }
    checkContained();
  });
});
