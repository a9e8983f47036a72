// The cgroups layer without the kernel: layout detection, path checks, resource validation,
// the v1→v2 conversions, the device rule emulator and its eBPF program, and what the v2
// backend writes (against a fake cgroup2 tree, since this machine's v2 mount has no controllers).
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blkioWeightToIoWeight, CgroupLimitError, ConfigError, containerDeviceRules, cpuSharesToWeight, cpuWeightToShares,
  DeviceEmulator, deviceFilterProgram, encodeProgram, Fs2Manager, memorySwapToV2, normalizeCgroupPath, parseCgroupHost,
  resolveCgroupPaths, runProgram, SystemdCgroupError, SystemdManager, toRuncStats, UnsupportedError, validateResources,
  type DeviceRule,
} from '../src/index.js';
import { emptyStats, parseBlkioV1, parseIoStat } from '../src/cgroups/stats.js';

const HOST = { cpus: [0, 1], mems: [0], hugepageSizes: ['2MB', '1GB'] };

const mi = (id: number, point: string, fstype: string, opts: string, root = '/'): string =>
  `${id} 1 0:${id} ${root} ${point} rw,nosuid - ${fstype} ${fstype === 'tmpfs' ? 'tmpfs' : 'cgroup'} ${opts}`;

describe('host layout', () => {
  const v1Lines = [
    mi(20, '/sys/fs/cgroup', 'tmpfs', 'rw,mode=755'),
    mi(21, '/sys/fs/cgroup/cpu,cpuacct', 'cgroup', 'rw,cpu,cpuacct'),
    mi(22, '/sys/fs/cgroup/memory', 'cgroup', 'rw,memory'),
    mi(23, '/sys/fs/cgroup/systemd', 'cgroup', 'rw,xattr,name=systemd'),
  ];

  it('tells v1, hybrid and v2 apart', () => {
    expect(parseCgroupHost(v1Lines.join('\n')).mode).toBe('v1');
    const hybrid = parseCgroupHost([...v1Lines, mi(24, '/sys/fs/cgroup/unified', 'cgroup2', 'rw')].join('\n'), '1:cpu,cpuacct:/a\n0::/u\n');
    expect(hybrid.mode).toBe('hybrid');
    expect(hybrid.v1.map((h) => h.controllers)).toEqual([['cpu', 'cpuacct'], ['memory'], ['name=systemd']]);
    expect(hybrid.unified).toEqual({ mountPoint: '/sys/fs/cgroup/unified', root: '/' });
    expect(hybrid.self).toEqual({ 'cpu,cpuacct': '/a', '': '/u' });
    expect(parseCgroupHost(mi(30, '/sys/fs/cgroup', 'cgroup2', 'rw,nsdelegate')).mode).toBe('v2');
    expect(parseCgroupHost('').mode).toBe('none');
  });

  it('follows what later mounts hide (a tmpfs over unified makes it v1, a cgroup2 over the root makes it v2)', () => {
    const hidden = [...v1Lines, mi(24, '/sys/fs/cgroup/unified', 'cgroup2', 'rw'), mi(25, '/sys/fs/cgroup/unified', 'tmpfs', 'rw')];
    expect(parseCgroupHost(hidden.join('\n')).mode).toBe('v1');
    expect(parseCgroupHost([...v1Lines, mi(26, '/sys/fs/cgroup', 'cgroup2', 'rw')].join('\n')).mode).toBe('v2');
  });

  it('resolves absolute paths from each hierarchy root and relative ones below the caller\'s cgroup', () => {
    const host = parseCgroupHost([...v1Lines, mi(24, '/sys/fs/cgroup/unified', 'cgroup2', 'rw')].join('\n'), '2:memory:/svc\n0::/svc2\n');
    const abs = resolveCgroupPaths('/berth/c1', host);
    expect(abs.v1).toEqual({
      'cpu,cpuacct': '/sys/fs/cgroup/cpu,cpuacct/berth/c1', memory: '/sys/fs/cgroup/memory/berth/c1', 'name=systemd': '/sys/fs/cgroup/systemd/berth/c1',
    });
    expect(abs.unified).toBe('/sys/fs/cgroup/unified/berth/c1');
    const rel = resolveCgroupPaths('berth/c1', host);
    expect(rel.v1!.memory).toBe('/sys/fs/cgroup/memory/svc/berth/c1');
    expect(rel.unified).toBe('/sys/fs/cgroup/unified/svc2/berth/c1');
    expect(resolveCgroupPaths('/x', host, 'v2')).toMatchObject({ mode: 'v2', unified: '/sys/fs/cgroup/unified/x' });
  });
});

describe('cgroupsPath', () => {
  it('normalises and refuses escapes and the root', () => {
    expect(normalizeCgroupPath('/a//b/./c/')).toBe('/a/b/c');
    expect(normalizeCgroupPath('berth/ctr1')).toBe('berth/ctr1');
    for (const bad of ['../escape', '/a/../../b', '/a/..', '/', '', '.']) {
      expect(() => normalizeCgroupPath(bad)).toThrow(ConfigError);
      try { normalizeCgroupPath(bad); } catch (e) { expect((e as ConfigError).path).toBe('linux.cgroupsPath'); }
    }
  });
});

/** The field a validation error names. */
function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).path;
  }
  return undefined;
}

describe('resource validation', () => {
  const v = (r: unknown): unknown => validateResources(r, { host: HOST });

  it('names the field of negative, non-numeric and out-of-range values', () => {
    expect(fieldOf(() => v({ memory: { limit: -5 } }))).toBe('linux.resources.memory.limit');
    expect(fieldOf(() => v({ memory: { limit: '64m' } }))).toBe('linux.resources.memory.limit');
    expect(fieldOf(() => v({ memory: { limit: 1.5 } }))).toBe('linux.resources.memory.limit');
    expect(fieldOf(() => v({ memory: { limit: 100, swap: 50 } }))).toBe('linux.resources.memory.swap');
    expect(fieldOf(() => v({ memory: { swappiness: 101 } }))).toBe('linux.resources.memory.swappiness');
    expect(fieldOf(() => v({ cpu: { quota: -2 } }))).toBe('linux.resources.cpu.quota');
    expect(fieldOf(() => v({ cpu: { shares: 'lots' } }))).toBe('linux.resources.cpu.shares');
    expect(fieldOf(() => v({ pids: { limit: -3 } }))).toBe('linux.resources.pids.limit');
    expect(fieldOf(() => v({ blockIO: { weight: 5 } }))).toBe('linux.resources.blockIO.weight');
    expect(fieldOf(() => v({ blockIO: { throttleReadBpsDevice: [{ major: 8, minor: 0, rate: -1 }] } }))).toBe('linux.resources.blockIO.throttleReadBpsDevice[0].rate');
    expect(fieldOf(() => v({ hugepageLimits: [{ pageSize: '3MB', limit: 1 }] }))).toBe('linux.resources.hugepageLimits[0].pageSize');
    expect(fieldOf(() => v({ unified: { '../x': '1' } }))).toBe('linux.resources.unified.../x');
    expect(fieldOf(() => v({ memory: { limit: 64 << 20 } }, ))).toBeUndefined();
  });

  it('refuses a cpuset naming CPUs or nodes the host lacks', () => {
    expect(fieldOf(() => v({ cpu: { cpus: '0-3' } }))).toBe('linux.resources.cpu.cpus');
    expect(fieldOf(() => v({ cpu: { cpus: '1,64' } }))).toBe('linux.resources.cpu.cpus');
    expect(fieldOf(() => v({ cpu: { cpus: 'all' } }))).toBe('linux.resources.cpu.cpus');
    expect(fieldOf(() => v({ cpu: { mems: '1' } }))).toBe('linux.resources.cpu.mems');
    expect(v({ cpu: { cpus: '0-1', mems: '0' } })).toEqual({ cpu: { cpus: '0-1', mems: '0' } });
  });

  it('refuses unknown device types and access letters, and fills in defaults', () => {
    expect(fieldOf(() => v({ devices: [{ allow: false }, { allow: true, type: 'x', major: 1, minor: 3 }] }))).toBe('linux.resources.devices[1].type');
    expect(fieldOf(() => v({ devices: [{ allow: true, type: 'c', access: 'rwx' }] }))).toBe('linux.resources.devices[0].access');
    expect(fieldOf(() => v({ devices: [{ type: 'c' }] }))).toBe('linux.resources.devices[0].allow');
    expect(v({ devices: [{ allow: false }, { allow: true, type: 'c', major: 1, minor: 3, access: 'wr' }] })).toEqual({
      devices: [{ allow: false, type: 'a', major: -1, minor: -1, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }],
    });
  });
});

describe('v1 → v2 conversions (runc / crun)', () => {
  it('cpu shares → weight: 1 + ((shares - 2) * 9999) / 262142', () => {
    expect([0, 2, 1024, 512, 262144].map(cpuSharesToWeight)).toEqual([0, 1, 39, 20, 10000]);
    expect(cpuSharesToWeight(1)).toBe(1); // clamped to the kernel's minimum of 2
    for (const s of [2, 100, 1024, 4096, 262144]) expect(cpuSharesToWeight(cpuWeightToShares(cpuSharesToWeight(s)))).toBe(cpuSharesToWeight(s));
  });

  it('blkio weight → io.weight: 1 + (weight - 10) * 9999 / 990', () => {
    expect([0, 10, 100, 500, 1000].map(blkioWeightToIoWeight)).toEqual([0, 1, 910, 4950, 10000]);
  });

  it('memory+swap (v1 memsw) → swap.max (v2): swap - limit; -1 and unset pass through', () => {
    const M = 1 << 20;
    expect(memorySwapToV2(128 * M, 64 * M)).toBe(64 * M);
    expect(memorySwapToV2(64 * M, 64 * M)).toBe(0);
    expect(memorySwapToV2(-1, 64 * M)).toBe(-1);
    expect(memorySwapToV2(undefined, -1)).toBe(-1);
    expect(memorySwapToV2(undefined, 64 * M)).toBeNull();
    expect(memorySwapToV2(64 * M, -1)).toBe(64 * M);
    expect(() => memorySwapToV2(64 * M, undefined)).toThrow(ConfigError);
    expect(() => memorySwapToV2(32 * M, 64 * M)).toThrow(ConfigError);
  });
});

describe('device rules', () => {
  const rule = (allow: boolean, type: DeviceRule['type'], major: number, minor: number, access = 'rwm'): DeviceRule => ({ allow, type, major, minor, access });

  it('a fresh (allow-all) v1 cgroup gets "a" denied first, then the allows, as runc writes them', () => {
    const current = DeviceEmulator.fromList('a *:* rwm\n');
    const target = DeviceEmulator.fromRules(containerDeviceRules([rule(false, 'a', -1, -1)]));
    const steps = current.transition(target);
    expect(steps[0]).toEqual(rule(false, 'a', -1, -1));
    expect(steps.slice(1).every((s) => s.allow)).toBe(true);
    expect(steps.map((s) => `${s.type} ${s.major}:${s.minor} ${s.access}`)).toContain('c 1:3 rwm');
    // Applying the same state again writes nothing.
    const again = DeviceEmulator.fromList(target.toRules().filter((r) => r.allow).map((r) => `${r.type} ${r.major < 0 ? '*' : r.major}:${r.minor < 0 ? '*' : r.minor} ${r.access}`).join('\n'));
    expect(again.transition(target)).toEqual([]);
  });

  it('refuses punching a hole in a wildcard rule (cgroup v1 cannot express it)', () => {
    expect(() => DeviceEmulator.fromRules([rule(true, 'c', -1, -1), rule(false, 'c', 1, 3)])).toThrow(ConfigError);
  });

  it('the eBPF program decides like the v1 emulator, for every rule list', () => {
    const lists: DeviceRule[][] = [
      [rule(false, 'a', -1, -1), rule(true, 'c', 1, 3), rule(true, 'c', 1, 9, 'r'), rule(true, 'b', 8, -1, 'rw')],
      [rule(true, 'a', -1, -1), rule(false, 'c', 1, 5), rule(false, 'b', -1, -1, 'm')],
      containerDeviceRules([rule(false, 'a', -1, -1), rule(true, 'c', 10, 229, 'rw')]),
      [],
    ];
    const asks = [['c', 1, 3], ['c', 1, 5], ['c', 1, 9], ['b', 8, 1], ['b', 7, 0], ['c', 136, 4], ['c', 10, 229], ['c', 5, 2]] as const;
    const decide = (emu: DeviceEmulator, type: 'c' | 'b', major: number, minor: number, access: string): number => {
      const hit = [...emu.rules.values()].some((r) => r.type === type && (r.major < 0 || r.major === major) && (r.minor < 0 || r.minor === minor)
        && [...access].every((ch) => r.access.includes(ch)));
      return emu.defaultAllow ? (hit ? 0 : 1) : (hit ? 1 : 0);
    };
    for (const list of lists) {
      const emu = DeviceEmulator.fromRules(list);
      const prog = deviceFilterProgram(list);
      expect(encodeProgram(prog).length).toBe(prog.length * 8);
      for (const [type, major, minor] of asks) {
        for (const access of ['r', 'w', 'm', 'rw', 'rwm']) {
          expect(runProgram(prog, { type, access, major, minor }), `${type} ${major}:${minor} ${access}`).toBe(decide(emu, type, major, minor, access));
        }
      }
    }
    const first = deviceFilterProgram(lists[0]!);
    expect(runProgram(first, { type: 'c', access: 'rw', major: 1, minor: 3 })).toBe(1);
    expect(runProgram(first, { type: 'c', access: 'r', major: 1, minor: 5 })).toBe(0);
    expect(runProgram(first, { type: 'c', access: 'r', major: 1, minor: 9 })).toBe(1);
    expect(runProgram(first, { type: 'c', access: 'w', major: 1, minor: 9 })).toBe(0);
    expect(runProgram(first, { type: 'b', access: 'rw', major: 8, minor: 1 })).toBe(1);
    expect(runProgram(first, { type: 'b', access: 'm', major: 8, minor: 1 })).toBe(0);
    expect(runProgram(deviceFilterProgram([]), { type: 'c', access: 'r', major: 1, minor: 3 })).toBe(0);
  });
});

describe('the v2 backend against a fake cgroup2 tree', () => {
  let root: string;
  let leaf: string;
  const LEAF_FILES = [
    'cgroup.procs', 'cgroup.controllers', 'cgroup.subtree_control', 'memory.max', 'memory.low', 'memory.swap.max', 'cpu.weight',
    'cpu.max', 'cpu.max.burst', 'cpu.idle', 'pids.max', 'io.weight', 'io.max', 'cpuset.cpus', 'cpuset.mems', 'hugetlb.2MB.max', 'memory.high',
  ];
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'berth-fake-v2-'));
    leaf = path.join(root, 'berth', 'c1');
    await mkdir(leaf, { recursive: true });
    for (const d of [root, path.join(root, 'berth')]) {
      await writeFile(path.join(d, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids\n');
      await writeFile(path.join(d, 'cgroup.subtree_control'), '');
    }
    for (const f of LEAF_FILES) await writeFile(path.join(leaf, f), '');
    await writeFile(path.join(leaf, 'cpu.max'), 'max 100000\n');
  });
  afterAll(async () => { await rm(root, { recursive: true, force: true }); });

  const read = (f: string): Promise<string> => readFile(path.join(leaf, f), 'utf8');

  it('writes the converted values to the v2 files and enables controllers on the way down', async () => {
    const M = 1 << 20;
    const m = new Fs2Manager({ mode: 'v2', path: '/berth/c1', unified: leaf, unifiedMount: root });
    await m.set(validateResources({
      memory: { limit: 64 * M, swap: 96 * M, reservation: 32 * M, swappiness: 10, disableOOMKiller: true },
      cpu: { shares: 1024, quota: 20000, period: 50000, idle: 0, cpus: '0', mems: '0' },
      pids: { limit: 20 },
      blockIO: { weight: 500, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }] },
      hugepageLimits: [{ pageSize: '2MB', limit: 4 * M }],
      unified: { 'memory.high': '48M' },
    }, { host: HOST }));
    expect(await read('memory.max')).toBe(String(64 * M));
    expect(await read('memory.swap.max')).toBe(String(32 * M));
    expect(await read('memory.low')).toBe(String(32 * M));
    expect(await read('memory.high')).toBe('48M');
    expect(await read('cpu.weight')).toBe('39');
    expect(await read('cpu.max')).toBe('20000 50000');
    expect(await read('cpu.idle')).toBe('0');
    expect(await read('cpuset.cpus')).toBe('0');
    expect(await read('pids.max')).toBe('20');
    expect(await read('io.weight')).toBe('4950');
    expect(await read('io.max')).toBe('8:0 rbps=1048576');
    expect(await read('hugetlb.2MB.max')).toBe(String(4 * M));
    // A fake file keeps only the last write: the last controller enabled at each level.
    expect(await readFile(path.join(root, 'cgroup.subtree_control'), 'utf8')).toMatch(/^\+\w+$/);
    expect(await readFile(path.join(root, 'berth', 'cgroup.subtree_control'), 'utf8')).toMatch(/^\+\w+$/);
  });

  it('a period alone keeps the quota; -1 is "max"; v1-only settings are refused with the field', async () => {
    const m = new Fs2Manager({ mode: 'v2', path: '/berth/c1', unified: leaf, unifiedMount: root });
    await writeFile(path.join(leaf, 'cpu.max'), '30000 100000\n');
    await m.set(validateResources({ cpu: { period: 200000 } }, { host: HOST }));
    expect(await read('cpu.max')).toBe('30000 200000');
    await m.set(validateResources({ cpu: { quota: -1 }, memory: { limit: -1 }, pids: { limit: -1 } }, { host: HOST }));
    expect(await read('cpu.max')).toMatch(/^max /);
    expect(await read('memory.max')).toBe('max');
    expect(await read('memory.swap.max')).toBe('max');
    expect(await read('pids.max')).toBe('max');
    await expect(m.set(validateResources({ cpu: { realtimeRuntime: 1000 } }, { host: HOST }))).rejects.toMatchObject({ path: 'linux.resources.cpu.realtimeRuntime' });
    await expect(m.set(validateResources({ network: { classID: 7 } }, { host: HOST }))).rejects.toBeInstanceOf(UnsupportedError);
    await expect(m.set(validateResources({ unified: { 'rdma.max': 'x' } }, { host: HOST }))).rejects.toBeInstanceOf(UnsupportedError);
  });
});

describe('stats and drivers', () => {
  it('parses v1 blkio and v2 io.stat into the same entries, and prints runc\'s events --stats shape', () => {
    expect(parseBlkioV1('8:0 Read 10\n8:0 Write 20\nTotal 30\n')).toEqual([{ major: 8, minor: 0, op: 'Read', value: 10 }, { major: 8, minor: 0, op: 'Write', value: 20 }]);
    expect(parseIoStat('8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n').ioServiceBytesRecursive.slice(0, 2)).toEqual([
      { major: 8, minor: 0, op: 'Read', value: 10 }, { major: 8, minor: 0, op: 'Write', value: 20 },
    ]);
    const s = emptyStats();
    s.cpu.usage.total = 5;
    s.pids = { current: 3, limit: 20 };
    const runc = toRuncStats(s) as { cpu: { usage: { total: number } }; pids: unknown; memory: { usage: { limit: number } } };
    expect(runc.cpu.usage.total).toBe(5);
    expect(runc.pids).toEqual({ current: 3, limit: 20 });
    expect(runc.memory.usage.limit).toBeGreaterThan(2 ** 62);
  });

  it('the systemd driver refuses with a typed error that says why', () => {
    expect(() => new SystemdManager()).toThrow(SystemdCgroupError);
    expect(() => new SystemdManager()).toThrow(/systemd/);
  });

  it('a kernel refusal is a ConfigError naming the field and the file', () => {
    const e = new CgroupLimitError('EINVAL: refused', 'linux.resources.cpu.period', '/sys/fs/cgroup/cpu/x/cpu.cfs_period_us', 'EINVAL');
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.path).toBe('linux.resources.cpu.period');
    expect(e.file).toMatch(/cpu.cfs_period_us$/);
  });
});
