/**
 * Which cgroup layout this host has, read from /proc/self/mountinfo and /proc/self/cgroup:
 * `v1` (controller hierarchies only), `v2` (one cgroup2 at /sys/fs/cgroup) or `hybrid` (v1
 * hierarchies plus a cgroup2 at /sys/fs/cgroup/unified). Also where this process sits in each
 * hierarchy, for relative cgroup paths.
 * @module
 */
import fs from 'node:fs';

/** The cgroup layouts berth drives. */
export type CgroupMode = 'v1' | 'v2' | 'hybrid';

/** The base directory under which the host's cgroup filesystems are mounted. */
export const CGROUP_ROOT = '/sys/fs/cgroup';

/** One mounted cgroup v1 hierarchy. */
export interface V1Hierarchy {
  /** Where it is mounted (`/sys/fs/cgroup/memory`). */
  mountPoint: string;
  /** The cgroup mounted there, relative to the hierarchy root (`/` on the host). */
  root: string;
  /** Its controllers and `name=` (`["cpu", "cpuacct"]`, `["name=systemd"]`), sorted. */
  controllers: string[];
}

/** A mounted cgroup2 filesystem. */
export interface V2Mount {
  /** Where it is mounted. */
  mountPoint: string;
  /** The cgroup mounted there, relative to the hierarchy root. */
  root: string;
}

/** The cgroup layout of a host. */
export interface CgroupHost {
  /** The layout, or `none` when no cgroup filesystem is mounted. */
  mode: CgroupMode | 'none';
  /** The v1 hierarchies (empty on v2). */
  v1: V1Hierarchy[];
  /** The cgroup2 mount: /sys/fs/cgroup on v2, /sys/fs/cgroup/unified on hybrid. */
  unified: V2Mount | null;
  /** This process's cgroup per hierarchy, keyed by the sorted controller list (`""` for v2). */
  self: Record<string, string>;
}

interface MountLine {
  root: string;
  mountPoint: string;
  fstype: string;
  superOptions: string[];
}

const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

function parseMountinfo(text: string): MountLine[] {
  const out: MountLine[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f.length < sep + 3) continue;
    out.push({ root: unescape(f[3]!), mountPoint: unescape(f[4]!), fstype: f[sep + 1]!, superOptions: (f[sep + 3] ?? '').split(',') });
  }
  return out;
}

const NOT_CONTROLLERS = new Set(['rw', 'ro', 'none', 'all', 'noprefix', 'clone_children', 'cpuset_v2_mode', 'xattr', 'favordynmods', 'nofavordynmods', '']);

/** The key of a hierarchy: its sorted controllers (and name=) joined with commas. */
export function hierarchyKey(controllers: readonly string[]): string {
  return [...controllers].sort().join(',');
}

/** Works out the layout from the text of /proc/self/mountinfo and /proc/self/cgroup. */
export function parseCgroupHost(mountinfo: string, selfCgroup = ''): CgroupHost {
  // Mounts under /sys/fs/cgroup in order; a later mount on a point hides an earlier one, and a
  // mount on /sys/fs/cgroup itself hides everything below it.
  let v2Root: V2Mount | null = null;
  let below = new Map<string, MountLine>();
  for (const m of parseMountinfo(mountinfo)) {
    if (m.mountPoint === CGROUP_ROOT) {
      v2Root = m.fstype === 'cgroup2' ? { mountPoint: m.mountPoint, root: m.root } : null;
      below = new Map();
    } else if (m.mountPoint.startsWith(`${CGROUP_ROOT}/`)) {
      for (const key of [...below.keys()]) if (key === m.mountPoint || key.startsWith(`${m.mountPoint}/`)) below.delete(key);
      below.set(m.mountPoint, m);
    }
  }
  const self: Record<string, string> = {};
  for (const line of selfCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (m) self[hierarchyKey(m[2]!.split(',').filter((c) => c !== ''))] = m[3]!;
  }
  if (v2Root) return { mode: 'v2', v1: [], unified: v2Root, self };
  const v1: V1Hierarchy[] = [];
  const seen = new Set<string>();
  let unified: V2Mount | null = null;
  for (const m of below.values()) {
    if (m.fstype === 'cgroup2' && m.mountPoint === `${CGROUP_ROOT}/unified`) unified = { mountPoint: m.mountPoint, root: m.root };
    if (m.fstype !== 'cgroup') continue;
    const controllers = m.superOptions.filter((o) => !NOT_CONTROLLERS.has(o) && !o.startsWith('release_agent=')).sort();
    const key = hierarchyKey(controllers);
    if (controllers.length === 0 || seen.has(key)) continue;
    seen.add(key);
    v1.push({ mountPoint: m.mountPoint, root: m.root, controllers });
  }
  if (v1.length === 0) return { mode: unified ? 'v2' : 'none', v1: [], unified, self };
  return { mode: unified ? 'hybrid' : 'v1', v1, unified, self };
}

let cached: CgroupHost | undefined;

/** The cgroup layout of this host (read once; `refresh` re-reads). */
export function cgroupHost(options: { refresh?: boolean } = {}): CgroupHost {
  if (!cached || options.refresh) {
    const read = (f: string): string => { try { return fs.readFileSync(f, 'utf8'); } catch { return ''; } };
    cached = parseCgroupHost(read('/proc/self/mountinfo'), read('/proc/self/cgroup'));
  }
  return cached;
}

/** Parses a cpuset list (`0-3,6`) into a sorted set of numbers; null when malformed. */
export function parseCpuList(text: string): number[] | null {
  const out = new Set<number>();
  const t = text.trim();
  if (t === '') return [];
  for (const part of t.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return null;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 1 << 16) return null;
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

/** The CPUs and memory nodes this host has online, and its huge page sizes (`2MB`, `1GB`). */
export interface HostResources {
  /** Online CPUs. */
  cpus: number[];
  /** Online memory nodes. */
  mems: number[];
  /** Huge page sizes, in the cgroup file form. */
  hugepageSizes: string[];
}

/** Reads the online CPUs and nodes and the huge page sizes from /sys. */
export function hostResources(): HostResources {
  const list = (file: string, fallback: string): number[] => {
    try { return parseCpuList(fs.readFileSync(file, 'utf8')) ?? []; } catch { return parseCpuList(fallback) ?? []; }
  };
  let sizes: string[] = [];
  try {
    sizes = fs.readdirSync('/sys/kernel/mm/hugepages').map((d) => /^hugepages-(\d+)kB$/.exec(d)).filter((m) => m !== null)
      .map((m) => hugepageSizeName(Number(m![1]) * 1024));
  } catch { /* no hugetlb */ }
  return { cpus: list('/sys/devices/system/cpu/online', '0'), mems: list('/sys/devices/system/node/online', '0'), hugepageSizes: sizes };
}

/** The cgroup file name form of a page size in bytes: 2097152 → `2MB`, 1073741824 → `1GB`. */
export function hugepageSizeName(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let n = bytes;
  while (n >= 1024 && n % 1024 === 0 && i < units.length - 1) { n /= 1024; i++; }
  return `${n}${units[i]}`;
}
