/**
 * What a cgroup reports about itself, the same on every backend (runc's cgroups.Stats):
 * CPU time in nanoseconds, memory in bytes, block I/O per device. {@link toRuncStats} gives the
 * shape `runc events --stats` prints.
 * @module
 */

/** CPU time used, in nanoseconds. */
export interface CpuUsage {
  /** All CPU time. */
  total: number;
  /** Per CPU (v1 only; empty on v2). */
  perCpu: number[];
  /** Kernel time per CPU (v1 only). */
  perCpuKernel: number[];
  /** User time per CPU (v1 only). */
  perCpuUser: number[];
  /** Kernel time. */
  kernel: number;
  /** User time. */
  user: number;
}

/** CFS throttling. */
export interface CpuThrottling {
  /** Enforcement periods that have elapsed. */
  periods: number;
  /** Periods in which the cgroup was throttled. */
  throttledPeriods: number;
  /** Time throttled, in nanoseconds. */
  throttledTime: number;
}

/** One memory counter with its peak, failures and limit (bytes; limit -1: unlimited). */
export interface MemoryEntry {
  /** Current usage. */
  usage: number;
  /** Peak usage (0 when the kernel does not report it). */
  max: number;
  /** Times the limit was hit (v2: memory.events max). */
  failcnt: number;
  /** The limit, -1 when unlimited. */
  limit: number;
}

/** Memory statistics. */
export interface MemoryStats {
  /** Memory (v1 memory.usage_in_bytes, v2 memory.current). */
  usage: MemoryEntry;
  /** Memory plus swap on v1 (memsw); swap alone on v2. */
  swap: MemoryEntry;
  /** Page cache (v1 `cache`, v2 `file`). */
  cache: number;
  /** Anonymous memory (v1 `rss`, v2 `anon`). */
  rss: number;
  /** Times the cgroup hit its limit and the OOM killer was invoked (v2 memory.events oom; v1: OOM events seen by this process). */
  oom: number;
  /** Processes the OOM killer killed (v1 oom_control oom_kill, v2 memory.events oom_kill). */
  oomKill: number;
  /** The cgroup is under OOM right now (v1 oom_control under_oom). */
  underOom: boolean;
  /** Every memory.stat counter. */
  raw: Record<string, number>;
}

/** Task counts. */
export interface PidsStats {
  /** Tasks in the cgroup. */
  current: number;
  /** The limit; 0 when unlimited. */
  limit: number;
}

/** One block I/O counter of one device. */
export interface BlkioEntry {
  /** Device major. */
  major: number;
  /** Device minor. */
  minor: number;
  /** `Read`, `Write`, `Sync`, `Async`, `Discard`, `Total`. */
  op: string;
  /** Bytes or operations. */
  value: number;
}

/** Block I/O statistics. */
export interface BlkioStats {
  /** Bytes transferred per device and op. */
  ioServiceBytesRecursive: BlkioEntry[];
  /** Operations per device and op. */
  ioServicedRecursive: BlkioEntry[];
}

/** Hugetlb usage of one page size. */
export interface HugetlbStats {
  /** Bytes in use. */
  usage: number;
  /** Peak bytes in use (v1 only). */
  max: number;
  /** Allocations that failed at the limit. */
  failcnt: number;
}

/** CPU statistics. */
export interface CpuStats {
  /** Time used. */
  usage: CpuUsage;
  /** CFS throttling. */
  throttling: CpuThrottling;
}

/** Everything a cgroup reports. */
export interface CgroupStats {
  /** CPU. */
  cpu: CpuStats;
  /** Memory. */
  memory: MemoryStats;
  /** Tasks. */
  pids: PidsStats;
  /** Block I/O. */
  blkio: BlkioStats;
  /** Hugetlb by page size (`2MB`). */
  hugetlb: Record<string, HugetlbStats>;
}

const emptyMemoryEntry = (): MemoryEntry => ({ usage: 0, max: 0, failcnt: 0, limit: -1 });

/** A stats object with every counter at zero. */
export function emptyStats(): CgroupStats {
  return {
    cpu: {
      usage: { total: 0, perCpu: [], perCpuKernel: [], perCpuUser: [], kernel: 0, user: 0 },
      throttling: { periods: 0, throttledPeriods: 0, throttledTime: 0 },
    },
    memory: { usage: emptyMemoryEntry(), swap: emptyMemoryEntry(), cache: 0, rss: 0, oom: 0, oomKill: 0, underOom: false, raw: {} },
    pids: { current: 0, limit: 0 },
    blkio: { ioServiceBytesRecursive: [], ioServicedRecursive: [] },
    hugetlb: {},
  };
}

/** Parses v1 blkio lines (`8:0 Read 1282048`), skipping the `Total` line. */
export function parseBlkioV1(text: string | null): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3]!, value: Number(m[4]) });
  }
  return out;
}

/** Parses v2 io.stat (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`) into v1-style entries. */
export function parseIoStat(text: string | null): BlkioStats {
  const out: BlkioStats = { ioServiceBytesRecursive: [], ioServicedRecursive: [] };
  for (const line of (text ?? '').split('\n')) {
    const [dev, ...kv] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!m) continue;
    const major = Number(m[1]);
    const minor = Number(m[2]);
    const v = Object.fromEntries(kv.map((p) => p.split('=')).map(([k, n]) => [k, Number(n)]));
    const push = (list: BlkioEntry[], op: string, key: string): void => { if (v[key] !== undefined) list.push({ major, minor, op, value: v[key]! }); };
    push(out.ioServiceBytesRecursive, 'Read', 'rbytes');
    push(out.ioServiceBytesRecursive, 'Write', 'wbytes');
    push(out.ioServiceBytesRecursive, 'Discard', 'dbytes');
    push(out.ioServicedRecursive, 'Read', 'rios');
    push(out.ioServicedRecursive, 'Write', 'wios');
    push(out.ioServicedRecursive, 'Discard', 'dios');
  }
  return out;
}

/** runc's JSON for a memory entry. */
function runcMemoryEntry(e: MemoryEntry): Record<string, number> {
  return { limit: e.limit < 0 ? 2 ** 63 - 4096 : e.limit, ...(e.usage ? { usage: e.usage } : {}), ...(e.max ? { max: e.max } : {}), failcnt: e.failcnt };
}

/** The `data` object of `runc events --stats` (its JSON field names). */
export function toRuncStats(s: CgroupStats): Record<string, unknown> {
  const nz = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== 0 && !(Array.isArray(v) && v.length === 0)));
  return {
    cpu: {
      usage: { ...nz({ total: s.cpu.usage.total, percpu: s.cpu.usage.perCpu, percpu_kernel: s.cpu.usage.perCpuKernel, percpu_user: s.cpu.usage.perCpuUser }), kernel: s.cpu.usage.kernel, user: s.cpu.usage.user },
      throttling: nz({ periods: s.cpu.throttling.periods, throttledPeriods: s.cpu.throttling.throttledPeriods, throttledTime: s.cpu.throttling.throttledTime }),
    },
    memory: {
      ...(s.memory.cache ? { cache: s.memory.cache } : {}),
      usage: runcMemoryEntry(s.memory.usage),
      swap: runcMemoryEntry(s.memory.swap),
      raw: s.memory.raw,
    },
    pids: nz({ current: s.pids.current, limit: s.pids.limit }),
    blkio: {
      ...(s.blkio.ioServiceBytesRecursive.length ? { ioServiceBytesRecursive: s.blkio.ioServiceBytesRecursive } : {}),
      ...(s.blkio.ioServicedRecursive.length ? { ioServicedRecursive: s.blkio.ioServicedRecursive } : {}),
    },
    hugetlb: Object.fromEntries(Object.entries(s.hugetlb).map(([k, h]) => [k, { ...nz({ usage: h.usage, max: h.max }), failcnt: h.failcnt }])),
    intel_rdt: {},
    network_interfaces: null,
  };
}
