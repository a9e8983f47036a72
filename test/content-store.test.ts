// The content-addressed blob store: verified writes and reads, crash repair, concurrent writers.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ContentError, ContentStore, type Digest } from '../src/index.js';

const base = mkdtempSync(path.join(os.tmpdir(), `berth-content-${process.pid}-`));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const digestOf = (b: Buffer | string): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('ContentStore', () => {
  it('writes from a stream, reads back verified, lists, sizes and deletes', async () => {
    const store = await ContentStore.open(path.join(base, 'a'));
    const data = Buffer.alloc(300_000, 7);
    const info = await store.write(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), digestOf(data));
    expect(info).toEqual({ digest: digestOf(data), size: data.length });
    expect(await store.has(info.digest)).toBe(true);
    expect(await store.size(info.digest)).toBe(data.length);
    const chunks: Buffer[] = [];
    for await (const c of store.read(info.digest)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect((await store.readAll(info.digest)).equals(data)).toBe(true);
    const small = await store.write(Buffer.from('hello'));
    expect(await store.list()).toEqual([info.digest, small.digest].sort());
    expect(await store.delete(small.digest)).toBe(true);
    expect(await store.delete(small.digest)).toBe(false);
    expect(await store.has(small.digest)).toBe(false);
    expect(await store.size(small.digest)).toBeUndefined();
  });

  it('rejects content that does not match the expected digest and keeps nothing', async () => {
    const store = await ContentStore.open(path.join(base, 'b'));
    const wrong = digestOf('other');
    const err = await store.write(Buffer.from('content'), wrong).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContentError);
    expect((err as ContentError).code).toBe('EDIGEST');
    expect((err as ContentError).expected).toBe(wrong);
    expect((err as ContentError).actual).toBe(digestOf('content'));
    expect(readdirSync(store.dir)).toEqual([]);
    await expect(store.write(Buffer.from('x'), 'sha256:nothex' as Digest)).rejects.toMatchObject({ code: 'EINVALIDDIGEST' });
  });

  it('adopts a temp file a writer hashed itself, and refuses any other file', async () => {
    const store = await ContentStore.open(path.join(base, 'adopt'));
    const temp = store.tempPath();
    expect(path.dirname(temp)).toBe(store.dir);
    writeFileSync(temp, 'adopted');
    expect(await store.adopt(temp, digestOf('adopted'))).toEqual({ digest: digestOf('adopted'), size: 7 });
    expect(existsSync(temp)).toBe(false);
    expect((await store.readAll(digestOf('adopted'))).toString()).toBe('adopted');
    const outside = path.join(base, 'not-a-temp');
    writeFileSync(outside, 'x');
    await expect(store.adopt(outside, digestOf('x'))).rejects.toMatchObject({ name: 'ContentError', code: 'EINVAL', path: outside });
    expect(existsSync(outside)).toBe(true);
    await expect(store.adopt(store.tempPath(), digestOf('never written'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(readdirSync(store.dir).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  });

  it('detects a blob corrupted on disk when reading', async () => {
    const store = await ContentStore.open(path.join(base, 'c'));
    const { digest } = await store.write(Buffer.from('original content'));
    writeFileSync(store.path(digest), 'tampered content');
    const read = async (): Promise<void> => {
      for await (const _ of store.read(digest)) void _;
    };
    await expect(read()).rejects.toMatchObject({ name: 'ContentError', code: 'EDIGEST', expected: digest, actual: digestOf('tampered content') });
    await expect(store.readAll(digest)).rejects.toMatchObject({ code: 'EDIGEST' });
    await expect(store.readAll(digestOf('absent'))).rejects.toMatchObject({ code: 'ENOENT' });
    const missing = async (): Promise<void> => {
      for await (const _ of store.read(digestOf('absent'))) void _;
    };
    await expect(missing()).rejects.toMatchObject({ name: 'ContentError', code: 'ENOENT' });
  });

  it('drops temp files of dead processes on open and keeps live ones', async () => {
    const root = path.join(base, 'd');
    const store = await ContentStore.open(root);
    const dead = path.join(store.dir, '.tmp-999999999-deadbeef');
    const live = path.join(store.dir, `.tmp-${process.pid}-cafe`);
    const old = path.join(store.dir, `.tmp-${process.pid}-old`);
    for (const f of [dead, live, old]) writeFileSync(f, 'partial');
    utimesSync(old, new Date(0), new Date(0));
    await ContentStore.open(root);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(live)).toBe(true);
  });

  it('lets concurrent writers of one blob all succeed', async () => {
    const root = path.join(base, 'e');
    const data = Buffer.alloc(1 << 20, 3);
    const stores = await Promise.all([1, 2, 3, 4].map(() => ContentStore.open(root)));
    const slow = async function* (): AsyncGenerator<Buffer> {
      for (let i = 0; i < data.length; i += 65536) {
        yield data.subarray(i, i + 65536);
        await new Promise((r) => setImmediate(r));
      }
    };
    const infos = await Promise.all(stores.map((s) => s.write(slow(), digestOf(data))));
    for (const info of infos) expect(info.digest).toBe(digestOf(data));
    expect(readdirSync(stores[0]!.dir)).toEqual([digestOf(data).slice(7)]);
    expect((await stores[0]!.readAll(digestOf(data))).equals(data)).toBe(true);
  });

  it('lets writers in several processes store one blob at once', async () => {
    const root = path.join(base, 'f');
    const script = path.join(import.meta.dirname, 'fixtures', 'content-writer.ts');
    const run = (): Promise<{ stdout: string }> => promisify(execFile)('npx', ['vite-node', script, root, '9', '4'], { cwd: path.join(import.meta.dirname, '..') });
    const results = await Promise.all([run(), run(), run()]);
    const expected = digestOf(Buffer.alloc(4 * 1024 * 1024, 9));
    for (const r of results) expect(r.stdout.trim()).toBe(expected);
    const store = await ContentStore.open(root);
    expect(readdirSync(store.dir)).toEqual([expected.slice(7)]);
    expect(await store.size(expected)).toBe(4 * 1024 * 1024);
  });
});
