/**
 * Facts about the host that the plan depends on (filesystem types, cgroup layout, rlimits,
 * capabilities), read once from /proc and cached. Tests build them from text with
 * {@link hostFactsFromText}, so the policy in `plan.ts` stays pure.
 * @module
 */
import fs from 'node:fs';
import { parseProcLimits, type HostLimit } from './rlimits.js';

/** One cgroup v1 hierarchy mounted under /sys/fs/cgroup. */
export interface CgroupHierarchy {
  /** Directory name under /sys/fs/cgroup (`cpu`, `cpu,cpuacct`, `systemd`). */
  dir: string;
  /** Mount data selecting the hierarchy: its controllers and `name=`, e.g. `cpu,cpuacct` or `name=systemd`. */
  options: string;
}

/** How cgroups are mounted on the host. */
export interface CgroupLayout {
  /** `v2`: one cgroup2 at /sys/fs/cgroup; `v1`: only v1 hierarchies; `hybrid`: v1 plus cgroup2 at unified; `none`: nothing found. */
  mode: 'v1' | 'v2' | 'hybrid' | 'none';
  /** The v1 hierarchies, in mountinfo order (empty for v2). */
  hierarchies: CgroupHierarchy[];
  /** A cgroup2 is mounted at /sys/fs/cgroup/unified (hybrid). */
  unified: boolean;
}

/** What the plan needs to know about the host. */
export interface HostFacts {
  /** Filesystem types of /proc/filesystems. */
  filesystems: ReadonlySet<string>;
  /** Cgroup layout from /proc/self/mountinfo. */
  cgroupLayout: CgroupLayout;
  /** Current rlimits of this process by RLIMIT_* number. */
  limits: ReadonlyMap<number, HostLimit>;
  /** Effective capabilities of this process (CapEff). */
  capEff: bigint;
  /** Bounding set of this process (CapBnd): capabilities a container can get at most. */
  capBnd: bigint;
  /** Effective uid of this process. */
  euid: number;
  /** This process already runs in a non-initial user namespace. */
  inUserNamespace: boolean;
  /** /proc/kcore exists (then /dev/core is linked to it). */
  hasKcore: boolean;
  /** fs.nr_open: the ceiling of RLIMIT_NOFILE even with CAP_SYS_RESOURCE. */
  nrOpen?: bigint;
}

/** Texts (as read from /proc) to build {@link HostFacts} from; anything absent gets a permissive default. */
export interface HostFactsText {
  /** /proc/filesystems. */
  filesystems?: string;
  /** /proc/self/mountinfo. */
  mountinfo?: string;
  /** /proc/self/limits (absent: everything unlimited). */
  limits?: string;
  /** /proc/self/status (absent: all capabilities). */
  status?: string;
  /** /proc/self/uid_map. */
  uidMap?: string;
  /** /proc/sys/fs/nr_open. */
  nrOpen?: string;
  /** Effective uid (default 0). */
  euid?: number;
  /** /proc/kcore exists (default true). */
  hasKcore?: boolean;
}

/** One parsed line of /proc/self/mountinfo. */
export interface MountInfoEntry {
  /** Mount point (unescaped). */
  mountPoint: string;
  /** Root of the mount within its filesystem. */
  root: string;
  /** Filesystem type. */
  fstype: string;
  /** Mount source. */
  source: string;
  /** Per-mount options. */
  mountOptions: string[];
  /** Superblock options. */
  superOptions: string[];
}

const ALL_CAPS = (1n << 41n) - 1n;

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses /proc/self/mountinfo text; malformed lines are skipped. */
export function parseMountinfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    const sep = fields.indexOf('-', 6);
    if (sep < 0 || fields.length < sep + 3) continue;
    out.push({
      root: unescapeMountinfo(fields[3]!),
      mountPoint: unescapeMountinfo(fields[4]!),
      mountOptions: fields[5]!.split(','),
      fstype: fields[sep + 1]!,
      source: unescapeMountinfo(fields[sep + 2]!),
      superOptions: (fields[sep + 3] ?? '').split(',').filter((o) => o !== ''),
    });
  }
  return out;
}

/** cgroup v1 superblock options that do not select a hierarchy. */
const NON_CONTROLLER_OPTIONS = new Set([
  'rw', 'ro', 'none', 'all', 'noprefix', 'clone_children', 'cpuset_v2_mode', 'xattr', 'favordynmods', 'nofavordynmods',
]);

/** The mount data that selects a v1 hierarchy: its controllers and `name=`, from its superblock options. */
function hierarchyOptions(superOptions: readonly string[]): string {
  return superOptions.filter((o) => !NON_CONTROLLER_OPTIONS.has(o) && !o.startsWith('release_agent=')).join(',');
}

/** Works out the cgroup layout (v1, v2, hybrid) from mountinfo text, looking at /sys/fs/cgroup. */
export function detectCgroupLayout(mountinfo: string): CgroupLayout {
  const base = '/sys/fs/cgroup';
  let v2Root = false;
  let unified = false;
  let hierarchies = new Map<string, CgroupHierarchy>();
  for (const m of parseMountinfo(mountinfo)) {
    if (m.mountPoint === base) {
      // A (new) mount on /sys/fs/cgroup hides whatever was mounted below it before.
      v2Root = m.fstype === 'cgroup2';
      unified = false;
      hierarchies = new Map();
      continue;
    }
    const slash = m.mountPoint.lastIndexOf('/');
    if (m.mountPoint.slice(0, slash) !== base) continue;
    const dir = m.mountPoint.slice(slash + 1);
    if (m.fstype === 'cgroup') {
      hierarchies.set(dir, { dir, options: hierarchyOptions(m.superOptions) });
    } else if (m.fstype === 'cgroup2' && dir === 'unified') {
      unified = true;
    }
  }
  const list = [...hierarchies.values()];
  if (list.length > 0) return { mode: unified ? 'hybrid' : 'v1', hierarchies: list, unified };
  if (v2Root) return { mode: 'v2', hierarchies: [], unified: false };
  return { mode: 'none', hierarchies: [], unified: false };
}

/** Parses /proc/filesystems into the set of type names. */
export function parseFilesystems(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const name = line.split('\t').pop()?.trim();
    if (name) out.add(name);
  }
  return out;
}

/** Reads a hex capability mask line (`CapEff:\t...`) from /proc/self/status text. */
export function parseStatusCaps(status: string, key: 'CapEff' | 'CapBnd' | 'CapPrm' | 'CapInh' | 'CapAmb'): bigint | undefined {
  const m = new RegExp(`^${key}:\\s*([0-9a-fA-F]+)\\s*$`, 'm').exec(status);
  return m ? BigInt(`0x${m[1]}`) : undefined;
}

/** True unless the uid_map is the initial namespace's identity map. */
function uidMapIsNested(uidMap: string): boolean {
  const lines = uidMap.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
  return !(lines.length === 1 && lines[0] === '0 0 4294967295');
}

const DEFAULT_FILESYSTEMS = 'nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tcgroup\nnodev\tcgroup2\nnodev\tdevpts\nnodev\tmqueue\nnodev\toverlay\n\text4\n';

/** Builds host facts from /proc texts (for tests, or to re-evaluate another host's data). */
export function hostFactsFromText(t: HostFactsText = {}): HostFacts {
  const status = t.status ?? '';
  const nrOpen = t.nrOpen?.trim();
  return {
    filesystems: parseFilesystems(t.filesystems ?? DEFAULT_FILESYSTEMS),
    cgroupLayout: detectCgroupLayout(t.mountinfo ?? ''),
    limits: parseProcLimits(t.limits ?? ''),
    capEff: parseStatusCaps(status, 'CapEff') ?? ALL_CAPS,
    capBnd: parseStatusCaps(status, 'CapBnd') ?? ALL_CAPS,
    euid: t.euid ?? 0,
    inUserNamespace: t.uidMap !== undefined && uidMapIsNested(t.uidMap),
    hasKcore: t.hasKcore ?? true,
    ...(nrOpen && /^\d+$/.test(nrOpen) ? { nrOpen: BigInt(nrOpen) } : {}),
  };
}

function readOr(file: string, fallback: string | undefined): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

let cached: HostFacts | undefined;

/** Reads the facts of this host once (cached for the life of the process; `refresh` re-reads). */
export function readHostFacts(options: { refresh?: boolean } = {}): HostFacts {
  if (cached && !options.refresh) return cached;
  cached = hostFactsFromText({
    filesystems: readOr('/proc/filesystems', undefined),
    mountinfo: readOr('/proc/self/mountinfo', ''),
    limits: readOr('/proc/self/limits', ''),
    status: readOr('/proc/self/status', ''),
    uidMap: readOr('/proc/self/uid_map', undefined),
    nrOpen: readOr('/proc/sys/fs/nr_open', undefined),
    euid: process.geteuid?.() ?? 0,
    hasKcore: fs.existsSync('/proc/kcore'),
  });
  return cached;
}

/** The cgroup layout of this host. */
export function hostCgroupLayout(): CgroupLayout {
  return readHostFacts().cgroupLayout;
}

/** Filesystem types this kernel has registered (/proc/filesystems, read once). */
export function knownFilesystems(): ReadonlySet<string> {
  return readHostFacts().filesystems;
}
