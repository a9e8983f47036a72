/**
 * The cgroup v2 backend (`fs2`): one directory on the unified hierarchy. Controllers are
 * enabled on the way down (cgroup.subtree_control of every ancestor) only when a resource
 * needs them, so a host's subtree_control is changed no more than the limits ask. OCI values
 * are converted as runc and crun do (shares → weight, blkio weight → io.weight, memsw → swap).
 * Devices are an eBPF program; freeze, kill and events are the core files every v2 cgroup has.
 * @module
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, UnsupportedError } from '../errors.js';
import * as native from '../native/index.js';
import { blkioWeightToIoWeight, cpuSharesToWeight, memorySwapToV2, v2Limit } from './convert.js';
import { deviceFilterProgram, encodeProgram } from './device-filter.js';
import { CgroupError, CgroupLimitError } from './errors.js';
import {
  fileExists, makeCgroupDir, parseKeyValues, parseValue, readCgroupFile, readOptional, removeCgroupDir, writeCgroupFile,
} from './files.js';
import { hugetlbSizes, listFiles } from './fs.js';
import type { CgroupMode } from './host.js';
import type { CgroupManager, FreezerState, OomEvent, OomWatch } from './manager.js';
import { watchOomV2 } from './oom.js';
import type { CgroupPaths } from './paths.js';
import { collectPids, pruneAncestors, signalPid, waitUntil } from './procs.js';
import type { LinuxBlockIO, LinuxCPU, LinuxHugepageLimit, LinuxMemory, LinuxRdma } from './resources.js';
import { emptyStats, parseIoStat, type CgroupStats, type HugetlbStats } from './stats.js';
import type { DeviceRule, Resources } from './validate.js';

const SIGKILL = 9;

/** The cgroup v2 manager. */
export class Fs2Manager implements CgroupManager {
  readonly mode: CgroupMode = 'v2';
  readonly paths: CgroupPaths;
  /** The cgroup's directory. */
  readonly dir: string;
  /** The cgroup2 mount point it is under. */
  readonly mount: string;

  constructor(paths: CgroupPaths) {
    if (!paths.unified || !paths.unifiedMount) {
      throw new CgroupError('a cgroup v2 manager needs its directory and mount point', { code: 'EINVAL', path: paths.path });
    }
    if (paths.unified === paths.unifiedMount || !paths.unified.startsWith(`${paths.unifiedMount}/`)) {
      throw new CgroupError(`${paths.unified} is not below the cgroup2 mount ${paths.unifiedMount}`, { code: 'EINVAL', path: paths.unified });
    }
    this.paths = paths;
    this.dir = paths.unified;
    this.mount = paths.unifiedMount;
  }

  procsFiles(): string[] {
    return [path.join(this.dir, 'cgroup.procs')];
  }

  async create(): Promise<number> {
    const first = await makeCgroupDir(this.dir);
    if (first === null) return 0;
    return this.dir.split('/').length - first.split('/').length;
  }

  async join(pid: number): Promise<void> {
    await writeCgroupFile(this.dir, 'cgroup.procs', String(pid));
  }

  /**
   * Makes `controllers` available in this cgroup: `+name` in cgroup.subtree_control of every
   * ancestor from the mount down, where it is not already. Throws an UnsupportedError naming
   * `field` when the host does not offer one.
   */
  async enableControllers(controllers: readonly string[], field: string): Promise<void> {
    const have = new Set((await readOptional(this.dir, 'cgroup.controllers') ?? '').trim().split(/\s+/));
    const missing = controllers.filter((c) => !have.has(c));
    if (missing.length === 0) return;
    const levels: string[] = [];
    for (let d = path.dirname(this.dir); ; d = path.dirname(d)) {
      levels.unshift(d);
      if (d === this.mount || d === '/') break;
    }
    for (const level of levels) {
      const offered = new Set((await readOptional(level, 'cgroup.controllers') ?? '').trim().split(/\s+/));
      const enabled = new Set((await readOptional(level, 'cgroup.subtree_control') ?? '').trim().split(/\s+/));
      for (const c of missing) {
        if (!offered.has(c)) {
          throw new UnsupportedError(`the ${c} controller is not available in ${level} (cgroup.controllers: ${[...offered].filter(Boolean).join(' ') || 'none'})`, field);
        }
        if (enabled.has(c)) continue;
        try {
          await writeCgroupFile(level, 'cgroup.subtree_control', `+${c}`);
        } catch (err) {
          const code = (err as CgroupError).code;
          throw new CgroupError(
            `${code}: cannot enable the ${c} controller below ${level}${code === 'EBUSY' ? ' (it has processes of its own: cgroup v2 allows controllers only on cgroups without them)' : ''}`,
            { code, path: path.join(level, 'cgroup.subtree_control'), cause: err },
          );
        }
      }
    }
  }

  async set(r: Resources, field = 'linux.resources'): Promise<void> {
    const want: Array<[string, string]> = [];
    const m = r.memory;
    if (m && (m.limit || m.reservation || m.swap)) want.push(['memory', `${field}.memory`]);
    const c = r.cpu;
    if (c && (c.shares || c.quota || c.period || c.burst !== undefined || c.idle !== undefined)) want.push(['cpu', `${field}.cpu`]);
    if (c && (c.cpus !== undefined || c.mems !== undefined)) want.push(['cpuset', `${field}.cpu`]);
    if (r.pids && r.pids.limit !== 0) want.push(['pids', `${field}.pids`]);
    const b = r.blockIO;
    if (b && (b.weight || b.weightDevice?.length || b.throttleReadBpsDevice?.length || b.throttleWriteBpsDevice?.length
      || b.throttleReadIOPSDevice?.length || b.throttleWriteIOPSDevice?.length)) want.push(['io', `${field}.blockIO`]);
    if (r.hugepageLimits?.length) want.push(['hugetlb', `${field}.hugepageLimits`]);
    if (r.rdma && Object.keys(r.rdma).length > 0) want.push(['rdma', `${field}.rdma`]);
    for (const [ctrl, f] of want) await this.enableControllers([ctrl], f);

    if (r.pids && r.pids.limit !== 0) await writeCgroupFile(this.dir, 'pids.max', v2Limit(r.pids.limit), `${field}.pids.limit`);
    if (m) await this.setMemory(m, `${field}.memory`);
    if (b) await this.setIo(b, `${field}.blockIO`);
    if (c) await this.setCpu(c, `${field}.cpu`);
    if (r.devices !== undefined) await this.setDevices(r.devices, `${field}.devices`);
    if (c?.cpus !== undefined) await writeCgroupFile(this.dir, 'cpuset.cpus', c.cpus, `${field}.cpu.cpus`);
    if (c?.mems !== undefined) await writeCgroupFile(this.dir, 'cpuset.mems', c.mems, `${field}.cpu.mems`);
    if (r.hugepageLimits) await this.setHugetlb(r.hugepageLimits, `${field}.hugepageLimits`);
    if (r.rdma) await this.setRdma(r.rdma, `${field}.rdma`);
    if (r.network && (r.network.classID !== undefined || r.network.priorities?.length)) {
      throw new UnsupportedError('net_cls and net_prio do not exist on cgroup v2 (use eBPF or nftables cgroup matching)', `${field}.network`);
    }
    if (r.unified) await this.setUnified(r.unified, `${field}.unified`);
  }

  /** Writes memory.max, memory.low and memory.swap.max (swap converted from memory+swap). */
  protected async setMemory(m: LinuxMemory, field: string): Promise<void> {
    if (!(m.limit || m.reservation || m.swap)) return;
    if (m.checkBeforeUpdate && m.limit && m.limit > 0) {
      const usage = parseValue(await readCgroupFile(this.dir, 'memory.current'));
      if (usage > m.limit) throw new ConfigError(`${m.limit} is below the current usage ${usage} (checkBeforeUpdate)`, `${field}.limit`, 'EBUSY');
    }
    const swap = memorySwapToV2(m.swap, m.limit, `${field}.swap`);
    if (swap !== null) {
      const value = v2Limit(swap);
      try {
        await writeCgroupFile(this.dir, 'memory.swap.max', value, `${field}.swap`);
      } catch (err) {
        // No swap accounting: "no limit" and "no swap" both hold already.
        if (!((err as CgroupError).code === 'ENOENT' && (value === 'max' || value === '0'))) throw err;
      }
    }
    if (m.limit) await writeCgroupFile(this.dir, 'memory.max', v2Limit(m.limit), `${field}.limit`);
    if (m.reservation) await writeCgroupFile(this.dir, 'memory.low', v2Limit(m.reservation), `${field}.reservation`);
    // swappiness and disableOOMKiller have no v2 file; like crun, they are ignored here.
  }

  /** Writes cpu.weight (from shares), cpu.max (a period alone keeps the quota), cpu.max.burst and cpu.idle. */
  protected async setCpu(c: LinuxCPU, field: string): Promise<void> {
    if (c.realtimePeriod || c.realtimeRuntime) {
      throw new UnsupportedError('realtime CPU limits do not exist on cgroup v2', `${field}.${c.realtimePeriod ? 'realtimePeriod' : 'realtimeRuntime'}`);
    }
    if (c.idle !== undefined) await writeCgroupFile(this.dir, 'cpu.idle', String(c.idle), `${field}.idle`);
    if (c.shares) await writeCgroupFile(this.dir, 'cpu.weight', String(cpuSharesToWeight(c.shares)), `${field}.shares`);
    let burstLater = false;
    if (c.burst !== undefined) {
      try {
        await writeCgroupFile(this.dir, 'cpu.max.burst', String(c.burst), `${field}.burst`);
      } catch (err) {
        if (!(err instanceof CgroupLimitError && err.code === 'EINVAL' && c.quota)) throw err;
        burstLater = true;
      }
    }
    if (c.quota || c.period) {
      // A period alone keeps the current quota (runc would reset it to max).
      const [curQuota, curPeriod] = (await readCgroupFile(this.dir, 'cpu.max')).trim().split(/\s+/);
      const quota = c.quota ? v2Limit(c.quota) : curQuota ?? 'max';
      const period = c.period || Number(curPeriod) || 100000;
      await writeCgroupFile(this.dir, 'cpu.max', `${quota} ${period}`, `${field}.${c.quota ? 'quota' : 'period'}`);
      if (burstLater) await writeCgroupFile(this.dir, 'cpu.max.burst', String(c.burst), `${field}.burst`);
    }
  }

  /** Writes io.bfq.weight (raw) or io.weight (converted), and io.max throttles. */
  protected async setIo(b: LinuxBlockIO, field: string): Promise<void> {
    const bfq = await fileExists(this.dir, 'io.bfq.weight');
    if (b.weight) {
      if (bfq) await writeCgroupFile(this.dir, 'io.bfq.weight', String(b.weight), `${field}.weight`);
      else await writeCgroupFile(this.dir, 'io.weight', String(blkioWeightToIoWeight(b.weight)), `${field}.weight`);
    }
    for (const [i, w] of (b.weightDevice ?? []).entries()) {
      if (!w.weight) continue;
      if (bfq) await writeCgroupFile(this.dir, 'io.bfq.weight', `${w.major}:${w.minor} ${w.weight}`, `${field}.weightDevice[${i}].weight`);
      else await writeCgroupFile(this.dir, 'io.weight', `${w.major}:${w.minor} ${blkioWeightToIoWeight(w.weight)}`, `${field}.weightDevice[${i}].weight`);
    }
    const throttles = [
      ['throttleReadBpsDevice', 'rbps'], ['throttleWriteBpsDevice', 'wbps'], ['throttleReadIOPSDevice', 'riops'], ['throttleWriteIOPSDevice', 'wiops'],
    ] as const;
    for (const [key, name] of throttles) {
      for (const [i, t] of (b[key] ?? []).entries()) {
        await writeCgroupFile(this.dir, 'io.max', `${t.major}:${t.minor} ${name}=${t.rate === 0 ? 'max' : t.rate}`, `${field}.${key}[${i}]`);
      }
    }
  }

  /** Compiles the rules into an eBPF program and attaches it to the cgroup (replacing the previous one). */
  protected async setDevices(rules: DeviceRule[], field: string): Promise<void> {
    const prog = encodeProgram(deviceFilterProgram(rules, field));
    try {
      native.attachDeviceFilter(this.dir, prog);
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'EIO';
      throw new CgroupError(`${code}: cannot attach the device eBPF program to ${this.dir} (${field}): ${(err as Error).message}`, { code, path: this.dir, cause: err });
    }
  }

  /** Enables hugetlb and writes hugetlb.<size>.max. */
  async setHugetlb(limits: LinuxHugepageLimit[], field: string): Promise<void> {
    await this.enableControllers(['hugetlb'], field);
    for (const [i, h] of limits.entries()) await writeCgroupFile(this.dir, `hugetlb.${h.pageSize}.max`, String(h.limit), `${field}[${i}].limit`);
  }

  /** Writes rdma.max. */
  protected async setRdma(r: Record<string, LinuxRdma>, field: string): Promise<void> {
    for (const [dev, l] of Object.entries(r)) {
      await writeCgroupFile(this.dir, 'rdma.max', `${dev} hca_handle=${l.hcaHandles ?? 'max'} hca_object=${l.hcaObjects ?? 'max'}`, `${field}.${dev}`);
    }
  }

  /** Writes each `unified` entry verbatim (line by line), enabling its controller first when the host offers it. */
  async setUnified(u: Record<string, string>, field: string): Promise<void> {
    for (const [key, value] of Object.entries(u)) {
      const ctrl = key.split('.')[0]!;
      if (ctrl !== 'cgroup') await this.enableControllers([ctrl], `${field}.${key}`).catch(() => undefined);
      try {
        for (const line of value.split('\n').filter((l, _i, all) => l !== '' || all.length === 1)) {
          await writeCgroupFile(this.dir, key, line, `${field}.${key}`);
        }
      } catch (err) {
        if ((err as CgroupError).code === 'ENOENT') {
          throw new UnsupportedError(`${path.join(this.dir, key)} does not exist (the ${ctrl} controller is not available here)`, `${field}.${key}`);
        }
        throw err;
      }
    }
  }

  async stats(): Promise<CgroupStats> {
    const s = emptyStats();
    const d = this.dir;
    const num = (t: string | null): number => (t === null ? 0 : parseValue(t));
    const [cpu, memStat, events, current, peak, max, swCur, swMax, swPeak, pCur, pMax, io, hugetlb] = await Promise.all([
      readOptional(d, 'cpu.stat').then(parseKeyValues), readOptional(d, 'memory.stat').then(parseKeyValues),
      readOptional(d, 'memory.events').then(parseKeyValues), readOptional(d, 'memory.current'), readOptional(d, 'memory.peak'),
      readOptional(d, 'memory.max'), readOptional(d, 'memory.swap.current'), readOptional(d, 'memory.swap.max'),
      readOptional(d, 'memory.swap.peak'), readOptional(d, 'pids.current'), readOptional(d, 'pids.max'),
      readOptional(d, 'io.stat'), this.hugetlbStats(),
    ]);
    s.cpu.usage = { total: (cpu.usage_usec ?? 0) * 1000, perCpu: [], perCpuKernel: [], perCpuUser: [], user: (cpu.user_usec ?? 0) * 1000, kernel: (cpu.system_usec ?? 0) * 1000 };
    s.cpu.throttling = { periods: cpu.nr_periods ?? 0, throttledPeriods: cpu.nr_throttled ?? 0, throttledTime: (cpu.throttled_usec ?? 0) * 1000 };
    s.memory = {
      usage: { usage: num(current), max: num(peak), failcnt: events.max ?? 0, limit: max === null ? -1 : num(max) },
      swap: { usage: num(swCur), max: num(swPeak), failcnt: events.swap_max ?? 0, limit: swMax === null ? -1 : num(swMax) },
      cache: memStat.file ?? 0, rss: memStat.anon ?? 0, raw: memStat,
      oom: events.oom ?? 0, oomKill: events.oom_kill ?? 0, underOom: false,
    };
    const limit = num(pMax);
    s.pids = { current: num(pCur), limit: limit < 0 ? 0 : limit };
    s.blkio = parseIoStat(io);
    s.hugetlb = hugetlb;
    return s;
  }

  /** Hugetlb usage per page size (hugetlb.<size>.current and .events max). */
  async hugetlbStats(): Promise<Record<string, HugetlbStats>> {
    const out: Record<string, HugetlbStats> = {};
    for (const size of hugetlbSizes(await listFiles(this.dir), '.current')) {
      const [cur, ev] = await Promise.all([readOptional(this.dir, `hugetlb.${size}.current`), readOptional(this.dir, `hugetlb.${size}.events`)]);
      out[size] = { usage: cur === null ? 0 : parseValue(cur), max: 0, failcnt: parseKeyValues(ev).max ?? 0 };
    }
    return out;
  }

  /** Writes cgroup.freeze and waits for cgroup.events to say `frozen 1`. */
  async freeze(): Promise<void> {
    if (!(await fileExists(this.dir, 'cgroup.freeze'))) throw new UnsupportedError(`${this.dir} has no cgroup.freeze (kernel older than 5.2?)`, 'freezer');
    await writeCgroupFile(this.dir, 'cgroup.freeze', '1');
    if (!(await waitUntil(async () => (await this.events()).frozen === 1, 10_000, 2))) {
      await writeCgroupFile(this.dir, 'cgroup.freeze', '0').catch(() => undefined);
      throw new CgroupError(`ETIMEDOUT: ${this.dir} did not report frozen within 10 s`, { code: 'ETIMEDOUT', path: this.dir });
    }
  }

  async thaw(): Promise<void> {
    if (await fileExists(this.dir, 'cgroup.freeze')) await writeCgroupFile(this.dir, 'cgroup.freeze', '0');
  }

  async freezerState(): Promise<FreezerState> {
    const t = (await readOptional(this.dir, 'cgroup.freeze'))?.trim();
    if (t === undefined) return 'undefined';
    if (t === '0') return 'thawed';
    return (await this.events()).frozen === 1 ? 'frozen' : 'freezing';
  }

  /** The counters of cgroup.events (`populated`, `frozen`). */
  async events(): Promise<Record<string, number>> {
    return parseKeyValues(await readOptional(this.dir, 'cgroup.events'));
  }

  async pids(): Promise<number[]> {
    return collectPids(this.dir);
  }

  async signalAll(signo: number): Promise<void> {
    const canFreeze = await fileExists(this.dir, 'cgroup.freeze');
    const wasFrozen = canFreeze && (await this.freezerState()) === 'frozen';
    if (canFreeze && !wasFrozen) await this.freeze();
    try {
      for (const pid of await this.pids()) signalPid(pid, signo);
    } finally {
      if (canFreeze && !wasFrozen) await this.thaw();
    }
  }

  /** cgroup.kill (kernel 5.14+) kills every process of the subtree at once, frozen or not; then waits for `populated 0`. */
  async killAll(): Promise<void> {
    if (await fileExists(this.dir, 'cgroup.kill')) {
      await writeCgroupFile(this.dir, 'cgroup.kill', '1');
    } else {
      await this.signalAll(SIGKILL);
    }
    if (!(await waitUntil(async () => (await this.events()).populated !== 1, 5000, 2))) {
      const left = await this.pids();
      throw new CgroupError(`EBUSY: processes are still in ${this.dir} after SIGKILL: ${left.slice(0, 10).map(describePid).join(', ') || 'none listed'}`, { code: 'EBUSY', path: this.dir });
    }
  }

  async destroy(): Promise<void> {
    await removeCgroupDir(this.dir);
    await pruneAncestors(this.dir, this.paths.pruneParents ?? 0);
  }

  async exists(): Promise<boolean> {
    return fileExists(this.dir, 'cgroup.procs');
  }

  async oomKillCount(): Promise<number> {
    return parseKeyValues(await readOptional(this.dir, 'memory.events')).oom_kill ?? 0;
  }

  watchOom(listener: (event: OomEvent) => void): OomWatch | null {
    return watchOomV2(this.dir, listener);
  }
}

/** `pid (comm) state` from /proc, for error messages. */
function describePid(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return `${pid} ${stat.slice(stat.indexOf('('), stat.lastIndexOf(')') + 1)} ${stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)}`;
  } catch {
    return `${pid}`;
  }
}
