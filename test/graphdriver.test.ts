// The overlay2 and vfs graph drivers against the real kernel: snapshots on parents, layer tars
// in (whiteouts, opaque directories) and out (diff), containers whose rootfs is assembled from
// a snapshot's mounts inside their own mount namespace (never in the host's mount table),
// a 130-layer overlay chain, read-only views, the children rule, usage and crash repair.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { closeFd, getxattrIn, openRoot, setxattrIn } from '../src/native/index.js';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Container, GraphDriverError, OWNER_PID_LABEL, openGraphDriver, type GraphDriver, type SnapshotMount } from '../src/index.js';
import { collect, shSpec, workspace, type Workspace } from './support.js';
import { makeTar, tarNames } from './tar-fixtures.js';



/** Lines of the host's mount table that mention `dir`. */
function hostMountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(dir));
}

/** Runs `script` in a container whose rootfs is assembled from `mounts`. */
async function runOn(ws: Workspace, mounts: SnapshotMount[], script: string, name: string): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  const target = path.join(ws.dir, `mnt-${name}`);
  await mkdir(target, { recursive: true });
  const spec = shSpec(script, (s) => {
    s.root = { path: target };
  });
  const c = await Container.create({ id: ws.id(name), bundle: ws.dir, spec, root: ws.stateRoot, stdio: ['ignore', 'pipe', 'pipe'], rootfsMounts: mounts });
  const out = collect(c.process.stdout);
  const err = collect(c.process.stderr);
  await c.start();
  const r = await c.wait();
  await c.delete();
  return { exitCode: r.exitCode, stdout: await out, stderr: await err };
}

for (const driverName of ['overlay2', 'vfs'] as const) {
  describe(`${driverName} driver`, () => {
    let ws: Workspace;
    let driver: GraphDriver;
    let home: string;

    beforeAll(async () => {
      ws = await workspace(`gd-${driverName}`);
      home = path.join(ws.dir, 'graph');
      driver = await openGraphDriver(driverName, home);
      // The base layer: the busybox rootfs plus files later layers remove or hide.
      await writeFile(path.join(ws.rootfs, 'etc', 'gone'), 'x');
      await mkdir(path.join(ws.rootfs, 'opq'));
      await writeFile(path.join(ws.rootfs, 'opq', 'old'), 'old');
      const baseTar = execFileSync('tar', ['-C', ws.rootfs, '-c', '.'], { maxBuffer: 64 << 20 });
      await driver.prepare('base-ingest');
      await driver.applyDiff('base-ingest', baseTar);
      await driver.commit('base', 'base-ingest');
      await driver.prepare('l2-ingest', 'base');
      const l2 = await makeTar([
        { name: 'hello', content: 'hello from l2\n' },
        { name: 'etc/.wh.gone' },
        { name: 'opq', type: 'directory' },
        { name: 'opq/.wh..wh..opq' },
        { name: 'opq/new', content: 'new' },
      ]);
      await driver.applyDiff('l2-ingest', l2);
      await driver.commit('l2', 'l2-ingest');
    }, 60_000);

    afterAll(async () => {
      await ws.cleanup();
      expect(hostMountsUnder(ws.dir)).toEqual([]);
    });

    it('assembles a container rootfs from the layers, with whiteouts and opaque directories applied', async () => {
      const mounts = await driver.prepare('ctr-1', 'l2');
      const r = await runOn(ws, mounts, 'cat /hello; ls /etc/gone 2>&1; ls /opq', 'layers');
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('hello from l2');
      expect(r.stdout).toMatch(/\/etc\/gone: No such file or directory/);
      expect(r.stdout.trim().split('\n').pop()).toBe('new');
      expect(hostMountsUnder(home)).toEqual([]);
      await driver.remove('ctr-1');
    });

    it("turns a container's changes back into a layer tar with whiteouts", async () => {
      const mounts = await driver.prepare('ctr-2', 'l2');
      const r = await runOn(ws, mounts, 'echo data > /added && rm /hello && rm -r /opq', 'changes');
      expect(r.exitCode).toBe(0);
      const names = await tarNames(driver.diff('ctr-2'));
      expect(names).toContain('added');
      expect(names).toContain('.wh.hello');
      expect(names).toContain('.wh.opq');
      expect(names).not.toContain('bin/busybox');
      // The diff applies onto the parent and gives the container's tree.
      await driver.prepare('ctr-2-commit', 'l2');
      const chunks: Buffer[] = [];
      for await (const c of driver.diff('ctr-2')) chunks.push(c as Buffer);
      const diff = Buffer.concat(chunks);
      await driver.applyDiff('ctr-2-commit', diff);
      await driver.commit('l3', 'ctr-2-commit');
      const view = await driver.view('l3-view', 'l3');
      const check = await runOn(ws, view, 'cat /added; ls /hello /opq 2>&1 | wc -l', 'applied');
      expect(check.stdout.split('\n')[0]).toBe('data');
      expect(check.stdout.split('\n')[1]).toBe('2');
      await driver.remove('l3-view');
      await driver.remove('l3');
      await driver.remove('ctr-2');
    });

    it("carries security.capability (binary) through a diff, also on a long path, and as Docker's layers no other xattr", async () => {
      await driver.prepare('xattr-src', 'l2');
      const top = (await driver.layerDirs('xattr-src')).dirs[0]!;
      const cap = Buffer.from([1, 0, 0, 2, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // cap_setuid: a 0x80 byte
      const long = `${'d'.repeat(60)}/${'e'.repeat(60)}`;
      await mkdir(path.join(top, long), { recursive: true });
      await writeFile(path.join(top, 'capped'), 'x');
      await writeFile(path.join(top, long, 'noted'), 'y');
      const root = openRoot(top);
      try {
        setxattrIn(root, 'capped', 'security.capability', cap);
        setxattrIn(root, `${long}/noted`, 'security.capability', cap);
        setxattrIn(root, 'capped', 'user.note', Buffer.from('not carried'));
      } finally {
        closeFd(root);
      }
      const chunks: Buffer[] = [];
      for await (const c of driver.diff('xattr-src')) chunks.push(c as Buffer);
      await driver.prepare('xattr-dst', 'l2');
      await driver.applyDiff('xattr-dst', Buffer.concat(chunks));
      const dst = (await driver.layerDirs('xattr-dst')).dirs[0]!;
      const r2 = openRoot(dst);
      try {
        expect(getxattrIn(r2, 'capped', 'security.capability').equals(cap)).toBe(true);
        expect(getxattrIn(r2, `${long}/noted`, 'security.capability').equals(cap)).toBe(true);
        expect(() => getxattrIn(r2, 'capped', 'user.note')).toThrow(/ENODATA/);
      } finally {
        closeFd(r2);
      }
      await driver.remove('xattr-dst');
      await driver.remove('xattr-src');
    });

    it('gives read-only views', async () => {
      const mounts = await driver.view('view-1', 'l2');
      const r = await runOn(ws, mounts, 'touch /x 2>&1; echo rc=$?', 'view');
      expect(r.stdout).toMatch(/Read-only file system/);
      expect(r.stdout).toContain('rc=1');
      await driver.remove('view-1');
    });

    it('refuses to remove a snapshot with children, and to use an active one as a parent', async () => {
      await driver.prepare('act', 'l2');
      const busy = await driver.remove('l2').catch((e: unknown) => e);
      expect(busy).toBeInstanceOf(GraphDriverError);
      expect((busy as GraphDriverError).code).toBe('EBUSY');
      const kind = await driver.prepare('child', 'act').catch((e: unknown) => e);
      expect((kind as GraphDriverError).code).toBe('EINVALIDKIND');
      const dup = await driver.prepare('act', 'l2').catch((e: unknown) => e);
      expect((dup as GraphDriverError).code).toBe('EEXIST');
      const missing = await driver.stat('nosuch').catch((e: unknown) => e);
      expect((missing as GraphDriverError).code).toBe('ENOENT');
      const badKey = await driver.prepare('../x').catch((e: unknown) => e);
      expect((badKey as GraphDriverError).code).toBe('EINVALIDKEY');
      await driver.remove('act');
    });

    it(driverName === 'overlay2' ? 'commits a snapshot applied on no parent onto one (rebase)' : 'refuses to commit a snapshot onto another parent (its content is a copy of its own)', async () => {
      expect(driver.canRebase === true).toBe(driverName === 'overlay2');
      await driver.prepare('rb-ingest');
      await driver.applyDiff('rb-ingest', await makeTar([{ name: 'rebased', content: 'on l2\n' }, { name: '.wh.hello' }]));
      if (driverName !== 'overlay2') {
        await expect(driver.commit('rb', 'rb-ingest', { parent: 'l2' })).rejects.toMatchObject({ name: 'GraphDriverError', code: 'ENOTSUP', path: 'rb-ingest' });
        expect((await driver.stat('rb-ingest')).kind).toBe('active');
        await driver.remove('rb-ingest');
        return;
      }
      await expect(driver.commit('rb', 'rb-ingest', { parent: 'no-such' })).rejects.toMatchObject({ code: 'ENOENT' });
      await driver.commit('rb', 'rb-ingest', { parent: 'l2' });
      expect(await driver.stat('rb')).toMatchObject({ kind: 'committed', parent: 'l2' });
      expect((await driver.remove('l2').catch((e: unknown) => e)) as GraphDriverError).toMatchObject({ code: 'EBUSY' });
      const mounts = await driver.prepare('rb-ctr', 'rb');
      const r = await runOn(ws, mounts, 'cat /rebased; ls /hello 2>&1; ls /opq; ls /bin/busybox', 'rebased');
      expect(r.stdout).toMatch(/^on l2\n.*\/hello: No such file or directory\nnew\n\/bin\/busybox\n$/s);
      await driver.remove('rb-ctr');
      await driver.remove('rb');
    });

    it('reports usage of a snapshot', async () => {
      const u = await driver.usage('l2');
      expect(u.inodes).toBeGreaterThanOrEqual(3);
      expect(u.size).toBeGreaterThan(0);
    });

    it('repair removes an active snapshot whose owner process is gone, and keeps the rest', async () => {
      const dead = spawnSync('true').pid!;
      await driver.prepare('orphan', 'l2', { labels: { [OWNER_PID_LABEL]: String(dead) } });
      await driver.prepare('mine', 'l2', { labels: { [OWNER_PID_LABEL]: String(process.pid) } });
      await driver.repair();
      const keys = (await driver.list()).map((s) => s.key).sort();
      expect(keys).toContain('mine');
      expect(keys).not.toContain('orphan');
      await driver.remove('mine');
    });

    it(`runs a container on a ${driverName === 'overlay2' ? 130 : 12}-layer chain`, async () => {
      const depth = driverName === 'overlay2' ? 130 : 12;
      let parent = 'base';
      for (let i = 0; i < depth; i++) {
        await driver.prepare(`deep-${i}-ingest`, parent);
        await driver.applyDiff(`deep-${i}-ingest`, await makeTar([{ name: 'deep', type: 'directory' }, { name: `deep/f${i}`, content: `${i}` }]));
        await driver.commit(`deep-${i}`, `deep-${i}-ingest`);
        parent = `deep-${i}`;
      }
      const mounts = await driver.prepare('deep-ctr', parent);
      const r = await runOn(ws, mounts, 'ls /deep | wc -l', 'deep');
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe(String(depth));
      await driver.remove('deep-ctr');
      for (let i = depth - 1; i >= 0; i--) await driver.remove(`deep-${i}`);
      await rm(path.join(ws.dir, 'mnt-deep'), { recursive: true, force: true });
    }, 120_000);
  });
}
