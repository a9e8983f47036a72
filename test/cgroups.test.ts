// Cgroups on the real kernel (this machine is hybrid: v1 controllers plus a controller-less
// cgroup2 at /sys/fs/cgroup/unified): limits that bite (OOM, pids, cpu quota), freeze,
// devices on v1 and through eBPF on v2, stats, update, and the bad-input paths. Every cgroup a
// test makes has a name of its own (with process.pid) and is removed by the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/runtime.js';
import {
  Cgroup, CgroupLimitError, cgroupHost, ConfigError, Container, SystemdCgroupError, type Spec,
} from '../src/index.js';
import { queryDeviceFilters } from '../src/native/index.js';
import { collect, run, shSpec, workspace, type Workspace } from './support.js';

let ws: Workspace;
beforeAll(async () => { ws = await workspace('cg'); });
afterAll(async () => { await ws.cleanup(); });

const host = cgroupHost();
const tag = `berth-test-${process.pid}`;
const M = 1 << 20;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** True when the cgroup2 mount offers every one of `controllers`. */
function v2Offers(...controllers: string[]): boolean {
  if (!host.unified) return false;
  const have = readFileSync(path.join(host.unified.mountPoint, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
  return controllers.every((c) => have.includes(c));
}
const V2_FULL = v2Offers('memory', 'cpu', 'pids');
if (!V2_FULL) {
  console.log(`cgroups.test: SKIPPING the v2 controller integration test: the cgroup2 mount ${host.unified?.mountPoint ?? '(none)'} offers only "${host.unified ? readFileSync(path.join(host.unified.mountPoint, 'cgroup.controllers'), 'utf8').trim() : ''}", not memory, cpu and pids (the v1→v2 mapping is covered by test/cgroups-unit.test.ts)`);
}

/** Creates, starts and returns a container running `script` with `edit` applied. */
async function started(name: string, script: string, edit?: (s: Spec) => void): Promise<Container> {
  const c = await Container.create({ id: ws.id(name), bundle: ws.dir, spec: shSpec(script, edit), root: ws.stateRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  await c.start();
  return c;
}

/** Every directory of a cgroup (to check nothing is left). */
function dirsOf(cg: Cgroup): string[] {
  return [...Object.values(cg.paths.v1 ?? {}), ...(cg.paths.unified ? [cg.paths.unified] : [])];
}

/** A shell child process that waits for a line on stdin before running `script` (so it can join a cgroup first). */
function gatedChild(script: string): { child: ChildProcess; go: () => void; output: Promise<string> } {
  const child = spawn('sh', ['-c', `read go; ${script}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  const output = Promise.all([collect(child.stdout), collect(child.stderr)]).then(([o, e]) => o + e);
  return { child, go: () => child.stdin!.write('\n'), output };
}

describe('the host and the container cgroup', () => {
  it('detects this hybrid host, and a container joins its cgroup in every hierarchy before its program runs', async () => {
    expect(host.mode).toBe('hybrid');
    const c = await Container.create({ id: ws.id('join'), bundle: ws.dir, spec: shSpec('cat /proc/self/cgroup'), root: ws.stateRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = collect(c.process.stdout);
    const cg = c.cgroup!;
    expect(cg.path).toBe(`/berth/${c.id}`);
    expect(cg.mode).toBe('hybrid');
    // Created, not started: the init is already in every hierarchy, the unified one included.
    for (const f of cg.procsFiles) expect((await fs.readFile(f, 'utf8')).trim().split('\n')).toContain(String(c.pid));
    await c.start();
    await c.wait();
    const lines = (await out).trim().split('\n');
    expect(lines.find((l) => l.startsWith('0::'))).toBe(`0::/berth/${c.id}`);
    expect(lines.find((l) => l.includes(':memory:'))).toMatch(new RegExp(`:memory:/berth/${c.id}$`));
    const dirs = dirsOf(cg);
    await c.delete();
    for (const d of dirs) expect(existsSync(d)).toBe(false);
  });

  it('honours nested and absolute cgroupsPaths, and removes the parents it made', async () => {
    for (const cgroupsPath of [`/${tag}/abs/c1`, `${tag}/rel/c2`]) {
      const c = await Container.create({ id: ws.id('nested'), bundle: ws.dir, spec: shSpec('true', (s) => { s.linux!.cgroupsPath = cgroupsPath; }), root: ws.stateRoot });
      const cg = c.cgroup!;
      const mem = cg.paths.v1!.memory!;
      const self = host.self.memory ?? '/';
      expect(mem).toBe(path.join('/sys/fs/cgroup/memory', cgroupsPath.startsWith('/') ? '' : self, cgroupsPath));
      expect((await fs.readFile(path.join(mem, 'cgroup.procs'), 'utf8')).trim()).toBe(String(c.pid));
      await c.start();
      await c.wait();
      await c.delete();
      for (const d of dirsOf(cg)) expect(existsSync(d)).toBe(false);
    }
    expect(existsSync(`/sys/fs/cgroup/memory/${tag}`)).toBe(false);
    expect(existsSync(path.join('/sys/fs/cgroup/memory', host.self.memory ?? '/', tag))).toBe(false);
    expect(existsSync(`/sys/fs/cgroup/unified/${tag}`)).toBe(false);
  });

  it('exec\'d processes join the container\'s cgroup', async () => {
    const c = await started('exec', 'sleep 30');
    try {
      const p = c.exec({ args: ['cat', '/proc/self/cgroup'], stdio: ['ignore', 'pipe', 'ignore'] });
      const out = collect(p.stdout);
      expect((await p).exitCode).toBe(0);
      expect((await out).split('\n').filter((l) => l.includes(`/berth/${c.id}`)).length).toBeGreaterThanOrEqual(host.v1.length + 1);
    } finally {
      await c.delete({ force: true });
    }
  });
});

describe('limits that bite', () => {
  it('a 32 MiB limit kills a process that allocates 64 MiB: exit 137, oomKilled, and the OOM event is seen', async () => {
    const c = await Container.create({
      id: ws.id('oom'), bundle: ws.dir, root: ws.stateRoot,
      spec: shSpec('x=$(head -c 67108864 /dev/zero | tr "\\0" a); echo ${#x}', (s) => { s.linux!.resources!.memory = { limit: 32 * M, swap: 32 * M }; }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const events: number[] = [];
    const watch = c.cgroup!.watchOom((e) => events.push(e.oomKill));
    try {
      const t0 = Date.now();
      await c.start();
      const r = await c.wait();
      const stats = await c.cgroup!.stats();
      for (let i = 0; i < 100 && events.length === 0; i++) await sleep(20);
      console.log(`OOM test: exit ${r.exitCode} (${r.signal}) after ${Date.now() - t0} ms, oomKilled ${r.oomKilled}, events ${events.length}, `
        + `peak ${(stats.memory.usage.max / M).toFixed(1)} MiB of ${stats.memory.usage.limit / M} MiB, failcnt ${stats.memory.usage.failcnt}+${stats.memory.swap.failcnt} (memsw), oom_kill ${stats.memory.oomKill}`);
      expect(r).toMatchObject({ exitCode: 137, signal: 'SIGKILL', oomKilled: true });
      expect(events.length).toBeGreaterThanOrEqual(1);
      expect(stats.memory.oomKill).toBeGreaterThanOrEqual(1);
      expect(stats.memory.usage.max).toBeLessThanOrEqual(32 * M);
    } finally {
      watch?.close();
      await c.delete({ force: true });
    }
  });

  it('a process that stays under its limit is not oomKilled', async () => {
    const r = await run(ws, shSpec('x=$(head -c 1048576 /dev/zero | tr "\\0" a); echo ${#x}', (s) => { s.linux!.resources!.memory = { limit: 32 * M }; }));
    expect(r).toMatchObject({ exitCode: 0, oomKilled: false, stdout: '1048576\n' });
  });

  it('pids.max 20: a fork loop stops at the limit and the container stays manageable', async () => {
    // ash gives up on a failed fork, so the loop runs in a subshell; the init then only execs.
    const c = await started('pids', '(i=0; while [ $i -lt 60 ]; do sleep 60 & i=$((i+1)); done) 2>/dev/null; echo forked; exec sleep 60', (s) => {
      s.linux!.resources!.pids = { limit: 20 };
    });
    const out = collect(c.process.stdout);
    try {
      const events = async (): Promise<number> => Number(/max (\d+)/.exec(await fs.readFile(path.join(c.cgroup!.paths.v1!.pids!, 'pids.events'), 'utf8'))![1]);
      for (let i = 0; i < 300 && (await events()) === 0; i++) await sleep(10);
      expect(await events()).toBeGreaterThan(0); // forks were refused at the limit
      const peak = Number(await fs.readFile(path.join(c.cgroup!.paths.v1!.pids!, 'pids.peak'), 'utf8'));
      expect(peak).toBe(20);
      await sleep(100);
      const stats = await c.stats();
      expect(stats.pids.limit).toBe(20);
      expect(stats.pids.current).toBeGreaterThanOrEqual(18); // the subshell has gone; its sleeps stay
      expect(stats.pids.current).toBeLessThanOrEqual(20);
      // Manageable: state, exec (a migration may exceed pids.max; the exec'd program does not fork), kill.
      expect((await c.state()).status).toBe('running');
      const p = c.exec({ args: ['echo', 'still here'], stdio: ['ignore', 'pipe', 'ignore'] });
      const said = collect(p.stdout);
      expect((await p).exitCode).toBe(0);
      expect(await said).toBe('still here\n');
    } finally {
      const dirs = dirsOf(c.cgroup!);
      await c.delete({ force: true });
      for (const d of dirs) expect(existsSync(d)).toBe(false);
    }
    expect(await out).toBe('forked\n');
  });

  it('a cpu quota of 0.2 CPU holds a busy loop near 20% (from cpuacct)', async () => {
    const c = await started('quota', 'while :; do :; done', (s) => { s.linux!.resources!.cpu = { quota: 20000, period: 100000 }; });
    try {
      await sleep(300);
      const a = await c.stats();
      const t0 = process.hrtime.bigint();
      await sleep(2000);
      const b = await c.stats();
      const wall = Number(process.hrtime.bigint() - t0);
      const share = (b.cpu.usage.total - a.cpu.usage.total) / wall;
      console.log(`cpu quota test: ${(share * 100).toFixed(1)}% of one CPU over ${(wall / 1e9).toFixed(2)} s (quota 20000/100000 µs), throttled ${b.cpu.throttling.throttledPeriods - a.cpu.throttling.throttledPeriods} of ${b.cpu.throttling.periods - a.cpu.throttling.periods} periods`);
      expect(share).toBeGreaterThan(0.10);
      expect(share).toBeLessThan(0.35);
      expect(b.cpu.throttling.throttledPeriods).toBeGreaterThan(a.cpu.throttling.throttledPeriods);
    } finally {
      await c.delete({ force: true });
    }
  });
});

describe('freeze', () => {
  it('a counting process makes no progress while paused and resumes after', async () => {
    const counter = path.join(ws.rootfs, 'tmp', 'count');
    const c = await started('freeze', 'i=0; while :; do i=$((i+1)); echo $i >> /tmp/count; sleep 0.001; done');
    const count = async (): Promise<number> => {
      for (let tries = 0; tries < 1000; tries++) {
        const lines = (await fs.readFile(counter, 'utf8').catch(() => '')).split('\n');
        const n = Number(lines[lines.length - 2]); // the last complete line
        if (Number.isInteger(n) && n > 0) return n;
        await sleep(5);
      }
      throw new Error('the counter never counted');
    };
    try {
      await count();
      await c.pause();
      expect((await c.state()).status).toBe('paused');
      expect(await c.cgroup!.freezerState()).toBe('frozen');
      const a = await count();
      await sleep(500);
      expect(await count()).toBe(a);
      await expect(c.pause()).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(c.exec({ args: ['true'] })).rejects.toMatchObject({ code: 'EBUSY' });
      await c.resume();
      expect((await c.state()).status).toBe('running');
      await sleep(200);
      expect(await count()).toBeGreaterThan(a);
      // Loaded from the state record by another handle: the same view.
      const other = await Container.load(c.id, { root: ws.stateRoot });
      await other.pause();
      expect((await c.state()).status).toBe('paused');
      await other.resume();
    } finally {
      await c.delete({ force: true });
    }
  });

  it('force-deleting a paused container kills it', async () => {
    const c = await started('pausedel', 'sleep 60');
    await c.pause();
    const dirs = dirsOf(c.cgroup!);
    await c.delete({ force: true });
    for (const d of dirs) expect(existsSync(d)).toBe(false);
  });
});

describe('devices', () => {
  it('v1 list: a denied device cannot be opened, an allowed one can (containers)', async () => {
    const bind = (s: Spec): void => { s.mounts!.push({ destination: '/dev/fuse', type: 'bind', source: '/dev/fuse', options: ['bind'] }); };
    const script = '(exec 3</dev/fuse) 2>/dev/null && echo fuse-open || echo fuse-denied; head -c 1 /dev/zero | wc -c';
    const denied = await run(ws, shSpec(script, bind));
    expect(denied.stdout).toBe('fuse-denied\n1\n');
    const allowed = await run(ws, shSpec(script, (s) => {
      bind(s);
      s.linux!.resources!.devices!.push({ allow: true, type: 'c', major: 10, minor: 229, access: 'rw' });
    }));
    expect(allowed.stdout).toBe('fuse-open\n1\n');
  });

  it('v1 list keeps the listed order: the spec\'s rules first, then the defaults', async () => {
    const rules = [
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' },
      { allow: true, type: 'b', major: 8, minor: 0, access: 'rw' },
      { allow: true, type: 'b', major: 7, minor: 1, access: 'r' },
    ];
    const cg = await Cgroup.create(`/${tag}/dev-order`, { mode: 'v1', resources: { devices: rules } });
    try {
      const list = (await fs.readFile(path.join(cg.paths.v1!.devices!, 'devices.list'), 'utf8')).trim().split('\n');
      expect(list.slice(0, 3)).toEqual(['c 10:229 rwm', 'b 8:0 rw', 'b 7:1 r']);
    } finally {
      await cg.destroy();
      await fs.rmdir(path.dirname(cg.paths.v1!.devices!)).catch(() => undefined);
    }
  });

  it('v1 list on a bare cgroup: deny-all then allow /dev/null', async () => {
    const cg = await Cgroup.create(`/${tag}/dev-v1`, { mode: 'v1', resources: { devices: [{ allow: false }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }] } });
    try {
      expect((await fs.readFile(path.join(cg.paths.v1!.devices!, 'devices.list'), 'utf8')).trim()).toBe('c 1:3 rw');
      const { child, go, output } = gatedChild('cat /dev/null && echo null-ok; head -c 1 /dev/zero >/dev/null 2>&1 && echo zero-ok || echo zero-denied');
      await cg.join(child.pid!);
      go();
      expect(await output).toBe('null-ok\nzero-denied\n');
    } finally {
      await cg.destroy();
      await fs.rmdir(path.dirname(cg.paths.v1!.devices!)).catch(() => undefined);
    }
  });

  it('v2 eBPF: a program attached to a cgroup on the unified mount denies and allows per rule', async () => {
    const cg = await Cgroup.create(`/${tag}/dev-v2`, {
      mode: 'v2',
      resources: { devices: [{ allow: false }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }, { allow: true, type: 'c', major: 1, minor: 9, access: 'r' }] },
    });
    try {
      const dir = cg.paths.unified!;
      expect(dir).toBe(`${host.unified!.mountPoint}/${tag}/dev-v2`);
      expect(queryDeviceFilters(dir)).toBe(1);
      await cg.apply({ devices: [{ allow: false }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }, { allow: true, type: 'c', major: 1, minor: 9, access: 'r' }] });
      expect(queryDeviceFilters(dir)).toBe(1); // replaced, not stacked
      const { child, go, output } = gatedChild([
        'cat /dev/null && echo null-ok',
        'head -c 1 /dev/urandom >/dev/null && echo urandom-read-ok',
        '(echo x > /dev/urandom) 2>/dev/null && echo urandom-write-ok || echo urandom-write-denied',
        'head -c 1 /dev/zero >/dev/null 2>&1 && echo zero-ok || echo zero-denied',
      ].join('; '));
      await cg.join(child.pid!);
      go();
      expect(await output).toBe('null-ok\nurandom-read-ok\nurandom-write-denied\nzero-denied\n');
    } finally {
      await cg.destroy();
      await fs.rmdir(path.dirname(cg.paths.unified!)).catch(() => undefined);
    }
  });
});

describe('v2 core features on the unified mount', () => {
  it('cgroup.procs, freeze (cgroup.freeze and events frozen 1), cgroup.kill and cgroup.events', async () => {
    const cg = await Cgroup.create(`/${tag}/core`, { mode: 'v2' });
    const dir = cg.paths.unified!;
    const events = async (): Promise<Record<string, string>> => Object.fromEntries((await fs.readFile(path.join(dir, 'cgroup.events'), 'utf8')).trim().split('\n').map((l) => l.split(' ') as [string, string]));
    try {
      expect((await events()).populated).toBe('0');
      // One process that never forks: a killed shell's `sleep` child would be reparented to
      // this host's pid 1, which reaps late, and keep the cgroup populated meanwhile.
      const child = spawn(process.execPath, ['-e', 'let i = 0; setInterval(() => console.log(++i), 10)'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let last = 0;
      child.stdout!.on('data', (b: Buffer) => { last = Number(b.toString().trim().split('\n').pop()); });
      const exited = new Promise<string | null>((r) => child.on('exit', (_c, s) => r(s)));
      await cg.join(child.pid!);
      expect(await cg.pids()).toEqual([child.pid]);
      expect((await events()).populated).toBe('1');
      await cg.freeze();
      expect(await cg.freezerState()).toBe('frozen');
      expect((await events()).frozen).toBe('1');
      await sleep(100);
      const frozenAt = last;
      await sleep(300);
      expect(last).toBe(frozenAt);
      await cg.thaw();
      await sleep(200);
      expect(last).toBeGreaterThan(frozenAt);
      await cg.killAll(); // cgroup.kill
      expect(await exited).toBe('SIGKILL');
      expect((await events()).populated).toBe('0');
    } finally {
      await cg.destroy();
      await fs.rmdir(path.dirname(dir)).catch(() => undefined);
    }
  });

  it('hugetlb, the one controller this v2 mount offers, is limited for real', async () => {
    const root = host.unified!.mountPoint;
    const before = (await fs.readFile(path.join(root, 'cgroup.subtree_control'), 'utf8')).trim().split(/\s+/);
    const cg = await Cgroup.create(`/${tag}/huge`, { mode: 'v2', resources: { hugepageLimits: [{ pageSize: '2MB', limit: 4 * M }] } });
    try {
      expect((await fs.readFile(path.join(cg.paths.unified!, 'hugetlb.2MB.max'), 'utf8')).trim()).toBe(String(4 * M));
      expect((await cg.stats()).hugetlb['2MB']).toEqual({ usage: 0, max: 0, failcnt: 0 });
    } finally {
      await cg.destroy();
      await fs.rmdir(path.join(root, tag)).catch(() => undefined);
      if (!before.includes('hugetlb')) await fs.writeFile(path.join(root, 'cgroup.subtree_control'), '-hugetlb').catch(() => undefined);
    }
  });

  it.skipIf(!V2_FULL)('memory, cpu and pids limits on a v2 host with those controllers', async () => {
    const cg = await Cgroup.create(`/${tag}/v2full`, { mode: 'v2', resources: { memory: { limit: 64 * M, swap: 64 * M }, cpu: { shares: 1024, quota: 20000 }, pids: { limit: 20 } } });
    try {
      const read = (f: string): Promise<string> => fs.readFile(path.join(cg.paths.unified!, f), 'utf8').then((t) => t.trim());
      expect(await read('memory.max')).toBe(String(64 * M));
      expect(await read('cpu.weight')).toBe('39');
      expect(await read('cpu.max')).toBe('20000 100000');
      expect(await read('pids.max')).toBe('20');
    } finally {
      await cg.destroy();
    }
  });
});

describe('stats and update', () => {
  it('stats are non-zero and move', async () => {
    const c = await started('stats', 'while :; do x=$(echo hello); done');
    try {
      await sleep(200);
      const a = await c.stats();
      await sleep(300);
      const b = await c.stats();
      expect(a.cpu.usage.total).toBeGreaterThan(0);
      expect(b.cpu.usage.total).toBeGreaterThan(a.cpu.usage.total);
      expect(b.cpu.usage.perCpu.length).toBeGreaterThan(0);
      expect(b.memory.usage.usage).toBeGreaterThan(0);
      expect(b.pids.current).toBeGreaterThanOrEqual(1);
      expect(Object.keys(b.memory.raw)).toContain('rss');
    } finally {
      await c.delete({ force: true });
    }
  });

  it('update() changes a running container\'s limits and the recorded config', async () => {
    const c = await started('update', 'sleep 60', (s) => { s.linux!.resources!.memory = { limit: 64 * M }; s.linux!.resources!.pids = { limit: 50 }; });
    try {
      const memDir = c.cgroup!.paths.v1!.memory!;
      expect((await fs.readFile(path.join(memDir, 'memory.limit_in_bytes'), 'utf8')).trim()).toBe(String(64 * M));
      await c.update({ memory: { limit: 128 * M }, pids: { limit: 30 }, cpu: { quota: 50000, period: 100000, cpus: '0' } });
      expect((await fs.readFile(path.join(memDir, 'memory.limit_in_bytes'), 'utf8')).trim()).toBe(String(128 * M));
      expect((await c.stats()).pids.limit).toBe(30);
      expect((await fs.readFile(path.join(c.cgroup!.paths.v1!.cpu!, 'cpu.cfs_quota_us'), 'utf8')).trim()).toBe('50000');
      expect((await fs.readFile(path.join(c.cgroup!.paths.v1!.cpuset!, 'cpuset.cpus'), 'utf8')).trim()).toBe('0');
      const loaded = await Container.load(c.id, { root: ws.stateRoot });
      expect(loaded.config.linux!.resources!.memory).toEqual({ limit: 128 * M });
      expect(loaded.config.linux!.resources!.pids).toEqual({ limit: 30 });
      await expect(c.update({ memory: { limit: -7 } })).rejects.toMatchObject({ path: 'resources.memory.limit' });
    } finally {
      await c.delete({ force: true });
    }
  });

  it('a limit below the current usage is refused by the kernel: EBUSY naming the field and the file', async () => {
    const c = await started('ebusy', 'head -c 16777216 /dev/zero > /dev/shm/fill; echo filled; sleep 60', (s) => { s.linux!.resources!.memory = { limit: 64 * M }; });
    const out = c.process.stdout!;
    await new Promise<void>((r) => out.once('data', () => r()));
    try {
      const err = await c.update({ memory: { limit: 4 * M } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CgroupLimitError);
      expect(err).toMatchObject({ code: 'EBUSY', path: 'resources.memory.limit' });
      expect((err as CgroupLimitError).file).toMatch(/memory\.limit_in_bytes$/);
      expect((err as Error).message).toMatch(/current usage/);
    } finally {
      await c.delete({ force: true });
    }
  });
});

describe('bad input: typed errors and no cgroup left half-made', () => {
  const noCgroup = (p: string): boolean => !existsSync(`/sys/fs/cgroup/memory${p}`) && !existsSync(`/sys/fs/cgroup/unified${p}`);

  it('bad resources and paths are refused before anything exists', async () => {
    const cases: Array<[(s: Spec) => void, string]> = [
      [(s) => { s.linux!.resources!.memory = { limit: -5 }; }, 'linux.resources.memory.limit'],
      [(s) => { (s.linux!.resources!.memory as unknown) = { limit: 'lots' }; }, 'linux.resources.memory.limit'],
      [(s) => { s.linux!.resources!.cpu = { cpus: '0-255' }; }, 'linux.resources.cpu.cpus'],
      [(s) => { s.linux!.resources!.cpu = { mems: '7' }; }, 'linux.resources.cpu.mems'],
      [(s) => { s.linux!.resources!.devices!.push({ allow: true, type: 'q' }); }, 'linux.resources.devices[1].type'],
      [(s) => { s.linux!.cgroupsPath = '../../escape'; }, 'linux.cgroupsPath'],
      [(s) => { s.linux!.cgroupsPath = `/${tag}/../../escape`; }, 'linux.cgroupsPath'],
    ];
    for (const [edit, field] of cases) {
      const id = ws.id('bad');
      const err = await Container.create({ id, bundle: ws.dir, spec: shSpec('true', edit), root: ws.stateRoot }).catch((e: unknown) => e);
      expect(err, field).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).path).toBe(field);
      expect(existsSync(path.join(ws.stateRoot, id))).toBe(false);
      expect(noCgroup(`/berth/${id}`)).toBe(true);
    }
  });

  it('a value the kernel refuses names the field and the file, and the cgroup is removed again', async () => {
    const id = ws.id('refused');
    const err = await Container.create({
      id, bundle: ws.dir, root: ws.stateRoot, spec: shSpec('true', (s) => { s.linux!.resources!.cpu = { period: 500 }; }),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CgroupLimitError);
    expect(err).toMatchObject({ code: 'EINVAL', path: 'linux.resources.cpu.period' });
    expect((err as CgroupLimitError).file).toMatch(/cpu\.cfs_period_us$/);
    expect(existsSync(path.join(ws.stateRoot, id))).toBe(false);
    expect(noCgroup(`/berth/${id}`)).toBe(true);
    // The bare API too, with a nested path: nothing of it stays.
    await expect(Cgroup.create(`/${tag}/refused/leaf`, { resources: { cpu: { shares: 1 << 20 } } })).rejects.toMatchObject({ path: 'linux.resources.cpu.shares' });
    expect(noCgroup(`/${tag}`)).toBe(true);
    expect(existsSync(`/sys/fs/cgroup/cpu/${tag}`)).toBe(false);
  });

  it('the systemd driver is refused with a typed error that says systemd is needed', async () => {
    await expect(Cgroup.create(`/${tag}/sd`, { driver: 'systemd' })).rejects.toBeInstanceOf(SystemdCgroupError);
    await expect(Cgroup.create(`/${tag}/sd`, { driver: 'systemd' })).rejects.toThrow(/needs systemd/);
    expect(noCgroup(`/${tag}`)).toBe(true);
  });
});

describe('containers without a pid namespace', () => {
  it('delete kills what the init left behind in the cgroup', async () => {
    const c = await Container.create({
      id: ws.id('nopidns'), bundle: ws.dir, root: ws.stateRoot,
      spec: shSpec('sleep 60 >/dev/null & sleep 60 >/dev/null & echo started', (s) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'pid'); }),
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const out = collect(c.process.stdout);
    await c.start();
    await c.wait();
    expect(await out).toBe('started\n');
    const left = await c.pids();
    expect(left.length).toBe(2);
    await c.delete();
    // Dead: gone, or a zombie waiting for the host's init (they were reparented to it).
    const alive = (pid: number): boolean => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z'; } catch { return false; } };
    for (const pid of left) expect(alive(pid)).toBe(false);
  });
});

describe('berth-runtime pause, resume, update, events --stats', () => {
  /** Runs the command line in this process and returns its status and stdout. */
  async function cli(...args: string[]): Promise<{ code: number; stdout: string }> {
    let stdout = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => { stdout += chunk.toString(); return true; });
    const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      return { code: await main(['--root', ws.stateRoot, ...args]), stdout };
    } finally {
      spy.mockRestore();
      errSpy.mockRestore();
    }
  }

  it('drives a container as runc does', async () => {
    const c = await started('cli', 'sleep 60', (s) => { s.linux!.resources!.memory = { limit: 64 * M }; });
    try {
      expect(await cli('pause', c.id)).toMatchObject({ code: 0 });
      expect(JSON.parse((await cli('state', c.id)).stdout).status).toBe('paused');
      expect(await cli('resume', c.id)).toMatchObject({ code: 0 });
      expect(JSON.parse((await cli('state', c.id)).stdout).status).toBe('running');
      expect(await cli('update', '--memory', '96m', '--cpu-quota', '30000', '--cpu-period', '100000', '--pids-limit', '40', '--cpuset-cpus', '0', c.id)).toMatchObject({ code: 0 });
      const file = path.join(ws.dir, 'resources.json');
      await fs.writeFile(file, JSON.stringify({ memory: { reservation: 16 * M } }));
      expect(await cli('update', '-r', file, c.id)).toMatchObject({ code: 0 });
      const events = JSON.parse((await cli('events', '--stats', c.id)).stdout);
      expect(events).toMatchObject({ type: 'stats', id: c.id });
      expect(events.data.memory.usage.limit).toBe(96 * M);
      expect(events.data.pids).toMatchObject({ current: 1, limit: 40 });
      expect(events.data.cpu.usage.total).toBeGreaterThan(0);
      const cg = c.cgroup!.paths.v1!;
      expect((await fs.readFile(path.join(cg.cpu!, 'cpu.cfs_quota_us'), 'utf8')).trim()).toBe('30000');
      expect((await fs.readFile(path.join(cg.memory!, 'memory.soft_limit_in_bytes'), 'utf8')).trim()).toBe(String(16 * M));
      expect((await cli('update', '--memory', 'lots', c.id)).code).toBe(1);
      await expect(cli('--systemd-cgroup', 'state', c.id)).rejects.toBeInstanceOf(SystemdCgroupError);
    } finally {
      await c.delete({ force: true });
    }
  });
});
