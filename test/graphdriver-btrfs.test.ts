// The btrfs graph driver on a real btrfs file system the test makes on a loop device: snapshot
// chains (content visible in children, isolated from parents), layer tars in (whiteouts) and
// out (diff), read-only committed subvolumes, the children rule, usage, crash repair, the
// ENOTSUP refusal off btrfs, a container on a snapshot's mounts, and nothing left behind.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, statfs, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BtrfsDriver } from '../src/graphdriver/btrfs.js';
import type { SnapshotMount } from '../src/graphdriver/driver.js';
import { GraphDriverError } from '../src/graphdriver/errors.js';
import { defaultGraphDriver, openGraphDriver } from '../src/graphdriver/index.js';
import { OWNER_PID_LABEL } from '../src/graphdriver/snapshotter-base.js';
import { Container } from '../src/index.js';
import { btrfsIsSubvolume, btrfsSubvolCreate } from '../src/native/index.js';
import { collect, shSpec, workspace, type Workspace, installed } from './support.js';
import { makeTar, readAll, tarNames } from './tar-fixtures.js';




/** The error a promise rejects with. */
function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

/** Runs a command, returning its stdout (throws with its stderr on failure). */
function run(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Subvolume paths `btrfs subvolume list` shows on the file system at `mnt`. */
function subvolumes(mnt: string): string[] {
  return run('btrfs', 'subvolume', 'list', '-o', mnt)
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.replace(/^.* path /, ''));
}

const haveMkfs = installed(import.meta.url, 'mkfs.btrfs', 'losetup');
if (!haveMkfs) console.log('skipping the btrfs driver tests: mkfs.btrfs is not installed (btrfs-progs; scripts/host-deps.sh installs it)');

describe.skipIf(!haveMkfs)('btrfs driver', () => {
  let tmp = '';
  let mnt = '';
  let loopDev = '';
  let fsid = '';
  let home = '';
  let driver: BtrfsDriver;

  /** The subvolume of a snapshot (its one layer dir). */
  const dirOf = async (key: string): Promise<string> => (await driver.layerDirs(key)).dirs[0]!;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-btrfs-'));
    const img = path.join(tmp, 'fs.img');
    await writeFile(img, '');
    await truncate(img, 256 << 20);
    run('mkfs.btrfs', '-q', img);
    loopDev = run('losetup', '--find', '--show', img).trim();
    mnt = path.join(tmp, 'mnt');
    await mkdir(mnt);
    const before = new Set(readdirSync('/sys/fs/btrfs'));
    run('mount', '-t', 'btrfs', loopDev, mnt);
    fsid = readdirSync('/sys/fs/btrfs').find((n) => !before.has(n) && /^[0-9a-f-]{36}$/.test(n)) ?? '';
    home = path.join(mnt, 'graph', 'btrfs');
    driver = await BtrfsDriver.open(home);
  });

  afterAll(async () => {
    if (mnt !== '') spawnSync('umount', [mnt]);
    if (loopDev !== '') spawnSync('losetup', ['-d', loopDev]);
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });
    expect(run('losetup', '--list', '--noheadings', '--output', 'NAME')).not.toContain(`${loopDev}\n`);
    if (fsid !== '') expect(readdirSync('/sys/fs/btrfs')).not.toContain(fsid);
  });

  it('makes each snapshot a subvolume: children see their parent, parents never see their children', async () => {
    await driver.prepare('a-ingest');
    const a = await dirOf('a-ingest');
    expect(btrfsIsSubvolume(a)).toBe(true);
    expect(path.dirname(a)).toBe(path.join(home, 'subvolumes'));
    await writeFile(path.join(a, 'file1'), 'one');
    await mkdir(path.join(a, 'dir'));
    await writeFile(path.join(a, 'dir', 'inner'), 'inner');
    await driver.commit('a', 'a-ingest');
    expect(await dirOf('a')).toBe(a);

    const mounts = await driver.prepare('b-ingest', 'a');
    const b = await dirOf('b-ingest');
    expect(mounts).toEqual([{ type: 'bind', source: b, options: ['rbind', 'rw'] }]);
    expect(btrfsIsSubvolume(b)).toBe(true);
    expect(await readFile(path.join(b, 'file1'), 'utf8')).toBe('one');
    expect(await readFile(path.join(b, 'dir', 'inner'), 'utf8')).toBe('inner');
    await writeFile(path.join(b, 'file1'), 'changed');
    await writeFile(path.join(b, 'file2'), 'two');
    await rm(path.join(b, 'dir', 'inner'));
    expect(await readFile(path.join(a, 'file1'), 'utf8')).toBe('one');
    expect(await readdir(a)).toEqual(['dir', 'file1']);
    expect(await readdir(path.join(a, 'dir'))).toEqual(['inner']);
    await driver.commit('b', 'b-ingest');

    await driver.prepare('c-active', 'b');
    const c = await dirOf('c-active');
    expect(await readFile(path.join(c, 'file1'), 'utf8')).toBe('changed');
    expect(await readFile(path.join(c, 'file2'), 'utf8')).toBe('two');
    expect(await readdir(path.join(c, 'dir'))).toEqual([]);
    await writeFile(path.join(c, 'file3'), 'three');
    expect(await readdir(await dirOf('b'))).toEqual(['dir', 'file1', 'file2']);
    await driver.remove('c-active');
    expect(subvolumes(mnt).sort()).toEqual([`graph/btrfs/subvolumes/${path.basename(a)}`, `graph/btrfs/subvolumes/${path.basename(await dirOf('b'))}`].sort());
  });

  it('makes committed snapshots read-only subvolumes (a write fails with EROFS), and views read-only binds of them', async () => {
    const a = await dirOf('a');
    const err = await failure(writeFile(path.join(a, 'new'), 'x'));
    expect((err as NodeJS.ErrnoException).code).toBe('EROFS');
    expect(run('btrfs', 'property', 'get', '-ts', a, 'ro').trim()).toBe('ro=true');
    const view = await driver.view('a-view', 'a');
    expect(view).toEqual([{ type: 'bind', source: a, options: ['rbind', 'ro'] }]);
    expect(await driver.layerDirs('a-view')).toEqual({ dirs: [a], whiteouts: 'none' });
    await driver.remove('a-view');
    expect(btrfsIsSubvolume(a)).toBe(true);
  });

  it('applies a layer tar with a whiteout onto a snapshot, leaving the parent as it was', async () => {
    await driver.prepare('d-ingest', 'b');
    const layer = await makeTar([
      { name: '.wh.file2' },
      { name: 'etc', type: 'directory' },
      { name: 'etc/new', content: 'new\n' },
      { name: 'file1', content: 'from the layer' },
    ]);
    const result = await driver.applyDiff('d-ingest', layer);
    expect(result.compression).toBe('none');
    expect(result.size).toBe(layer.length);
    const d = await dirOf('d-ingest');
    expect((await readdir(d)).sort()).toEqual(['dir', 'etc', 'file1']);
    expect(await readFile(path.join(d, 'etc', 'new'), 'utf8')).toBe('new\n');
    expect(await readFile(path.join(d, 'file1'), 'utf8')).toBe('from the layer');
    expect(await readFile(path.join(await dirOf('b'), 'file2'), 'utf8')).toBe('two');
    await driver.commit('d', 'd-ingest');
  });

  it("gives a child's changes against its parent as a layer tar with whiteouts, which applies back to the same tree", async () => {
    const names = await tarNames(driver.diff('d'));
    expect(names.sort()).toEqual(['.wh.file2', 'etc', 'etc/new', 'file1']);
    const bNames = await tarNames(driver.diff('b'));
    expect(bNames.sort()).toEqual(['dir', 'dir/.wh.inner', 'file1', 'file2']);
    // A base snapshot's diff is its whole tree.
    expect((await tarNames(driver.diff('a'))).sort()).toEqual(['dir', 'dir/inner', 'file1']);

    await driver.prepare('d2-ingest', 'b');
    await driver.applyDiff('d2-ingest', await readAll(driver.diff('d')));
    await driver.commit('d2', 'd2-ingest');
    expect(await tarNames(driver.diff('d2'))).toEqual(await tarNames(driver.diff('d')));
    expect(await readFile(path.join(await dirOf('d2'), 'file1'), 'utf8')).toBe('from the layer');
    await driver.remove('d2');
  });

  it('reports usage of a snapshot', async () => {
    // a: the root, dir, dir/inner (5 bytes), file1 (3 bytes).
    expect(await driver.usage('a')).toEqual({ size: 8, inodes: 4 });
    await driver.view('a-view2', 'a');
    expect(await driver.usage('a-view2')).toEqual({ size: 0, inodes: 0 });
    await driver.remove('a-view2');
  });

  it('refuses to remove a snapshot with children (EBUSY), then removes it and its subvolume', async () => {
    const busy = await failure(driver.remove('b'));
    expect(busy).toBeInstanceOf(GraphDriverError);
    expect((busy as GraphDriverError).code).toBe('EBUSY');
    const d = await dirOf('d');
    await driver.remove('d');
    expect(await failure(readdir(d))).toMatchObject({ code: 'ENOENT' });
    const missing = await failure(driver.stat('d'));
    expect((missing as GraphDriverError).code).toBe('ENOENT');
    const b = await dirOf('b');
    await driver.remove('b');
    expect(await failure(readdir(b))).toMatchObject({ code: 'ENOENT' });
    expect(subvolumes(mnt)).toEqual([`graph/btrfs/subvolumes/${path.basename(await dirOf('a'))}`]);
  });

  it('repair removes an active snapshot whose owner process is gone, and storage no record names', async () => {
    const dead = spawnSync('true').pid!;
    await driver.prepare('orphan', 'a', { labels: { [OWNER_PID_LABEL]: String(dead) } });
    await driver.prepare('mine', 'a', { labels: { [OWNER_PID_LABEL]: String(process.pid) } });
    const orphan = await dirOf('orphan');
    const stray = '0123456789abcdef0123456789abcdef';
    btrfsSubvolCreate(path.join(home, 'subvolumes'), stray);
    await driver.repair();
    const keys = (await driver.list()).map((s) => s.key).sort();
    expect(keys).toEqual(['a', 'mine']);
    expect(await failure(readdir(orphan))).toMatchObject({ code: 'ENOENT' });
    expect(await readdir(path.join(home, 'subvolumes'))).not.toContain(stray);
    expect(await readFile(path.join(await dirOf('mine'), 'file1'), 'utf8')).toBe('one');
    await driver.remove('mine');
  });

  it('runs a container on the mounts of a snapshot', async () => {
    const ws: Workspace = await workspace('gd-btrfs');
    try {
      await driver.prepare('rootfs-ingest');
      await driver.applyDiff('rootfs-ingest', execFileSync('tar', ['-C', ws.rootfs, '-c', '.'], { maxBuffer: 64 << 20 }));
      await driver.commit('rootfs', 'rootfs-ingest');
      const mounts: SnapshotMount[] = await driver.prepare('ctr', 'rootfs');
      const target = path.join(ws.dir, 'mnt');
      await mkdir(target);
      const spec = shSpec('echo hi > /written && cat /written', (s) => {
        s.root = { path: target };
      });
      const c = await Container.create({ id: ws.id('ctr'), bundle: ws.dir, spec, root: ws.stateRoot, stdio: ['ignore', 'pipe', 'pipe'], rootfsMounts: mounts });
      const out = collect(c.process.stdout);
      await c.start();
      expect((await c.wait()).exitCode).toBe(0);
      await c.delete();
      expect(await out).toBe('hi\n');
      expect(await readFile(path.join(await dirOf('ctr'), 'written'), 'utf8')).toBe('hi\n');
      await expect(readFile(path.join(await dirOf('rootfs'), 'written'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(home);
      await driver.remove('ctr');
      await driver.remove('rootfs');
    } finally {
      await ws.cleanup();
    }
  });

  it('is opened by name, is the default on btrfs, and leaves no subvolume once all is removed', async () => {
    const root = path.join(mnt, 'graph');
    expect(await defaultGraphDriver(root)).toBe('btrfs');
    const again = await openGraphDriver('btrfs', root);
    expect(again.name).toBe('btrfs');
    expect((await again.list()).map((s) => s.key)).toEqual(['a']);
    await again.remove('a');
    expect(subvolumes(mnt)).toEqual([]);
    expect(await readdir(path.join(home, 'subvolumes'))).toEqual([]);
  });

  it('refuses a home that is not on btrfs (ENOTSUP)', async () => {
    const plain = path.join(tmp, 'plain');
    expect((await statfs(tmp)).type).not.toBe(0x9123683e);
    const err = await failure(BtrfsDriver.open(plain));
    expect(err).toBeInstanceOf(GraphDriverError);
    expect((err as GraphDriverError).code).toBe('ENOTSUP');
    expect((err as GraphDriverError).message).toMatch(/not on a btrfs file system/);
  });
});
