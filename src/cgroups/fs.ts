/**
 * The cgroup v1 backend (`fs`): one directory per mounted hierarchy (cpu, cpuacct, cpuset,
 * memory, devices, freezer, blkio, pids, hugetlb, net_cls, net_prio, rdma, name=systemd...).
 * Resources are written in runc's order and with its orderings where the kernel cares
 * (memory before or after memsw, CFS period around quota).
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ConfigError, UnsupportedError } from '../errors.js';
import { v1Limit } from './convert.js';
import { DeviceEmulator, ruleText } from './devices.js';
import { CgroupError, CgroupLimitError } from './errors.js';
import {
  fileExists, makeCgroupDir, parseKeyValues, parseNumbers, parseValue, readCgroupFile, readOptional, removeCgroupDir, writeCgroupFile, writeCgroupValues,
} from './files.js';
import type { CgroupMode } from './host.js';
import type { CgroupManager, FreezerState, OomEvent, OomWatch } from './manager.js';
import { watchOomV1 } from './oom.js';
import type { CgroupPaths } from './paths.js';
import { collectPids, pruneAncestors, signalPid, sleep, waitUntil } from './procs.js';
import type { LinuxBlockIO, LinuxCPU, LinuxHugepageLimit, LinuxMemory, LinuxNetwork, LinuxRdma } from './resources.js';
import { emptyStats, parseBlkioV1, type CgroupStats, type HugetlbStats } from './stats.js';
import type { DeviceRule, Resources } from './validate.js';

const SIGKILL = 9;
/** USER_HZ: cpuacct.stat counts in these ticks. */
const NS_PER_TICK = 1e9 / 100;

/** The cgroup v1 manager. */
export class FsManager implements CgroupManager {
  readonly mode: CgroupMode = 'v1';
  readonly paths: CgroupPaths;
  /** Hierarchy key → directory. */
  protected readonly dirs: Record<string, string>;
  /** OOM events seen by watches of this manager. */
  protected oomEvents = 0;

  constructor(paths: CgroupPaths) {
    if (!paths.v1 || Object.keys(paths.v1).length === 0) {
      throw new CgroupError('a cgroup v1 manager needs the directories of its hierarchies', { code: 'EINVAL', path: paths.path });
    }
    this.paths = paths;
    this.dirs = paths.v1;
  }

  /** The directory of the hierarchy that has `controller`, if one is mounted. */
  dir(controller: string): string | undefined {
    for (const [key, d] of Object.entries(this.dirs)) if (key.split(',').includes(controller)) return d;
    return undefined;
  }

  /** The directory of `controller`'s hierarchy, or an UnsupportedError naming `field`. */
  protected need(controller: string, field: string): string {
    const d = this.dir(controller);
    if (!d) throw new UnsupportedError(`the ${controller} cgroup controller is not mounted on this host`, field);
    return d;
  }

  procsFiles(): string[] {
    return Object.values(this.dirs).map((d) => path.join(d, 'cgroup.procs'));
  }

  async create(): Promise<number> {
    const made: string[] = [];
    let levels = 0;
    // Hierarchies are independent: make them all at once.
    const results = await Promise.allSettled(Object.entries(this.dirs).map(async ([key, d]) => {
      const first = await makeCgroupDir(d);
      if (first !== null) {
        made.push(first);
        levels = Math.max(levels, depth(d) - depth(first));
      }
      if (key.split(',').includes('cpuset')) await fillCpuset(d);
    }));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(made.map((m) => removeCgroupDir(m, 1000).catch(() => undefined)));
      throw failed.reason;
    }
    return levels;
  }

  async join(pid: number): Promise<void> {
    await Promise.all(Object.values(this.dirs).map((d) => writeCgroupFile(d, 'cgroup.procs', String(pid))));
  }

  /**
   * Each controller is its own hierarchy (or its own files in a shared one), so the sections
   * are written concurrently; within one, in runc's order. `unified` entries go last. The
   * first error (in section order) is thrown once every section has finished.
   */
  async set(r: Resources, field = 'linux.resources'): Promise<void> {
    const sections: Array<Promise<void>> = [];
    if (r.cpu?.cpus !== undefined || r.cpu?.mems !== undefined) sections.push(this.setCpuset(r.cpu, `${field}.cpu`));
    if (r.devices !== undefined) sections.push(this.setDevices(r.devices, `${field}.devices`));
    if (r.memory !== undefined) sections.push(this.setMemory(r.memory, `${field}.memory`));
    if (r.cpu !== undefined) sections.push(this.setCpu(r.cpu, `${field}.cpu`));
    if (r.pids !== undefined) sections.push(this.setPids(r.pids.limit, `${field}.pids.limit`));
    if (r.blockIO !== undefined) sections.push(this.setBlkio(r.blockIO, `${field}.blockIO`));
    if (r.hugepageLimits !== undefined) sections.push(this.setHugetlb(r.hugepageLimits, `${field}.hugepageLimits`));
    if (r.network !== undefined) sections.push(this.setNetwork(r.network, `${field}.network`));
    if (r.rdma !== undefined) sections.push(this.setRdma(r.rdma, `${field}.rdma`));
    const failed = (await Promise.allSettled(sections)).find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failed) throw failed.reason;
    if (r.unified !== undefined && Object.keys(r.unified).length > 0) await this.setUnified(r.unified, `${field}.unified`);
  }

  /** Writes cpuset.cpus and cpuset.mems. */
  protected async setCpuset(c: LinuxCPU, field: string): Promise<void> {
    const d = this.need('cpuset', field);
    if (c.cpus !== undefined) await writeCgroupFile(d, 'cpuset.cpus', c.cpus, `${field}.cpus`);
    if (c.mems !== undefined) await writeCgroupFile(d, 'cpuset.mems', c.mems, `${field}.mems`);
  }

  /** Writes the minimal v1 transition from the current devices.list to the rules' state: a deny-all first, then the allows. */
  protected async setDevices(rules: DeviceRule[], field: string): Promise<void> {
    const d = this.need('devices', field);
    const target = DeviceEmulator.fromRules(rules, field);
    const current = DeviceEmulator.fromList(await readCgroupFile(d, 'devices.list'));
    const writes = current.transition(target).map((rule) => ({ file: rule.allow ? 'devices.allow' : 'devices.deny', value: ruleText(rule) }));
    await writeCgroupValues(d, writes, field);
  }

  /** Writes the memory limits, memsw before or after the limit as the kernel needs (runc's order). */
  protected async setMemory(m: LinuxMemory, field: string): Promise<void> {
    const d = this.need('memory', field);
    const limit = m.limit ?? 0;
    let swap = m.swap ?? 0;
    const hasMemsw = await fileExists(d, 'memory.memsw.limit_in_bytes');
    if (limit === -1 && swap === 0 && hasMemsw) swap = -1; // unlimited memory: unlimited swap too
    if (swap !== 0 && !hasMemsw) {
      if (swap === -1 || swap === limit) swap = 0; // nothing to limit without swap accounting
      else throw new UnsupportedError('swap accounting is off on this host (no memory.memsw.limit_in_bytes)', `${field}.swap`);
    }
    const setLimit = async (): Promise<void> => {
      if (limit === 0) return;
      try {
        await writeCgroupFile(d, 'memory.limit_in_bytes', v1Limit(limit), `${field}.limit`);
      } catch (err) {
        if (err instanceof CgroupLimitError && err.code === 'EBUSY') {
          const usage = parseValue(await readCgroupFile(d, 'memory.usage_in_bytes'));
          const peak = parseValue(await readCgroupFile(d, 'memory.max_usage_in_bytes'));
          throw new CgroupLimitError(`EBUSY: the kernel refused ${limit} for ${err.file}: it is below the current usage ${usage} (peak ${peak})`, `${field}.limit`, err.file, 'EBUSY');
        }
        throw err;
      }
    };
    const setSwap = async (): Promise<void> => {
      if (swap !== 0) await writeCgroupFile(d, 'memory.memsw.limit_in_bytes', v1Limit(swap), `${field}.swap`);
    };
    if (limit !== 0 && swap !== 0) {
      const current = parseValue(await readCgroupFile(d, 'memory.limit_in_bytes'));
      if (swap === -1 || current < swap) {
        await setSwap();
        await setLimit();
      } else {
        await setLimit();
        await setSwap();
      }
    } else {
      await setLimit();
      await setSwap();
    }
    if (m.reservation !== undefined && m.reservation !== 0) {
      await writeCgroupFile(d, 'memory.soft_limit_in_bytes', v1Limit(m.reservation), `${field}.reservation`);
    }
    if (m.disableOOMKiller) await writeCgroupFile(d, 'memory.oom_control', '1', `${field}.disableOOMKiller`);
    if (m.swappiness !== undefined && m.swappiness >= 0) {
      await writeCgroupFile(d, 'memory.swappiness', String(m.swappiness), `${field}.swappiness`);
    }
  }

  /** Writes shares (read back), realtime, CFS period/quota/burst and idle. */
  protected async setCpu(c: LinuxCPU, field: string): Promise<void> {
    const wants = c.shares || c.quota || c.period || c.burst !== undefined || c.realtimePeriod || c.realtimeRuntime || c.idle !== undefined;
    if (!wants) return;
    const d = this.need('cpu', field);
    if (c.shares) {
      await writeCgroupFile(d, 'cpu.shares', String(c.shares), `${field}.shares`);
      const got = parseValue(await readCgroupFile(d, 'cpu.shares'));
      if (got !== c.shares) {
        throw new CgroupLimitError(`ERANGE: the kernel set cpu.shares to ${got}, not ${c.shares} (it accepts 2 to 262144)`, `${field}.shares`, path.join(d, 'cpu.shares'), 'ERANGE');
      }
    }
    if (c.realtimePeriod) await writeCgroupFile(d, 'cpu.rt_period_us', String(c.realtimePeriod), `${field}.realtimePeriod`);
    if (c.realtimeRuntime) await writeCgroupFile(d, 'cpu.rt_runtime_us', String(c.realtimeRuntime), `${field}.realtimeRuntime`);
    // A shorter period can be refused while the old quota/period exceeds the parent's; then
    // set it again after the quota (runc does the same).
    let periodLater = false;
    if (c.period) {
      try {
        await writeCgroupFile(d, 'cpu.cfs_period_us', String(c.period), `${field}.period`);
      } catch (err) {
        if (!(err instanceof CgroupLimitError && err.code === 'EINVAL' && c.quota)) throw err;
        periodLater = true;
      }
    }
    let burstLater = false;
    if (c.burst !== undefined) {
      try {
        await writeCgroupFile(d, 'cpu.cfs_burst_us', String(c.burst), `${field}.burst`);
      } catch (err) {
        if (!(err instanceof CgroupLimitError && err.code === 'EINVAL' && c.quota)) throw err;
        burstLater = true;
      }
    }
    if (c.quota) {
      await writeCgroupFile(d, 'cpu.cfs_quota_us', String(c.quota), `${field}.quota`);
      if (periodLater) await writeCgroupFile(d, 'cpu.cfs_period_us', String(c.period), `${field}.period`);
      if (burstLater) await writeCgroupFile(d, 'cpu.cfs_burst_us', String(c.burst), `${field}.burst`);
    }
    if (c.idle !== undefined) await writeCgroupFile(d, 'cpu.idle', String(c.idle), `${field}.idle`);
  }

  /** Writes pids.max (-1: max; 0: leave it). */
  protected async setPids(limit: number, field: string): Promise<void> {
    if (limit === 0) return;
    await writeCgroupFile(this.need('pids', field), 'pids.max', limit < 0 ? 'max' : String(limit), field);
  }

  /** Writes weights (CFQ or BFQ files) and throttles. */
  protected async setBlkio(b: LinuxBlockIO, field: string): Promise<void> {
    const d = this.need('blkio', field);
    const cfq = await fileExists(d, 'blkio.weight');
    const weightFile = cfq ? 'blkio.weight' : 'blkio.bfq.weight';
    const weightDeviceFile = cfq ? 'blkio.weight_device' : 'blkio.bfq.weight_device';
    if (b.weight) await writeCgroupFile(d, weightFile, String(b.weight), `${field}.weight`);
    if (b.leafWeight) await writeCgroupFile(d, 'blkio.leaf_weight', String(b.leafWeight), `${field}.leafWeight`);
    for (const [i, w] of (b.weightDevice ?? []).entries()) {
      if (w.weight) await writeCgroupFile(d, weightDeviceFile, `${w.major}:${w.minor} ${w.weight}`, `${field}.weightDevice[${i}].weight`);
      if (w.leafWeight) await writeCgroupFile(d, 'blkio.leaf_weight_device', `${w.major}:${w.minor} ${w.leafWeight}`, `${field}.weightDevice[${i}].leafWeight`);
    }
    const throttles = [
      ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
      ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
      ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
      ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
    ] as const;
    for (const [key, file] of throttles) {
      for (const [i, t] of (b[key] ?? []).entries()) await writeCgroupFile(d, file, `${t.major}:${t.minor} ${t.rate}`, `${field}.${key}[${i}]`);
    }
  }

  /** Writes hugetlb.<size>.limit_in_bytes. */
  protected async setHugetlb(limits: LinuxHugepageLimit[], field: string): Promise<void> {
    const d = this.need('hugetlb', field);
    for (const [i, h] of limits.entries()) await writeCgroupFile(d, `hugetlb.${h.pageSize}.limit_in_bytes`, String(h.limit), `${field}[${i}].limit`);
  }

  /** Writes net_cls.classid and net_prio.ifpriomap. */
  protected async setNetwork(n: LinuxNetwork, field: string): Promise<void> {
    if (n.classID !== undefined) await writeCgroupFile(this.need('net_cls', `${field}.classID`), 'net_cls.classid', String(n.classID), `${field}.classID`);
    for (const [i, p] of (n.priorities ?? []).entries()) {
      await writeCgroupFile(this.need('net_prio', `${field}.priorities`), 'net_prio.ifpriomap', `${p.name} ${p.priority}`, `${field}.priorities[${i}]`);
    }
  }

  /** Writes rdma.max. */
  protected async setRdma(r: Record<string, LinuxRdma>, field: string): Promise<void> {
    for (const [dev, l] of Object.entries(r)) {
      const value = `${dev} hca_handle=${l.hcaHandles ?? 'max'} hca_object=${l.hcaObjects ?? 'max'}`;
      await writeCgroupFile(this.need('rdma', `${field}.${dev}`), 'rdma.max', value, `${field}.${dev}`);
    }
  }

  /** cgroup v2 files: refused on a v1 host. */
  protected async setUnified(_u: Record<string, string>, field: string): Promise<void> {
    throw new ConfigError('cgroup v2 files cannot be set on a cgroup v1 host', field);
  }

  async stats(): Promise<CgroupStats> {
    const s = emptyStats();
    const cpuacct = this.dir('cpuacct');
    const cpu = this.dir('cpu');
    const mem = this.dir('memory');
    const pids = this.dir('pids');
    const blkio = this.dir('blkio');
    await Promise.all([
      (async () => {
        if (!cpuacct) return;
        const [total, percpu, pu, ps, stat] = await Promise.all([
          readOptional(cpuacct, 'cpuacct.usage'), readOptional(cpuacct, 'cpuacct.usage_percpu'),
          readOptional(cpuacct, 'cpuacct.usage_percpu_user'), readOptional(cpuacct, 'cpuacct.usage_percpu_sys'), readOptional(cpuacct, 'cpuacct.stat'),
        ]);
        const kv = parseKeyValues(stat);
        s.cpu.usage = {
          total: parseValue(total ?? '0') || 0, perCpu: parseNumbers(percpu), perCpuUser: parseNumbers(pu), perCpuKernel: parseNumbers(ps),
          user: (kv.user ?? 0) * NS_PER_TICK, kernel: (kv.system ?? 0) * NS_PER_TICK,
        };
      })(),
      (async () => {
        if (!cpu) return;
        const kv = parseKeyValues(await readOptional(cpu, 'cpu.stat'));
        s.cpu.throttling = { periods: kv.nr_periods ?? 0, throttledPeriods: kv.nr_throttled ?? 0, throttledTime: kv.throttled_time ?? 0 };
      })(),
      (async () => {
        if (!mem) return;
        const read = (f: string): Promise<number> => readOptional(mem, f).then((t) => (t === null ? 0 : parseValue(t) || 0));
        const [raw, oom, usage, max, failcnt, limit, swUsage, swMax, swFail, swLimit] = await Promise.all([
          readOptional(mem, 'memory.stat').then(parseKeyValues), readOptional(mem, 'memory.oom_control').then(parseKeyValues),
          read('memory.usage_in_bytes'), read('memory.max_usage_in_bytes'), read('memory.failcnt'), read('memory.limit_in_bytes'),
          read('memory.memsw.usage_in_bytes'), read('memory.memsw.max_usage_in_bytes'), read('memory.memsw.failcnt'), read('memory.memsw.limit_in_bytes'),
        ]);
        s.memory = {
          usage: { usage, max, failcnt, limit: v1Unlimited(limit) },
          swap: { usage: swUsage, max: swMax, failcnt: swFail, limit: v1Unlimited(swLimit) },
          cache: raw.cache ?? 0, rss: raw.rss ?? 0, raw,
          oom: this.oomEvents, oomKill: oom.oom_kill ?? 0, underOom: (oom.under_oom ?? 0) === 1,
        };
      })(),
      (async () => {
        if (!pids) return;
        const [cur, max] = await Promise.all([readOptional(pids, 'pids.current'), readOptional(pids, 'pids.max')]);
        const limit = parseValue(max ?? 'max');
        s.pids = { current: parseValue(cur ?? '0') || 0, limit: limit < 0 || Number.isNaN(limit) ? 0 : limit };
      })(),
      (async () => {
        if (!blkio) return;
        const pick = async (...files: string[]): Promise<ReturnType<typeof parseBlkioV1>> => {
          for (const f of files) {
            const e = parseBlkioV1(await readOptional(blkio, f));
            if (e.length > 0) return e;
          }
          return [];
        };
        s.blkio.ioServiceBytesRecursive = await pick('blkio.io_service_bytes_recursive', 'blkio.throttle.io_service_bytes_recursive', 'blkio.bfq.io_service_bytes_recursive');
        s.blkio.ioServicedRecursive = await pick('blkio.io_serviced_recursive', 'blkio.throttle.io_serviced_recursive', 'blkio.bfq.io_serviced_recursive');
      })(),
      (async () => { s.hugetlb = await this.hugetlbStats(); })(),
    ]);
    return s;
  }

  /** Hugetlb usage per page size from the v1 hugetlb hierarchy. */
  protected async hugetlbStats(): Promise<Record<string, HugetlbStats>> {
    const d = this.dir('hugetlb');
    if (!d) return {};
    const out: Record<string, HugetlbStats> = {};
    for (const size of hugetlbSizes(await listFiles(d), '.usage_in_bytes')) {
      const [usage, max, failcnt] = await Promise.all(['usage_in_bytes', 'max_usage_in_bytes', 'failcnt'].map((f) => readOptional(d, `hugetlb.${size}.${f}`)));
      out[size] = { usage: parseValue(usage ?? '0') || 0, max: parseValue(max ?? '0') || 0, failcnt: parseValue(failcnt ?? '0') || 0 };
    }
    return out;
  }

  /** Freezes through freezer.state, retrying while the kernel says FREEZING (new tasks may race in), as runc does. */
  async freeze(): Promise<void> {
    const d = this.need('freezer', 'freezer');
    try {
      for (let i = 0; i < 1000; i++) {
        if (i % 50 === 49) {
          await writeCgroupFile(d, 'freezer.state', 'THAWED');
          await sleep(10);
        }
        await writeCgroupFile(d, 'freezer.state', 'FROZEN');
        if (i % 25 === 24) await sleep(1);
        const state = (await readCgroupFile(d, 'freezer.state')).trim();
        if (state === 'FROZEN') return;
        if (state !== 'FREEZING') throw new CgroupError(`EIO: unexpected freezer state ${state} in ${d}`, { code: 'EIO', path: d });
        await sleep(1);
      }
      throw new CgroupError(`ETIMEDOUT: ${d} stayed FREEZING`, { code: 'ETIMEDOUT', path: d });
    } catch (err) {
      await writeCgroupFile(d, 'freezer.state', 'THAWED').catch(() => undefined); // never leave it half-frozen
      throw err;
    }
  }

  async thaw(): Promise<void> {
    const d = this.dir('freezer');
    if (d) await writeCgroupFile(d, 'freezer.state', 'THAWED');
  }

  async freezerState(): Promise<FreezerState> {
    const d = this.dir('freezer');
    if (!d) return 'undefined';
    const t = (await readOptional(d, 'freezer.state'))?.trim();
    return t === 'FROZEN' ? 'frozen' : t === 'FREEZING' ? 'freezing' : t === 'THAWED' ? 'thawed' : 'undefined';
  }

  /** The directory whose cgroup.procs lists the processes (freezer or pids first: they are the ones kill uses). */
  protected procsDir(): string {
    return this.dir('freezer') ?? this.dir('pids') ?? this.dir('memory') ?? Object.values(this.dirs)[0]!;
  }

  async pids(): Promise<number[]> {
    return collectPids(this.procsDir());
  }

  async signalAll(signo: number): Promise<void> {
    const frozen = this.dir('freezer') !== undefined && (await this.exists());
    if (frozen) await this.freeze();
    try {
      for (const pid of await this.pids()) signalPid(pid, signo);
    } finally {
      if (frozen) await this.thaw();
    }
  }

  /** Freeze, SIGKILL each process, thaw; again until the cgroup is empty. */
  async killAll(): Promise<void> {
    for (let round = 0; round < 50; round++) {
      if ((await this.pids()).length === 0) return;
      await this.signalAll(SIGKILL);
      if (await waitUntil(async () => (await this.pids()).length === 0, 100)) return;
    }
    const left = await this.pids();
    if (left.length > 0) throw new CgroupError(`EBUSY: processes ${left.slice(0, 10).join(', ')} survive SIGKILL in ${this.procsDir()}`, { code: 'EBUSY', path: this.procsDir() });
  }

  async destroy(): Promise<void> {
    const errors: unknown[] = [];
    await Promise.all(Object.values(this.dirs).map(async (d) => {
      try {
        await removeCgroupDir(d);
        await pruneAncestors(d, this.paths.pruneParents ?? 0);
      } catch (err) {
        errors.push(err);
      }
    }));
    if (errors.length > 0) throw errors[0];
  }

  async exists(): Promise<boolean> {
    return fileExists(this.procsDir(), 'cgroup.procs');
  }

  async oomKillCount(): Promise<number> {
    const d = this.dir('memory');
    if (!d) return 0;
    const kv = parseKeyValues(await readOptional(d, 'memory.oom_control'));
    // Kernels before 4.13 have no oom_kill line: being under OOM is the best sign there is.
    return kv.oom_kill ?? (kv.under_oom === 1 ? 1 : 0);
  }

  watchOom(listener: (event: OomEvent) => void): OomWatch | null {
    const d = this.dir('memory');
    if (!d) return null;
    return watchOomV1(d, (e) => { this.oomEvents++; listener(e); });
  }
}

/** v1 reports "unlimited" as a huge page-aligned number; make it -1. */
function v1Unlimited(n: number): number {
  return n >= 2 ** 62 ? -1 : n;
}

function depth(p: string): number {
  return p.split('/').filter((c) => c !== '').length;
}

/** The names in a directory ([] when it is gone). */
export async function listFiles(dir: string): Promise<string[]> {
  return fsp.readdir(dir).catch(() => []);
}

/** Page sizes with a hugetlb.<size><suffix> file. */
export function hugetlbSizes(files: readonly string[], suffix: string): string[] {
  return files.filter((f) => f.startsWith('hugetlb.') && f.endsWith(suffix)).map((f) => f.slice('hugetlb.'.length, -suffix.length)).filter((s) => !s.includes('.'));
}

/**
 * Copies cpuset.cpus and cpuset.mems down from the nearest configured ancestor to every empty
 * level (a new v1 cpuset is empty and refuses tasks). Each level's files are read once, on the
 * way up; the values found are written on the way down.
 */
async function fillCpuset(leaf: string): Promise<void> {
  const chain: Array<{ dir: string; cpus: string; mems: string }> = [];
  let found: { cpus: string; mems: string } | null = null;
  for (let d = leaf; ; d = path.dirname(d)) {
    const [cpus, mems] = await Promise.all([readOptional(d, 'cpuset.cpus'), readOptional(d, 'cpuset.mems')]);
    if (cpus === null || mems === null) break;
    const level = { dir: d, cpus: cpus.trim(), mems: mems.trim() };
    if (level.cpus !== '' && level.mems !== '') {
      found = level;
      break;
    }
    chain.push(level);
    if (d === '/') break;
  }
  if (!found) return; // nothing to copy: joining will fail with ENOSPC, naming the cgroup
  let above = found;
  for (const level of chain.reverse()) {
    const cpus = level.cpus === '' ? above.cpus : level.cpus;
    const mems = level.mems === '' ? above.mems : level.mems;
    if (level.cpus === '') await writeCgroupFile(level.dir, 'cpuset.cpus', cpus);
    if (level.mems === '') await writeCgroupFile(level.dir, 'cpuset.mems', mems);
    above = { cpus, mems };
  }
}
