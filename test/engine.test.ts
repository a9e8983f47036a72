// The engine's first slice against the real kernel: an image made from the busybox rootfs,
// containers run from it with the image config's Entrypoint/Cmd/Env/WorkingDir/User and the
// caller's overrides, image objects (inspect, tag, untag, remove refused while in use, prune),
// commit and export, import, and crash repair after `kill -9` of a writer in another process.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthError, chainIDs, createBusyboxRootfs, Engine, EngineError, ImageError, ImageReferenceError, type EngineContainer } from '../src/index.js';
import { collect, removeDefaultNetwork, removeIdleCgroupParents } from './support.js';
import { makeTar, tarNames } from './tar-fixtures.js';

const distIndex = fileURLToPath(new URL('../dist/index.js', import.meta.url));


/** Runs a container to its end and returns its output. */
async function runToEnd(engine: Engine, image: string, options: Parameters<Engine['run']>[1] = {}): Promise<{ c: EngineContainer; exitCode: number | null; stdout: string; stderr: string }> {
  const c = await engine.create(image, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = collect(c.process.stdout);
  const err = collect(c.process.stderr);
  await c.start();
  const r = await c.wait();
  return { c, exitCode: r.exitCode, stdout: await out, stderr: await err };
}

describe('engine', () => {
  let dir: string;
  let root: string;
  let engine: Engine;
  let rootfsTar: Buffer;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-engine-'));
    root = path.join(dir, 'root');
    const rootfs = await createBusyboxRootfs(path.join(dir, 'rootfs'));
    await writeFile(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\n');
    await writeFile(path.join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\napp:x:1000:\nextra:x:2000:app\n');
    rootfsTar = execFileSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 });
    engine = await Engine.open({ root, storageDriver: 'overlay2' });
    await engine.import(rootfsTar, { reference: 'busybox:test', config: { Cmd: ['sh', '-c', 'echo default cmd'], Env: ['FROM_IMAGE=yes'], WorkingDir: '/tmp' } });
  }, 60_000);

  afterAll(async () => {
    for (const c of await engine.containers()) await c.remove({ force: true });
    await removeDefaultNetwork(engine);
    await rm(dir, { recursive: true, force: true });
    removeIdleCgroupParents();
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
  });

  it('runs the image config as Docker would, and the caller overrides it', async () => {
    const byImage = await runToEnd(engine, 'busybox:test');
    expect(byImage.stdout).toBe('default cmd\n');
    const over = await runToEnd(engine, 'busybox:test', { cmd: ['sh', '-c', 'echo $FROM_IMAGE $MINE $HOME; pwd; id -u; id -g; id -G; hostname'], env: ['MINE=1'], user: 'app' });
    expect(over.stderr).toBe('');
    expect(over.stdout.split('\n')).toEqual(['yes 1 /home/app', '/tmp', '1000', '1000', '1000 2000', over.c.id.slice(0, 12), '']);
    const uidgid = await runToEnd(engine, 'busybox:test', { cmd: ['sh', '-c', 'id -u; id -g'], user: '123:456', workdir: '/' });
    expect(uidgid.stdout).toBe('123\n456\n');
    const entry = await runToEnd(engine, 'busybox:test', { entrypoint: ['echo', 'via entrypoint'] });
    expect(entry.stdout).toBe('via entrypoint\n');
    const noUser = await engine.create('busybox:test', { user: 'nosuchuser' }).catch((e: unknown) => e);
    expect(noUser).toBeInstanceOf(EngineError);
    expect((noUser as EngineError).code).toBe('ENOUSER');
    for (const r of [byImage, over, uidgid, entry]) await r.c.remove();
  });

  it('gives bind mounts, named volumes seeded from the image, limits, capabilities and --init', async () => {
    const hostDir = path.join(dir, 'shared');
    await rm(hostDir, { recursive: true, force: true });
    execFileSync('mkdir', ['-p', hostDir]);
    await writeFile(path.join(hostDir, 'from-host'), 'host\n');
    const mounts = [
      { type: 'bind' as const, source: hostDir, target: '/rw' },
      { type: 'bind' as const, source: hostDir, target: '/ro', readOnly: true },
      { type: 'volume' as const, source: 'etcvol', target: '/etc' },
    ];
    const first = await runToEnd(engine, 'busybox:test', {
      mounts,
      cmd: ['sh', '-c', 'cat /rw/from-host; echo c > /rw/from-ctr; touch /ro/x 2>&1 | grep -c Read-only; grep -c app /etc/passwd; echo kept > /etc/kept'],
    });
    expect(first.stderr).toBe('');
    expect(first.stdout).toBe('host\n1\n1\n');
    expect(readFileSync(path.join(hostDir, 'from-ctr'), 'utf8')).toBe('c\n');
    const second = await runToEnd(engine, 'busybox:test', { mounts: [mounts[2]!], cmd: ['cat', '/etc/kept'] });
    expect(second.stdout).toBe('kept\n');
    expect(await engine.volumes.list()).toContain('etcvol');
    const caps = await runToEnd(engine, 'busybox:test', { cmd: ['sh', '-c', 'grep CapEff /proc/self/status'] });
    expect(caps.stdout).toMatch(/CapEff:\s+00000000a80425fb/);
    const none = await runToEnd(engine, 'busybox:test', { capDrop: ['ALL'], capAdd: ['net_admin'], cmd: ['sh', '-c', 'grep CapEff /proc/self/status'] });
    expect(none.stdout).toMatch(/CapEff:\s+0000000000001000/);
    const pids = await runToEnd(engine, 'busybox:test', { resources: { pidsLimit: 3, memory: 64 * 2 ** 20, cpus: 0.5 }, cmd: ['sh', '-c', 'for i in 1 2 3 4 5; do sleep 1 & done 2>&1; wait'] });
    expect(pids.stdout + pids.stderr).toMatch(/can't fork|Resource temporarily unavailable/);
    const init = await runToEnd(engine, 'busybox:test', { init: true, cmd: ['sh', '-c', 'tr "\\0" " " < /proc/1/cmdline; echo; echo $$'] });
    expect(init.stdout.split('\n')[0]).toContain('/sbin/docker-init -- sh -c');
    expect(init.stdout.split('\n')[1]).not.toBe('1');
    const badCap = await engine.create('busybox:test', { capAdd: ['CAP_NOPE'] }).catch((e: unknown) => e);
    expect((badCap as EngineError).code).toBe('EINVALIDSPEC');
    const badMount = await engine.create('busybox:test', { mounts: [{ type: 'bind', source: 'relative', target: '/x' }] }).catch((e: unknown) => e);
    expect((badMount as EngineError).code).toBe('EINVALIDSPEC');
    for (const r of [first, second, caps, none, pids, init]) await r.c.remove();
    await engine.volumes.remove('etcvol');
  });

  it("filters system calls with Docker's default seccomp profile, widened by capAdd, or not at all when unconfined", async () => {
    const probe = 'grep Seccomp: /proc/self/status; busybox unshare -U true 2>&1; echo "unshare $?"';
    const byDefault = await runToEnd(engine, 'busybox:test', { cmd: ['sh', '-c', probe] });
    expect(byDefault.stdout).toMatch(/^Seccomp:\t2\n/);
    expect(byDefault.c.record.Spec.linux!.maskedPaths).toEqual(expect.arrayContaining(['/proc/kcore', '/proc/keys', '/sys/firmware', '/sys/devices/virtual/powercap'])); // Docker's
    expect(byDefault.stdout).toMatch(/Operation not permitted\nunshare 1\n$/); // a user namespace needs CAP_SYS_ADMIN here
    const asUser = await runToEnd(engine, 'busybox:test', { cmd: ['sh', '-c', 'id -u; grep Seccomp: /proc/self/status'], user: '123:456' });
    expect(asUser.stdout).toBe('123\nSeccomp:\t2\n'); // installed before the user switch, which it allows
    const admin = await runToEnd(engine, 'busybox:test', { cmd: ['sh', '-c', probe], capAdd: ['SYS_ADMIN'] });
    expect(admin.stdout).toBe('Seccomp:\t2\nunshare 0\n');
    const unconfined = await runToEnd(engine, 'busybox:test', { cmd: ['sh', '-c', probe], seccomp: 'unconfined' });
    expect(unconfined.stdout).toBe('Seccomp:\t0\nunshare 0\n');
    const own = await runToEnd(engine, 'busybox:test', {
      cmd: ['sh', '-c', 'mkdir /made 2>&1; echo "mkdir $?"'],
      seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] },
    });
    expect(own.stdout).toMatch(/Permission denied\nmkdir 1\n$/);
    for (const r of [byDefault, asUser, admin, unconfined, own]) await r.c.remove();
    const bad = await engine.create('busybox:test', { seccomp: { defaultAction: 'SCMP_ACT_NOPE' } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(BerthError);
    expect((bad as BerthError).message).toMatch(/linux\.seccomp\.defaultAction: unknown seccomp action "SCMP_ACT_NOPE"/);
    // A Docker-format profile would lose its rules' conditions as OCI: refused, naming the key.
    const dockerFormat = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['unshare'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } }] };
    await expect(engine.create('busybox:test', { seccomp: dockerFormat as never })).rejects.toMatchObject({ name: 'EngineError', code: 'EINVALIDSPEC', path: 'seccomp.syscalls[0].includes' });
    await expect(engine.create('busybox:test', { seccomp: { defaultAction: 'SCMP_ACT_ALLOW', archMap: [] } as never })).rejects.toThrow(/^seccomp\.archMap: unknown key \(a Docker-format profile/);
    // no_new_privs on request (Docker's --security-opt no-new-privileges), off by default.
    const nnp = await runToEnd(engine, 'busybox:test', { cmd: ['grep', 'NoNewPrivs:', '/proc/self/status'], noNewPrivileges: true });
    expect(nnp.stdout).toBe('NoNewPrivs:\t1\n');
    const plain = await runToEnd(engine, 'busybox:test', { cmd: ['grep', 'NoNewPrivs:', '/proc/self/status'] });
    expect(plain.stdout).toBe('NoNewPrivs:\t0\n');
    for (const r of [nnp, plain]) await r.c.remove();
    expect((await engine.containers()).map((c) => c.name)).toEqual([]);
  });

  it('lets any user bind ports below 1024 and ping in a network namespace of its own, as Docker does', async () => {
    const r = await runToEnd(engine, 'busybox:test', {
      network: 'none', user: '123:123', cmd: ['sh', '-c', 'cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range; httpd -p 80 -h / && echo bound 80'],
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('0\n0\t2147483647\nbound 80\n');
    await r.c.remove();
  });

  it('names images as Docker does, and refuses what cannot be found', async () => {
    const img = await engine.images.get('busybox:test');
    const info = await img.inspect();
    expect(info.RepoTags).toEqual(['busybox:test']);
    expect(info.Size).toBeGreaterThan(1_000_000);
    expect(info.RootFS.Layers).toHaveLength(1);
    expect(info.History).toHaveLength(1);
    expect((await engine.images.get(img.shortId)).id).toBe(img.id);
    expect((await engine.images.get('docker.io/library/busybox:test')).id).toBe(img.id);
    const missing = await engine.images.get('nosuch:latest').catch((e: unknown) => e);
    expect((missing as ImageError).code).toBe('ENOENT');
    const bad = await engine.run('Bad/Name').catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ImageReferenceError);
  });

  it('tags, untags, refuses to remove an image in use, and removes it and its layers when free', async () => {
    await engine.images.tag('busybox:test', 'other/name:v1');
    const img = await engine.images.get('other/name:v1');
    expect((await img.inspect()).RepoTags.sort()).toEqual(['busybox:test', 'other/name:v1']);
    // By name, with another name left: only the name goes.
    expect(await engine.images.remove('other/name:v1')).toEqual({ untagged: ['other/name:v1'], deleted: [] });
    // A copy to delete, under its own name, with a container on it.
    await engine.import(rootfsTar, { reference: 'doomed:1', config: { Cmd: ['true'] } });
    const doomed = await engine.images.get('doomed:1');
    expect(doomed.id).not.toBe(img.id); // a different created time, so a different config
    const c = await engine.create('doomed:1');
    const inUse = await engine.images.remove('doomed:1').catch((e: unknown) => e);
    expect((inUse as ImageError).code).toBe('ECONFLICT');
    await c.remove();
    const removed = await engine.images.remove('doomed:1');
    expect(removed.untagged).toEqual(['doomed:1']);
    expect(removed.deleted).toContain(doomed.id);
    // The layer is shared with busybox:test (same DiffID, so the same chainID): it stays.
    expect(await engine.images.layers.list()).toHaveLength(1);
  });

  it('keeps nothing of a rejected layer, and prunes images nothing names', async () => {
    const before = { layers: await engine.images.layers.list(), snaps: await engine.driver.list() };
    const hostile = await makeTar([{ name: 'ok', content: 'ok' }, { name: 'a/.wh..' }]);
    const bad = await engine.images.layers.register(hostile, undefined).catch((e: unknown) => e);
    expect((bad as { code?: string }).code).toBe('EBADWHITEOUT');
    expect(await engine.images.layers.list()).toEqual(before.layers);
    expect(await engine.driver.list()).toEqual(before.snaps);
    // An untagged image goes with prune; its layer and config blob go with it.
    const img = await engine.import(await makeTar([{ name: 'pruned', content: 'pruned' }]), {});
    const layers = await img.layers();
    expect(layers.map((l) => l.diffID)).toEqual((await img.inspect()).RootFS.Layers);
    const pruned = await engine.images.prune();
    expect(pruned.deleted).toContain(img.id);
    expect(pruned.deleted).toContain(layers[0]!.chainID);
    expect(await engine.images.content.has(img.id)).toBe(false);
    expect((await engine.images.get('busybox:test')).id).toBeTruthy();
  });

  it('registers a stack of layers at once on worker threads, committed in order, and keeps no snapshot of a failed one', async () => {
    const tars = [
      await makeTar([{ name: 'stack', type: 'directory' }, { name: 'stack/a', content: 'a' }]),
      await makeTar([{ name: 'stack/b', content: 'b' }, { name: 'stack/.wh.a' }]),
      await makeTar([{ name: 'stack/c', content: 'c' }]),
    ];
    const file = path.join(dir, 'stack-blobs');
    await writeFile(file, Buffer.concat(tars));
    const ranges = tars.map((t, i) => ({ file, start: tars.slice(0, i).reduce((a, x) => a + x.length, 0), length: t.length }));
    const diffIDs = tars.map((t) => `sha256:${createHash('sha256').update(t).digest('hex')}` as const);
    const layers = engine.images.layers;
    const recs = await layers.registerStack(ranges.map((source, i) => ({ source, expectedDiffID: diffIDs[i]! })));
    expect(recs.map((r) => r.applied)).toEqual([true, true, true]);
    expect(recs.map((r) => r.chainID)).toEqual(chainIDs(diffIDs));
    expect(recs.map((r) => r.parent)).toEqual([undefined, recs[0]!.chainID, recs[1]!.chainID]);
    for (const r of recs) expect((await engine.driver.stat(r.chainID)).parent).toBe(r.parent);
    const dirs = (await engine.driver.layerDirs(recs[2]!.chainID)).dirs;
    expect(dirs.map((d) => readdirSync(path.join(d, 'stack')).sort())).toEqual([['c'], ['a', 'b'], ['a']]); // 'a' in the middle: its whiteout
    // Again: all stored already, nothing read.
    expect((await layers.registerStack(ranges.map((source, i) => ({ source, expectedDiffID: diffIDs[i]! })))).map((r) => r.applied)).toEqual([false, false, false]);
    for (const r of [...recs].reverse()) await layers.remove(r.chainID);
    // The middle layer of a new stack is hostile: its error, the bottom one committed, no ingest snapshot left.
    const hostile = await makeTar([{ name: 'x', content: 'x' }, { name: 'x/.wh..' }]);
    await writeFile(file, Buffer.concat([tars[0]!, hostile, tars[2]!]));
    const bad = [{ ...ranges[0]! }, { file, start: tars[0]!.length, length: hostile.length }, { file, start: tars[0]!.length + hostile.length, length: tars[2]!.length }];
    const err = await layers.registerStack(bad.map((source, i) => ({ source, expectedDiffID: i === 1 ? `sha256:${createHash('sha256').update(hostile).digest('hex')}` as const : diffIDs[i]! }))).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'LayerError', code: 'EBADWHITEOUT' });
    expect((await engine.driver.list()).filter((s) => s.key.startsWith('ingest-'))).toEqual([]);
    expect((await layers.list()).map((l) => l.chainID)).toContain(recs[0]!.chainID);
    await layers.remove(recs[0]!.chainID);
    // A source still being fetched fails: its error, at once, though a later one never arrives
    // (the rest is stopped, not waited for), and no unhandled rejection.
    await writeFile(file, Buffer.concat(tars));
    const fetching = layers.registerStack([
      { source: ranges[0]!, expectedDiffID: diffIDs[0]! },
      { source: Promise.reject(new Error('download failed')), expectedDiffID: diffIDs[1]! },
      { source: new Promise<never>(() => undefined), expectedDiffID: diffIDs[2]! },
    ]);
    await expect(fetching).rejects.toThrow('download failed');
    expect((await engine.driver.list()).filter((s) => s.key.startsWith('ingest-'))).toEqual([]);
    await layers.remove(recs[0]!.chainID);
  });

  it('commits a container as a new image with its changes and whiteouts, and exports its tree', async () => {
    const r = await runToEnd(engine, 'busybox:test', { cmd: ['sh', '-c', 'echo committed > /data && rm /bin/ls'] });
    expect(r.exitCode).toBe(0);
    const exported = await tarNames(await engine.export(r.c.id));
    expect(exported).toContain('data');
    expect(exported).toContain('bin/busybox');
    expect(exported).not.toContain('bin/ls');
    const img = await engine.commit(r.c.name, { reference: 'committed:1', comment: 'test commit' });
    const info = await img.inspect();
    expect(info.RootFS.Layers).toHaveLength(2);
    expect(info.History.at(-1)?.comment).toBe('test commit');
    const check = await runToEnd(engine, 'committed:1', { cmd: ['sh', '-c', 'cat /data; ls /bin/ls 2>&1 || true'] });
    expect(check.stdout).toMatch(/^committed\n.*No such file/);
    await check.c.remove();
    await r.c.remove();
    await engine.images.remove('committed:1');
  });

  it('finds containers by name and id prefix, and refuses duplicate names and removing a running one', async () => {
    const c = await engine.run('busybox:test', { name: 'sleeper', cmd: ['sleep', '30'] });
    expect((await engine.container('sleeper')).id).toBe(c.id);
    expect((await engine.container(c.id.slice(0, 10))).name).toBe('sleeper');
    const dup = await engine.create('busybox:test', { name: 'sleeper' }).catch((e: unknown) => e);
    expect((dup as EngineError).code).toBe('EEXIST');
    const running = await c.remove().catch((e: unknown) => e);
    expect((running as EngineError).code).toBe('ESTATE');
    expect((await c.inspect()).State.Running).toBe(true);
    await c.remove({ force: true });
    const gone = await engine.container('sleeper').catch((e: unknown) => e);
    expect((gone as EngineError).code).toBe('ENOENT');
  });

  it('repairs the root after kill -9 of a process in the middle of writing a layer', async () => {
    // A layer big enough to take a while: 64 MiB of random data.
    const big = path.join(dir, 'big.tar');
    const payload = path.join(dir, 'payload');
    await writeFile(payload, randomBytes(64 << 20));
    execFileSync('tar', ['-C', dir, '-cf', big, 'payload']);
    const script = `
      import { Engine } from ${JSON.stringify(distIndex)};
      import { createReadStream } from 'node:fs';
      const engine = await Engine.open({ root: ${JSON.stringify(root)} });
      process.stdout.write('open\\n');
      await engine.import(createReadStream(${JSON.stringify(big)}, { highWaterMark: 65536 }), { reference: 'half:1' });
      process.stdout.write('done\\n');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    // Wait until the ingest snapshot exists and has content, then kill.
    const snapshots = path.join(root, 'overlay2', 'snapshots');
    for (let i = 0; i < 200 && !readdirSync(snapshots).some((n) => n.startsWith('ingest-')); i++) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(readdirSync(snapshots).some((n) => n.startsWith('ingest-'))).toBe(true);
    const before = (await engine.images.layers.list()).length;
    const reopened = await Engine.open({ root });
    expect(readdirSync(snapshots).some((n) => n.startsWith('ingest-') || n.startsWith('.tmp-'))).toBe(false);
    expect((await reopened.images.layers.list()).length).toBe(before);
    const missing = await reopened.images.get('half:1').catch((e: unknown) => e);
    expect((missing as ImageError).code).toBe('ENOENT');
    // Storage dirs are exactly those the records name.
    const ids = readdirSync(path.join(root, 'overlay2')).filter((n) => /^[0-9a-f]{32}$/.test(n));
    expect(ids.length).toBe((await reopened.driver.list()).length);
    expect(existsSync(path.join(root, 'image', 'references.json'))).toBe(true);
  }, 60_000);

  it('lets two processes import the same layer at once into one root', async () => {
    const tarFile = path.join(dir, 'same.tar');
    await writeFile(tarFile, rootfsTar);
    const script = (ref: string): string => `
      import { Engine } from ${JSON.stringify(distIndex)};
      import { readFileSync } from 'node:fs';
      const engine = await Engine.open({ root: ${JSON.stringify(root)} });
      const img = await engine.import(readFileSync(${JSON.stringify(tarFile)}), { reference: '${ref}' });
      process.stdout.write(JSON.stringify((await img.inspect()).RootFS.Layers));
    `;
    const runChild = (ref: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script(ref)], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(err))));
      });
    const [a, b] = await Promise.all([runChild('para:a'), runChild('para:b')]);
    expect(a).toBe(b);
    expect(await engine.images.layers.list()).toHaveLength(1);
    await engine.images.remove('para:a');
    await engine.images.remove('para:b');
  }, 60_000);
});
