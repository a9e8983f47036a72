/**
 * Turns a validated spec into the FRAME_CONFIG payload the init helper executes. All policy
 * lives here (which namespaces, how mount options become flags, which devices and symlinks,
 * what to do with limits the host cannot grant); the helper only performs the records in order.
 *
 * Host facts (cgroup layout, rlimits, capabilities) come in through `ctx.hostFacts` (default:
 * read once from /proc), so every function here is deterministic given its inputs.
 * @module
 */
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { ConfigMode, ConfigTag, DeviceTag, DeviceType, MountTag, NsTag, PROTOCOL_VERSION, RecordWriter, RlimitTag, SymlinkTag, SysctlTag } from '../native/protocol.js';
import { CAPABILITY_SETS, capabilityMask, capabilityNames, type CapabilitySet } from './capabilities.js';
import { DEFAULT_DEV_SYMLINKS, DEFAULT_DEVICES, DEFAULT_ROOTFS_PROPAGATION } from './defaults.js';
import { readHostFacts, type CgroupLayout, type HostFacts } from './host-facts.js';
import { bindRemountFlags, MS, parseMountOptions, PROPAGATION_OPTIONS } from './mount-options.js';
import { NAMESPACE_KINDS, sortForJoin } from './namespace-kinds.js';
import { resolveRlimits, type ResolvedRlimit, type RlimitPolicy } from './rlimits.js';
import { compileSeccomp, encodeSeccomp, type CompiledSeccomp } from './seccomp/compile.js';
import type { LinuxCapabilities, LinuxNamespaceType, Mount, Process, Spec } from './spec.js';
import { validateProcess } from './validate.js';
import { planRootfsMounts, type RootfsMount } from './rootfs-mounts.js';

/** Re-exported: the rlimit policy of a plan (`strict` or `clamp`). */
export type { RlimitPolicy } from './rlimits.js';

/** Flags of every cgroup (and cgroup tmpfs) mount: runc's defaultMountFlags. */
const CGROUP_MOUNT_FLAGS = MS.NOSUID | MS.NODEV | MS.NOEXEC;

/** What both create and exec plans take besides the spec. */
export interface CommonContext {
  /** Host path of a fifo the process reads one byte from before execve; absent: no wait. */
  startFifo?: string;
  /** Target fd (0, 1 or 2) of each fd sent along with the frame, in order. */
  stdioTargets: number[];
  /** Host paths of cgroup.procs files the process is written to before it runs the user's code. */
  cgroupProcs: string[];
  /** The helper gets those files open in a FRAME_CGROUPS after the config (the caller makes the cgroup meanwhile) instead of opening the paths. */
  cgroupFdsLater?: boolean;
  /** Limits above the host's hard limits: `strict` (error, default) or `clamp` (lower them). */
  rlimitPolicy?: RlimitPolicy;
  /** Host facts (default: {@link readHostFacts}). */
  hostFacts?: HostFacts;
  /** Start a new session (default true). */
  setsid?: boolean;
  /** Keep fds 3..3+N-1 open for the process (LISTEN_FDS style); default 0. */
  preserveFds?: number;
  /** Give the process a terminal from the container's /dev/ptmx (CFG_CONSOLE): its master goes over a socket sent last with the frame; `stdioTargets` must then be empty. Sizes of 0 leave the size alone. */
  console?: { rows: number; cols: number };
}

/** Context of {@link buildInitConfig}. */
export interface InitContext extends CommonContext {
  /** Absolute host path of the rootfs, already resolved against the bundle. */
  rootfsPath: string;
  /** Bundle directory: relative bind sources are resolved against it (default: the current directory). */
  bundlePath?: string;
  /** MS_MOVE + chroot instead of pivot_root. */
  noPivot?: boolean;
  /** Mounts that assemble the rootfs itself (a graph driver's snapshot), made onto `rootfsPath` first. */
  rootfsMounts?: readonly RootfsMount[];
}

/** Context of {@link buildExecConfig}. */
export interface ExecContext extends CommonContext {
  /** Host pid of the container's init: its /proc/PID/ns/* are joined. */
  initPid: number;
  /** The namespace kinds the container has (new or joined); each is joined. */
  namespaces: readonly LinuxNamespaceType[];
  /** Paths to join instead of /proc/INITPID/ns/KIND (e.g. fds the caller opened and verified). */
  namespacePaths?: Partial<Record<LinuxNamespaceType, string>>;
  /**
   * The container's seccomp filter, which an exec'd process inherits (OCI): pass
   * `compileSeccomp(containerSpec.linux?.seccomp)`; undefined: no filter.
   */
  seccomp?: CompiledSeccomp | undefined;
}

/** One mount as the helper performs it. */
export interface PlannedMount {
  /** M_SOURCE. */
  source: string;
  /** M_TARGET (container path). */
  target: string;
  /** M_FSTYPE. */
  fstype: string;
  /** M_FLAGS. */
  flags: number;
  /** M_PROPAGATION (0: none). */
  propagation: number;
  /** M_DATA. */
  data: string;
  /** M_REMOUNT_FLAGS (binds; 0: no remount). */
  remountFlags: number;
  /** M_CWD (rootfs mounts only): the directory the mount is made from. */
  cwd?: string;
}

/** One device node. */
export interface PlannedDevice {
  /** Container path. */
  path: string;
  /** D_TYPE letter. */
  type: 'c' | 'b' | 'p';
  /** Major number. */
  major: number;
  /** Minor number. */
  minor: number;
  /** Permission bits. */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Bind-mount the host's node instead of mknod. */
  bind: boolean;
}

/** One symlink. */
export interface PlannedSymlink {
  /** What it points to. */
  target: string;
  /** Container path of the link. */
  path: string;
}

/** The five capability masks. */
export type CapabilityMasks = Record<CapabilitySet, bigint>;

/** The process part shared by create and exec. */
export interface PlannedProcess {
  /** Arguments. */
  args: string[];
  /** Environment. */
  env: string[];
  /** Working directory. */
  cwd: string;
  /** Uid. */
  uid: number;
  /** Gid. */
  gid: number;
  /** Supplementary gids; undefined: leave alone (setgroups is denied). */
  additionalGids: number[] | undefined;
  /** Umask, when given. */
  umask: number | undefined;
  /** oom_score_adj, when given. */
  oomScoreAdj: number | undefined;
  /** no_new_privs. */
  noNewPrivileges: boolean;
  /** Capability masks. */
  capabilities: CapabilityMasks;
  /** Rlimits to set. */
  rlimits: ResolvedRlimit[];
}

/** Everything a create payload says, before encoding. */
export interface InitPlan {
  /** CLONE_NEW* flags of the namespaces to create. */
  newNamespaces: number;
  /** Namespaces to join, in join order. */
  joinNamespaces: Array<{ type: LinuxNamespaceType; flag: number; path: string }>;
  /** uid_map text, for a new user namespace. */
  uidMap: string | undefined;
  /** gid_map text, for a new user namespace. */
  gidMap: string | undefined;
  /** Write "deny" to setgroups (only when this process is not root, like runc's rootless mode). */
  setgroupsDeny: boolean;
  /** timens_offsets text, for a new time namespace. */
  timeOffsets: string | undefined;
  /** Flags applied to "/" first. */
  rootfsPropagation: number;
  /** Read-only rootfs. */
  readonlyRootfs: boolean;
  /** Mounts that assemble the rootfs, in order. */
  rootfsMounts: PlannedMount[];
  /** Mounts, in order. */
  mounts: PlannedMount[];
  /** Device nodes. */
  devices: PlannedDevice[];
  /** Symlinks. */
  symlinks: PlannedSymlink[];
  /** Masked paths. */
  maskedPaths: string[];
  /** Read-only paths (the spec's, then read-only tmpfs mounts made read-only late, like runc). */
  readonlyPaths: string[];
  /** Hostname, when set. */
  hostname: string | undefined;
  /** Domainname, when set. */
  domainname: string | undefined;
  /** Sysctls, in order. */
  sysctl: Array<[string, string]>;
  /** The process. */
  process: PlannedProcess;
  /** The compiled `linux.seccomp`, installed right before execve; undefined: none. */
  seccomp: CompiledSeccomp | undefined;
}

/** A built config: the payload and what went into it. */
export interface BuiltConfig {
  /** The FRAME_CONFIG payload. */
  payload: Buffer;
  /** Things adjusted to fit the host (dropped capabilities, clamped rlimits), for logs. */
  warnings: string[];
}

/** A built create config. */
export interface BuiltInitConfig extends BuiltConfig {
  /** The decoded plan. */
  plan: InitPlan;
}

/** A built exec config. */
export interface BuiltExecConfig extends BuiltConfig {
  /** Namespaces joined, in order. */
  joinNamespaces: Array<{ type: LinuxNamespaceType; flag: number; path: string }>;
  /** The process. */
  process: PlannedProcess;
}

function cleanPath(p: string): string {
  return path.posix.normalize(p).replace(/(.)\/+$/, '$1');
}

/** The last propagation option given (each overrides the one before), or 0. */
function lastPropagation(list: readonly number[]): number {
  return list.length > 0 ? list[list.length - 1]! : 0;
}

/** Capability masks of a spec, with bits the host cannot grant dropped (reported in `warnings`). */
export function planCapabilities(caps: LinuxCapabilities | undefined, facts: HostFacts, warnings: string[]): CapabilityMasks {
  const masks = {} as CapabilityMasks;
  for (const set of CAPABILITY_SETS) {
    const wanted = capabilityMask(caps?.[set]);
    const unavailable = wanted & ~facts.capBnd;
    if (unavailable !== 0n) {
      warnings.push(`capabilities.${set}: dropped ${capabilityNames(unavailable).join(', ')}: not in this process's bounding set`);
    }
    masks[set] = wanted & facts.capBnd;
  }
  // An ambient capability must also be permitted and inheritable, or raising it fails.
  const allowed = masks.permitted & masks.inheritable;
  const badAmbient = masks.ambient & ~allowed;
  if (badAmbient !== 0n) {
    warnings.push(`capabilities.ambient: dropped ${capabilityNames(badAmbient).join(', ')}: not both permitted and inheritable`);
    masks.ambient &= allowed;
  }
  return masks;
}

/** The process part of a plan. */
export function planProcess(
  proc: Process,
  facts: HostFacts,
  policy: RlimitPolicy,
  setgroupsDenied: boolean,
  warnings: string[],
): PlannedProcess {
  const rlimits = resolveRlimits(proc.rlimits, facts, policy);
  for (const r of rlimits) {
    if (r.clamped) warnings.push(`${r.type}: lowered to the host's limit (soft ${r.soft}, hard ${r.hard})`);
  }
  const gids = proc.user.additionalGids ?? [];
  if (setgroupsDenied && gids.length > 0) {
    throw new ConfigError('supplementary groups cannot be set: setgroups is denied in a user namespace made without privilege', 'process.user.additionalGids');
  }
  return {
    args: [...(proc.args ?? [])],
    env: [...(proc.env ?? [])],
    cwd: proc.cwd,
    uid: proc.user.uid,
    gid: proc.user.gid,
    additionalGids: setgroupsDenied ? undefined : [...gids],
    umask: proc.user.umask,
    oomScoreAdj: proc.oomScoreAdj,
    noNewPrivileges: proc.noNewPrivileges ?? false,
    capabilities: planCapabilities(proc.capabilities, facts, warnings),
    rlimits,
  };
}

/**
 * Expands a `cgroup` mount for the host's layout, like runc: on a cgroup v2 host one cgroup2
 * mount; on v1/hybrid a tmpfs at the destination, one cgroup mount per v1 hierarchy at
 * destination/<dir> (data: the hierarchy's controllers or `name=`), a cgroup2 at
 * destination/unified on hybrid hosts, and symlinks for co-mounted controllers (cpu →
 * cpu,cpuacct). `ro` puts MS_RDONLY on each cgroup mount; the tmpfs itself stays writable until
 * the read-only paths are applied (returned in `readonlyPaths`). Without a cgroup namespace in a
 * user namespace the kernel refuses fresh cgroup mounts, so the host hierarchies are bind-mounted
 * read-only instead.
 */
export function expandCgroupMount(
  m: Mount,
  layout: CgroupLayout,
  opts: { userNamespace: boolean; cgroupNamespace: boolean } = { userNamespace: false, cgroupNamespace: false },
): { mounts: PlannedMount[]; symlinks: PlannedSymlink[]; readonlyPaths: string[] } {
  const parsed = parseMountOptions(m.options);
  const dest = cleanPath(m.destination);
  const propagation = lastPropagation(parsed.propagation);
  const ro = (parsed.flags & MS.RDONLY) !== 0;
  const flags = (parsed.flags | CGROUP_MOUNT_FLAGS) & ~(MS.BIND | MS.REC | MS.REMOUNT);
  const bindHost = opts.userNamespace && !opts.cgroupNamespace;
  const one = (source: string, target: string, fstype: string, data: string): PlannedMount =>
    bindHost
      ? { source, target, fstype: 'bind', flags: MS.BIND | MS.REC, propagation, data: '', remountFlags: flags | MS.RDONLY }
      : { source: fstype === 'cgroup2' ? 'cgroup2' : 'cgroup', target, fstype, flags, propagation, data, remountFlags: 0 };

  if (layout.mode === 'v2' || layout.mode === 'none') {
    return { mounts: [one('/sys/fs/cgroup', dest, 'cgroup2', parsed.data.join(','))], symlinks: [], readonlyPaths: [] };
  }
  const mounts: PlannedMount[] = [
    { source: 'tmpfs', target: dest, fstype: 'tmpfs', flags: CGROUP_MOUNT_FLAGS, propagation, data: 'mode=755', remountFlags: 0 },
  ];
  const symlinks: PlannedSymlink[] = [];
  const dirs = new Set(layout.hierarchies.map((h) => h.dir));
  for (const h of layout.hierarchies) {
    mounts.push(one(`/sys/fs/cgroup/${h.dir}`, `${dest}/${h.dir}`, 'cgroup', h.options));
    if (!h.dir.includes(',')) continue;
    for (const part of h.dir.split(',')) {
      if (part !== '' && !dirs.has(part)) symlinks.push({ target: h.dir, path: `${dest}/${part}` });
    }
  }
  if (layout.unified) mounts.push(one('/sys/fs/cgroup/unified', `${dest}/unified`, 'cgroup2', ''));
  return { mounts, symlinks, readonlyPaths: ro ? [dest] : [] };
}

/**
 * One spec mount as the helper performs it. Binds: M_FLAGS = MS_BIND (|MS_REC for rbind), the
 * other flags as M_REMOUNT_FLAGS, relative sources against the bundle, no data. A read-only
 * tmpfs (or anything on /dev) is mounted writable and made read-only late through the read-only
 * paths, as runc does, so that what is mounted or created below it still can be.
 */
export function planMount(m: Mount, bundlePath: string): { mount: PlannedMount; readonlyPath?: string } {
  const parsed = parseMountOptions(m.options);
  const target = cleanPath(m.destination);
  const propagation = lastPropagation(parsed.propagation);
  const isBind = parsed.bind || m.type === 'bind' || m.type === 'rbind';
  if (isBind) {
    const recursive = parsed.recursive || m.type === 'rbind';
    const source = path.resolve(bundlePath, m.source ?? '');
    const flags = MS.BIND | (recursive ? MS.REC : 0);
    return { mount: { source, target, fstype: 'bind', flags, propagation, data: '', remountFlags: bindRemountFlags(parsed.flags) } };
  }
  const fstype = m.type ?? '';
  let flags = parsed.flags;
  let readonlyPath: string | undefined;
  if ((flags & MS.RDONLY) !== 0 && (fstype === 'tmpfs' || target === '/dev')) {
    flags &= ~MS.RDONLY;
    readonlyPath = target;
  }
  const mount: PlannedMount = {
    source: m.source || fstype,
    target,
    fstype,
    flags,
    propagation,
    data: parsed.data.join(','),
    remountFlags: 0,
  };
  return readonlyPath === undefined ? { mount } : { mount, readonlyPath };
}

/**
 * Default devices plus the spec's (a spec device replaces a default at the same path), and the
 * /dev symlinks, as runc: only when /dev is not a bind mount. /dev/ptmx becomes a link to
 * pts/ptmx when /dev/pts is mounted; /dev/core links /proc/kcore when the host has it. In a user
 * namespace mknod is not allowed, so the host's nodes are bind-mounted instead.
 */
export function planDevices(spec: Spec, facts: HostFacts): { devices: PlannedDevice[]; symlinks: PlannedSymlink[] } {
  const mounts = spec.mounts ?? [];
  const devBind = mounts.some((m) => cleanPath(m.destination) === '/dev' && (m.type === 'bind' || m.type === 'rbind' || parseMountOptions(m.options).bind));
  if (devBind) return { devices: [], symlinks: [] };
  const hasPts = mounts.some((m) => cleanPath(m.destination) === '/dev/pts');
  const bind = facts.inUserNamespace || (spec.linux?.namespaces ?? []).some((n) => n.type === 'user');
  const byPath = new Map<string, PlannedDevice>();
  for (const d of [...DEFAULT_DEVICES, ...(spec.linux?.devices ?? [])]) {
    const p = cleanPath(d.path);
    if (hasPts && p === '/dev/ptmx') continue;
    byPath.set(p, {
      path: p,
      type: d.type === 'u' ? 'c' : d.type,
      major: d.major ?? 0,
      minor: d.minor ?? 0,
      mode: (d.fileMode ?? 0o666) & 0o7777,
      uid: d.uid ?? 0,
      gid: d.gid ?? 0,
      bind,
    });
  }
  const symlinks: PlannedSymlink[] = DEFAULT_DEV_SYMLINKS.map(([target, p]) => ({ target, path: p }));
  if (facts.hasKcore) symlinks.push({ target: '/proc/kcore', path: '/dev/core' });
  if (hasPts) symlinks.push({ target: 'pts/ptmx', path: '/dev/ptmx' });
  return { devices: [...byPath.values()], symlinks };
}

function idMap(maps: ReadonlyArray<{ containerID: number; hostID: number; size: number }>): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}

/** The structured create plan of a validated spec (see {@link buildInitConfig}). */
export function planInit(spec: Spec, ctx: InitContext): { plan: InitPlan; warnings: string[] } {
  if (!spec.process) throw new ConfigError('is required to create a container', 'process');
  if (!path.isAbsolute(ctx.rootfsPath)) throw new ConfigError(`must be absolute, not ${JSON.stringify(ctx.rootfsPath)}`, 'rootfsPath');
  const facts = ctx.hostFacts ?? readHostFacts();
  const warnings: string[] = [];
  const linux = spec.linux ?? {};
  const namespaces = linux.namespaces ?? [];
  const fresh = namespaces.filter((n) => !n.path);
  const has = new Set(namespaces.map((n) => n.type));
  const newUser = fresh.some((n) => n.type === 'user');
  const newNamespaces = fresh.reduce((acc, n) => acc | NAMESPACE_KINDS[n.type].flag, 0);
  const joinNamespaces = sortForJoin(namespaces.filter((n) => !!n.path)).map((n) => ({
    type: n.type,
    flag: NAMESPACE_KINDS[n.type].flag,
    path: n.path!,
  }));
  const setgroupsDeny = newUser && facts.euid !== 0;

  const bundlePath = ctx.bundlePath ?? process.cwd();
  const mounts: PlannedMount[] = [];
  const symlinks: PlannedSymlink[] = [];
  const lateReadonly: string[] = [];
  for (const m of spec.mounts ?? []) {
    if (m.type === 'cgroup' && !parseMountOptions(m.options).bind) {
      const x = expandCgroupMount(m, facts.cgroupLayout, { userNamespace: has.has('user'), cgroupNamespace: has.has('cgroup') });
      mounts.push(...x.mounts);
      symlinks.push(...x.symlinks);
      lateReadonly.push(...x.readonlyPaths);
      continue;
    }
    const { mount, readonlyPath } = planMount(m, bundlePath);
    mounts.push(mount);
    if (readonlyPath !== undefined) lateReadonly.push(readonlyPath);
  }
  const dev = planDevices(spec, facts);

  let timeOffsets: string | undefined;
  if (fresh.some((n) => n.type === 'time') && linux.timeOffsets) {
    const lines = (['monotonic', 'boottime'] as const)
      .filter((clock) => linux.timeOffsets![clock] !== undefined)
      .map((clock) => `${clock} ${linux.timeOffsets![clock]!.secs ?? 0} ${linux.timeOffsets![clock]!.nanosecs ?? 0}\n`);
    if (lines.length > 0) timeOffsets = lines.join('');
  }

  const plan: InitPlan = {
    newNamespaces,
    joinNamespaces,
    uidMap: newUser ? idMap(linux.uidMappings ?? []) : undefined,
    gidMap: newUser ? idMap(linux.gidMappings ?? []) : undefined,
    setgroupsDeny,
    timeOffsets,
    rootfsPropagation: linux.rootfsPropagation ? PROPAGATION_OPTIONS[linux.rootfsPropagation]! : DEFAULT_ROOTFS_PROPAGATION,
    readonlyRootfs: spec.root?.readonly ?? false,
    rootfsMounts: planRootfsMounts(ctx.rootfsMounts ?? []),
    mounts,
    devices: dev.devices,
    symlinks: [...symlinks, ...dev.symlinks],
    maskedPaths: [...(linux.maskedPaths ?? [])],
    readonlyPaths: [...(linux.readonlyPaths ?? []), ...lateReadonly],
    hostname: spec.hostname || undefined,
    domainname: spec.domainname || undefined,
    sysctl: Object.entries(linux.sysctl ?? {}),
    process: planProcess(spec.process, facts, ctx.rlimitPolicy ?? 'strict', setgroupsDeny, warnings),
    seccomp: compileSeccomp(linux.seccomp, 'linux.seccomp'),
  };
  warnEarlySeccomp(plan.process, plan.seccomp, warnings);
  return { plan, warnings };
}

/**
 * Without no_new_privs seccomp(2) needs CAP_SYS_ADMIN, so a process that does not keep it gets
 * its filter before the user switch (runc's order): the filter must then allow the helper's
 * remaining setup syscalls (setgroups, setresuid, capset, prctl, dup2, sendmsg, read, ...).
 */
function warnEarlySeccomp(p: PlannedProcess, seccomp: CompiledSeccomp | undefined, warnings: string[]): void {
  if (!seccomp || p.noNewPrivileges || (p.capabilities.effective & capabilityMask(['CAP_SYS_ADMIN'])) !== 0n) return;
  warnings.push('linux.seccomp: installed before the user switch (no noNewPrivileges, no CAP_SYS_ADMIN): it must allow the runtime\'s last setup syscalls');
}

function writeProcess(w: RecordWriter, p: PlannedProcess): void {
  for (const r of p.rlimits) {
    w.nested(ConfigTag.RLIMIT, new RecordWriter().u32(RlimitTag.RESOURCE, r.resource).u64(RlimitTag.SOFT, r.soft).u64(RlimitTag.HARD, r.hard));
  }
  w.u64array(ConfigTag.CAPABILITIES, CAPABILITY_SETS.map((s) => p.capabilities[s]));
  w.bool(ConfigTag.NO_NEW_PRIVILEGES, p.noNewPrivileges);
  w.u32(ConfigTag.UID, p.uid);
  w.u32(ConfigTag.GID, p.gid);
  if (p.additionalGids !== undefined) w.u32array(ConfigTag.ADDITIONAL_GIDS, p.additionalGids);
  if (p.umask !== undefined) w.u32(ConfigTag.UMASK, p.umask);
  w.str(ConfigTag.CWD, p.cwd);
  for (const e of p.env) w.str(ConfigTag.ENV, e);
  for (const a of p.args) w.str(ConfigTag.ARG, a);
  if (p.oomScoreAdj !== undefined) w.i32(ConfigTag.OOM_SCORE_ADJ, p.oomScoreAdj);
}

function writeCommon(w: RecordWriter, ctx: CommonContext): void {
  if (ctx.startFifo !== undefined) w.str(ConfigTag.START_FIFO, ctx.startFifo);
  w.u32array(ConfigTag.STDIO_FDS, ctx.stdioTargets);
  for (const p of ctx.cgroupProcs) w.str(ConfigTag.CGROUP_PROCS, p);
  if (ctx.cgroupFdsLater === true) w.bool(ConfigTag.CGROUP_FDS_LATER, true);
  w.bool(ConfigTag.SETSID, ctx.setsid ?? true);
  if (ctx.preserveFds) w.u32(ConfigTag.EXEC_FD_PASSTHROUGH, ctx.preserveFds);
  if (ctx.console) w.u32array(ConfigTag.CONSOLE, [ctx.console.rows, ctx.console.cols]);
}

function writeJoins(w: RecordWriter, joins: ReadonlyArray<{ flag: number; path: string }>): void {
  for (const j of joins) w.nested(ConfigTag.JOIN_NAMESPACE, new RecordWriter().u32(NsTag.TYPE, j.flag).str(NsTag.PATH, j.path));
}

/** The M_* records of one planned mount. */
function mountRecords(m: PlannedMount): RecordWriter {
  const r = new RecordWriter().str(MountTag.SOURCE, m.source).str(MountTag.TARGET, m.target).str(MountTag.FSTYPE, m.fstype).u64(MountTag.FLAGS, m.flags);
  if (m.propagation) r.u64(MountTag.PROPAGATION, m.propagation);
  if (m.data) r.str(MountTag.DATA, m.data);
  if (m.remountFlags) r.u64(MountTag.REMOUNT_FLAGS, m.remountFlags);
  if (m.cwd !== undefined) r.str(MountTag.CWD, m.cwd);
  return r;
}

/** Encodes a create plan as a FRAME_CONFIG payload (records in protocol.h order, CFG_VERSION first). */
export function encodeInitPlan(plan: InitPlan, ctx: InitContext): Buffer {
  const w = new RecordWriter();
  w.u32(ConfigTag.VERSION, PROTOCOL_VERSION);
  w.u32(ConfigTag.MODE, ConfigMode.CREATE);
  w.u64(ConfigTag.NEW_NAMESPACES, plan.newNamespaces);
  writeJoins(w, plan.joinNamespaces);
  if (plan.uidMap !== undefined) w.str(ConfigTag.UID_MAP, plan.uidMap);
  if (plan.gidMap !== undefined) w.str(ConfigTag.GID_MAP, plan.gidMap);
  if (plan.uidMap !== undefined) w.bool(ConfigTag.SETGROUPS_DENY, plan.setgroupsDeny);
  if (plan.timeOffsets !== undefined) w.str(ConfigTag.TIME_OFFSETS, plan.timeOffsets);
  w.str(ConfigTag.ROOTFS, ctx.rootfsPath);
  w.u64(ConfigTag.ROOTFS_PROPAGATION, plan.rootfsPropagation);
  w.bool(ConfigTag.READONLY_ROOTFS, plan.readonlyRootfs);
  w.bool(ConfigTag.NO_PIVOT, ctx.noPivot ?? false);
  for (const m of plan.rootfsMounts) w.nested(ConfigTag.ROOTFS_MOUNT, mountRecords(m));
  for (const m of plan.mounts) w.nested(ConfigTag.MOUNT, mountRecords(m));
  for (const d of plan.devices) {
    w.nested(
      ConfigTag.DEVICE,
      new RecordWriter()
        .str(DeviceTag.PATH, d.path)
        .u32(DeviceTag.TYPE, d.type === 'b' ? DeviceType.BLOCK : d.type === 'p' ? DeviceType.FIFO : DeviceType.CHAR)
        .u64(DeviceTag.MAJOR, d.major)
        .u64(DeviceTag.MINOR, d.minor)
        .u32(DeviceTag.MODE, d.mode)
        .u32(DeviceTag.UID, d.uid)
        .u32(DeviceTag.GID, d.gid)
        .bool(DeviceTag.BIND, d.bind),
    );
  }
  for (const l of plan.symlinks) w.nested(ConfigTag.SYMLINK, new RecordWriter().str(SymlinkTag.TARGET, l.target).str(SymlinkTag.PATH, l.path));
  for (const p of plan.maskedPaths) w.str(ConfigTag.MASKED_PATH, p);
  for (const p of plan.readonlyPaths) w.str(ConfigTag.READONLY_PATH, p);
  if (plan.hostname !== undefined) w.str(ConfigTag.HOSTNAME, plan.hostname);
  if (plan.domainname !== undefined) w.str(ConfigTag.DOMAINNAME, plan.domainname);
  for (const [k, v] of plan.sysctl) w.nested(ConfigTag.SYSCTL, new RecordWriter().str(SysctlTag.KEY, k).str(SysctlTag.VALUE, v));
  writeProcess(w, plan.process);
  writeCommon(w, ctx);
  if (plan.seccomp) w.bytes(ConfigTag.SECCOMP, encodeSeccomp(plan.seccomp));
  return w.finish();
}

/**
 * Builds the FRAME_CONFIG payload (mode 0, create) of a validated spec. Throws a `ConfigError`
 * for what the host cannot do (an rlimit above its hard limit under the `strict` policy, ...).
 */
export function buildInitConfig(spec: Spec, ctx: InitContext): BuiltInitConfig {
  const { plan, warnings } = planInit(spec, ctx);
  return { payload: encodeInitPlan(plan, ctx), warnings, plan };
}

/**
 * Builds the FRAME_CONFIG payload (mode 1, exec) that runs `proc` in a running container: it
 * joins /proc/<initPid>/ns/<kind> for every kind the container has, user first and mount last
 * (the helper should open every path before the first setns), then sets up the process. No
 * rootfs, mounts or devices: those are the container's already. `proc` is validated here.
 */
export function buildExecConfig(proc: Process, ctx: ExecContext): BuiltExecConfig {
  validateProcess(proc, 'process');
  if (!Number.isInteger(ctx.initPid) || ctx.initPid <= 0) throw new ConfigError(`must be a pid, not ${ctx.initPid}`, 'initPid');
  const facts = ctx.hostFacts ?? readHostFacts();
  const warnings: string[] = [];
  const kinds = [...new Set(ctx.namespaces)].map((type) => ({ type }));
  const joinNamespaces = sortForJoin(kinds).map(({ type }) => ({
    type,
    flag: NAMESPACE_KINDS[type].flag,
    path: ctx.namespacePaths?.[type] ?? `/proc/${ctx.initPid}/ns/${NAMESPACE_KINDS[type].procName}`,
  }));
  const planned = planProcess(proc, facts, ctx.rlimitPolicy ?? 'strict', false, warnings);
  warnEarlySeccomp(planned, ctx.seccomp, warnings);
  const w = new RecordWriter();
  w.u32(ConfigTag.VERSION, PROTOCOL_VERSION);
  w.u32(ConfigTag.MODE, ConfigMode.EXEC);
  writeJoins(w, joinNamespaces);
  writeProcess(w, planned);
  writeCommon(w, ctx);
  if (ctx.seccomp) w.bytes(ConfigTag.SECCOMP, encodeSeccomp(ctx.seccomp));
  return { payload: w.finish(), warnings, joinNamespaces, process: planned };
}
