/**
 * Types of the OCI runtime-spec v1.2 configuration (`config.json`) and state, as berth reads
 * them, plus {@link defaultSpec}, the equivalent of `runc spec`.
 *
 * Fields berth accepts but ignores (no LSM support yet): `process.apparmorProfile`,
 * `process.selinuxLabel`, `linux.mountLabel`. Fields it refuses with an `UnsupportedError`
 * until implemented: a seccomp agent (`SCMP_ACT_NOTIFY`), `process.scheduler`, `process.ioPriority`,
 * `linux.intelRdt`, `linux.netDevices`, a non-default `linux.personality`, and id-mapped mounts.
 * @module
 */
import {
  DEFAULT_CAPABILITIES,
  DEFAULT_ENV,
  DEFAULT_MASKED_PATHS,
  DEFAULT_MOUNTS,
  DEFAULT_READONLY_PATHS,
  DEFAULT_RLIMITS,
} from './defaults.js';
import type { LinuxResources } from '../cgroups/resources.js';
import { hostCgroupLayout, readHostFacts } from './host-facts.js';
import { resolveRlimits } from './rlimits.js';

/** The spec version berth writes and understands best. */
export const OCI_VERSION = '1.2.0';

/** A whole runtime-spec configuration (`config.json`). */
export interface Spec {
  /** Version of the runtime spec the bundle complies with (SemVer). */
  ociVersion: string;
  /** The container's process; may be absent only where the caller allows it. */
  process?: Process;
  /** The container's root filesystem. */
  root?: Root;
  /** Hostname inside the container (needs a uts namespace). */
  hostname?: string;
  /** Domainname inside the container (needs a uts namespace). */
  domainname?: string;
  /** Additional mounts, performed in order after the rootfs. */
  mounts?: Mount[];
  /** Lifecycle hooks. */
  hooks?: Hooks;
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
  /** Linux-specific configuration. */
  linux?: Linux;
}

/** The process run in the container. */
export interface Process {
  /** Attach a pseudo-terminal. */
  terminal?: boolean;
  /** Console size of the terminal. */
  consoleSize?: Box;
  /** User and groups the process runs as. */
  user: User;
  /** Program and arguments; the first is looked up in the container's PATH. */
  args?: string[];
  /** Windows only; ignored. */
  commandLine?: string;
  /** Environment, `KEY=value` entries. */
  env?: string[];
  /** Absolute working directory inside the container. */
  cwd: string;
  /** Capability sets. Absent: the process gets no capabilities at all. */
  capabilities?: LinuxCapabilities;
  /** Resource limits. */
  rlimits?: POSIXRlimit[];
  /** Set the no_new_privs bit. */
  noNewPrivileges?: boolean;
  /** AppArmor profile; accepted and ignored. */
  apparmorProfile?: string;
  /** Value written to /proc/self/oom_score_adj (-1000..1000). */
  oomScoreAdj?: number;
  /** Scheduling policy; not supported yet. */
  scheduler?: Scheduler;
  /** SELinux label; accepted and ignored. */
  selinuxLabel?: string;
  /** I/O priority; not supported yet. */
  ioPriority?: LinuxIOPriority;
}

/** A terminal size. */
export interface Box {
  /** Rows. */
  height: number;
  /** Columns. */
  width: number;
}

/** User identity of the process. */
export interface User {
  /** User id (in the container's user namespace). */
  uid: number;
  /** Group id. */
  gid: number;
  /** File mode creation mask. */
  umask?: number;
  /** Supplementary group ids. */
  additionalGids?: number[];
  /** Windows only; ignored. */
  username?: string;
}

/** The container's root filesystem. */
export interface Root {
  /** Path of the rootfs, absolute or relative to the bundle. */
  path: string;
  /** Make the rootfs read-only. */
  readonly?: boolean;
}

/** One mount. */
export interface Mount {
  /** Absolute path inside the container. */
  destination: string;
  /** Filesystem type (`proc`, `tmpfs`, `bind`, ...). */
  type?: string;
  /** Device, filesystem name or, for binds, a host path (relative: against the bundle). */
  source?: string;
  /** Mount options (`ro`, `nosuid`, `rbind`, `mode=755`, ...). */
  options?: string[];
  /** Id-mapped mount uid mappings; not supported yet. */
  uidMappings?: LinuxIDMapping[];
  /** Id-mapped mount gid mappings; not supported yet. */
  gidMappings?: LinuxIDMapping[];
}

/** One hook command. */
export interface Hook {
  /** Absolute path of the executable. */
  path: string;
  /** Arguments, including argv[0]. */
  args?: string[];
  /** Environment. */
  env?: string[];
  /** Seconds before the hook is aborted. */
  timeout?: number;
}

/** Lifecycle hooks by kind. */
export interface Hooks {
  /** Deprecated: run after the runtime environment is created, in the runtime namespace. */
  prestart?: Hook[];
  /** Run during create, after the environment, in the runtime namespace. */
  createRuntime?: Hook[];
  /** Run during create in the container namespace. */
  createContainer?: Hook[];
  /** Run in the container before the user's process starts. */
  startContainer?: Hook[];
  /** Run after the user's process started. */
  poststart?: Hook[];
  /** Run after the container is deleted. */
  poststop?: Hook[];
}

/** Linux-specific configuration. */
export interface Linux {
  /** User namespace uid mappings. */
  uidMappings?: LinuxIDMapping[];
  /** User namespace gid mappings. */
  gidMappings?: LinuxIDMapping[];
  /** Kernel parameters, `net.ipv4.ip_forward` → `1`. */
  sysctl?: Record<string, string>;
  /** Cgroup resource limits. */
  resources?: LinuxResources;
  /** Cgroup path. */
  cgroupsPath?: string;
  /** Namespaces to create or join. */
  namespaces?: LinuxNamespace[];
  /** Device nodes to create besides the defaults. */
  devices?: LinuxDevice[];
  /** Seccomp filter (compiled to BPF by runtime/seccomp; no SCMP_ACT_NOTIFY agent). */
  seccomp?: LinuxSeccomp;
  /** Propagation of the rootfs mount (`rslave` by default). */
  rootfsPropagation?: string;
  /** Paths made inaccessible. */
  maskedPaths?: string[];
  /** Paths made read-only. */
  readonlyPaths?: string[];
  /** SELinux mount label; accepted and ignored. */
  mountLabel?: string;
  /** Intel RDT; not supported yet. */
  intelRdt?: Record<string, unknown>;
  /** Execution domain; only the default `LINUX` without flags is accepted. */
  personality?: LinuxPersonality;
  /** Clock offsets of a new time namespace. */
  timeOffsets?: LinuxTimeOffsets;
  /** Network devices to move into the container; not supported yet. */
  netDevices?: Record<string, LinuxNetDevice>;
}

/** A network device moved into the container (`linux.netDevices`; refused by berth for now). */
export interface LinuxNetDevice {
  /** Its name inside the container. */
  name?: string;
}

/** The kinds of Linux namespaces. */
export type LinuxNamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

/** A namespace to create (no path) or join (path). */
export interface LinuxNamespace {
  /** Namespace kind. */
  type: LinuxNamespaceType;
  /** Absolute path of a namespace file to join, e.g. `/proc/1234/ns/net`. */
  path?: string;
}

/** One range of a user namespace id mapping. */
export interface LinuxIDMapping {
  /** First id inside the container. */
  containerID: number;
  /** First id on the host. */
  hostID: number;
  /** Number of ids. */
  size: number;
}

/** Offset of one clock in a time namespace. */
export interface LinuxTimeOffset {
  /** Seconds. */
  secs?: number;
  /** Nanoseconds (0..999999999). */
  nanosecs?: number;
}

/** Clock offsets keyed by clock name (`monotonic`, `boottime`). */
export type LinuxTimeOffsets = Partial<Record<'monotonic' | 'boottime', LinuxTimeOffset>>;

/** A device node in the container. */
export interface LinuxDevice {
  /** Absolute path inside the container. */
  path: string;
  /** `c` (char), `u` (unbuffered char), `b` (block) or `p` (fifo). */
  type: 'c' | 'b' | 'u' | 'p';
  /** Major number (not for `p`). */
  major?: number;
  /** Minor number (not for `p`). */
  minor?: number;
  /** Permission bits (default 0666). */
  fileMode?: number;
  /** Owner uid (default 0). */
  uid?: number;
  /** Owner gid (default 0). */
  gid?: number;
}

/** Device cgroup rules and cgroup resources: typed by the cgroups layer. */
export type { LinuxDeviceCgroup, LinuxResources } from '../cgroups/resources.js';

/** Capability names (`CAP_KILL`, ...) for each of the five sets. */
export interface LinuxCapabilities {
  /** Bounding set. */
  bounding?: string[];
  /** Effective set. */
  effective?: string[];
  /** Inheritable set. */
  inheritable?: string[];
  /** Permitted set. */
  permitted?: string[];
  /** Ambient set. */
  ambient?: string[];
}

/** A resource limit. `hard`/`soft` may be bigints; 2^64-1 (or more) means unlimited. */
export interface POSIXRlimit {
  /** `RLIMIT_NOFILE`, `RLIMIT_NPROC`, ... */
  type: string;
  /** Hard limit. */
  hard: number | bigint;
  /** Soft limit. */
  soft: number | bigint;
}

/** Seccomp configuration (runtime-spec config-linux.md#seccomp). */
export interface LinuxSeccomp {
  /** Action when no rule matches. */
  defaultAction: string;
  /** Errno for a default SCMP_ACT_ERRNO. */
  defaultErrnoRet?: number;
  /** Architectures. */
  architectures?: string[];
  /** SECCOMP_FILTER_FLAG_* names. */
  flags?: string[];
  /** Unix socket for SCMP_ACT_NOTIFY. */
  listenerPath?: string;
  /** Metadata passed to the listener. */
  listenerMetadata?: string;
  /** Syscall rules. */
  syscalls?: LinuxSyscall[];
}

/** One seccomp syscall rule. */
export interface LinuxSyscall {
  /** Syscall names. */
  names: string[];
  /** Action. */
  action: string;
  /** Errno for SCMP_ACT_ERRNO. */
  errnoRet?: number;
  /** Argument conditions. */
  args?: LinuxSeccompArg[];
}

/** One argument condition of a seccomp rule. Values above 2^53 must be bigints (JSON numbers lose precision). */
export interface LinuxSeccompArg {
  /** Argument index, 0 to 5. */
  index: number;
  /** Operand; the mask for SCMP_CMP_MASKED_EQ. */
  value: number | bigint;
  /** Second operand: the value the masked argument must equal for SCMP_CMP_MASKED_EQ. */
  valueTwo?: number | bigint;
  /** SCMP_CMP_NE, _LT, _LE, _EQ, _GE, _GT or _MASKED_EQ. */
  op: string;
}

/** Scheduling policy of the process (not supported yet). */
export interface Scheduler {
  /** SCHED_* policy. */
  policy: string;
  /** Nice value. */
  nice?: number;
  /** Static priority. */
  priority?: number;
  /** SCHED_FLAG_* names. */
  flags?: string[];
  /** Deadline runtime (ns). */
  runtime?: number;
  /** Deadline (ns). */
  deadline?: number;
  /** Deadline period (ns). */
  period?: number;
}

/** I/O priority of the process (not supported yet). */
export interface LinuxIOPriority {
  /** IOPRIO_CLASS_RT, _BE or _IDLE. */
  class: string;
  /** Priority within the class. */
  priority: number;
}

/** Execution domain of the process. */
export interface LinuxPersonality {
  /** `LINUX` or `LINUX32`. */
  domain: string;
  /** Additional flags. */
  flags?: string[];
}

/** OCI container status. */
export type ContainerStateStatus = 'creating' | 'created' | 'running' | 'stopped' | 'paused';

/** The OCI state of a container (what `state` prints and hooks receive on stdin). */
export interface State {
  /** Spec version of the state. */
  ociVersion: string;
  /** Container id. */
  id: string;
  /** Lifecycle status. */
  status: ContainerStateStatus;
  /** Host pid of the container process, while it exists. */
  pid?: number;
  /** Absolute path of the bundle. */
  bundle: string;
  /** Annotations of the config. */
  annotations?: Record<string, string>;
}

/** Options of {@link defaultSpec}. */
export interface DefaultSpecOptions {
  /** Program and arguments (default `["sh"]`). */
  args?: string[];
  /** Attach a terminal (default false). */
  terminal?: boolean;
  /** Rootfs path (default `rootfs`, relative to the bundle). */
  rootPath?: string;
  /** Read-only rootfs (default false). */
  readonlyRoot?: boolean;
  /** Hostname (default `berth`). */
  hostname?: string;
  /** Add a cgroup namespace (default: only on a pure cgroup v2 host, like runc). */
  cgroupNamespace?: boolean;
}

/**
 * A default config like `runc spec` writes: `sh` as root with runc's three capabilities, the
 * standard mounts, masked and read-only paths, RLIMIT_NOFILE 1024 and new pid, network, ipc,
 * uts and mount namespaces (and cgroup on a cgroup v2 host). Each call returns a fresh object.
 */
export function defaultSpec(opts: DefaultSpecOptions = {}): Spec {
  const cgroupNs = opts.cgroupNamespace ?? hostCgroupLayout().mode === 'v2';
  const namespaces: LinuxNamespace[] = [
    { type: 'pid' },
    { type: 'network' },
    { type: 'ipc' },
    { type: 'uts' },
    { type: 'mount' },
  ];
  if (cgroupNs) namespaces.push({ type: 'cgroup' });
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: opts.terminal ?? false,
      user: { uid: 0, gid: 0 },
      args: [...(opts.args ?? ['sh'])],
      env: [...DEFAULT_ENV],
      cwd: '/',
      capabilities: {
        bounding: [...DEFAULT_CAPABILITIES],
        effective: [...DEFAULT_CAPABILITIES],
        permitted: [...DEFAULT_CAPABILITIES],
      },
      // Defaults never exceed what this host allows (a process without CAP_SYS_RESOURCE cannot
      // raise a hard limit; podman fails there, berth lowers its own default instead).
      rlimits: resolveRlimits(DEFAULT_RLIMITS, readHostFacts(), 'clamp').map((r) => ({ type: r.type, soft: Number(r.soft), hard: Number(r.hard) })),
      noNewPrivileges: true,
    },
    root: { path: opts.rootPath ?? 'rootfs', ...(opts.readonlyRoot ? { readonly: true } : {}) },
    hostname: opts.hostname ?? 'berth',
    mounts: DEFAULT_MOUNTS.map((m) => ({ ...m, ...(m.options ? { options: [...m.options] } : {}) })),
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces,
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
    },
  };
}
