/**
 * Structural validation of a runtime-spec config. Every error is a `ConfigError` (or an
 * `UnsupportedError` for what berth cannot do yet) whose `path` is the JSON path of the field at
 * fault, e.g. `mounts[3].destination` or `linux.namespaces[2].type`.
 *
 * Accepted and ignored (no LSM support yet): `process.apparmorProfile`, `process.selinuxLabel`,
 * `linux.mountLabel`. Accepted and not checked here: `linux.resources` and `linux.cgroupsPath`
 * (the cgroups layer checks them), `process.terminal`/`consoleSize` (stdio). `linux.seccomp` is
 * checked by compiling it (seccomp/compile.ts). Refused as unsupported: a seccomp agent
 * (SCMP_ACT_NOTIFY, `listenerPath`), `process.scheduler`, `process.ioPriority`, `linux.intelRdt`,
 * `linux.netDevices`, a `linux.personality` other than plain `LINUX`, id-mapped mounts and the
 * recursive mount attributes (`rro`, `rnosuid`, ...).
 * @module
 */
import { ConfigError, UnsupportedError } from '../errors.js';
import { capabilityBit, CAPABILITY_SETS } from './capabilities.js';
import { knownFilesystems } from './host-facts.js';
import { parseMountOptions, PROPAGATION_OPTIONS } from './mount-options.js';
import { isNamespaceType } from './namespace-kinds.js';
import { rlimitResource } from './rlimits.js';
import { compileSeccomp } from './seccomp/compile.js';
import type { LinuxIDMapping, LinuxNamespaceType, Process, Spec } from './spec.js';

/** Options of {@link validateSpec}. */
export interface ValidateOptions {
  /** The config must have a `process` (default true; false for e.g. a config only read for its state). */
  requireProcess?: boolean;
  /** Filesystem types mounts may use (default: /proc/filesystems of this host, read once). */
  filesystems?: ReadonlySet<string>;
}

/** Options of {@link validateProcess}. */
export interface ValidateProcessOptions {
  /** `args` must name a program (default true). */
  requireArgs?: boolean;
}

/** Largest valid uid/gid: 2^32-2 ((uid_t)-1 means "no change"). */
export const MAX_ID = 0xffff_fffe;

/** Mount types that are binds whatever their options. */
const BIND_TYPES = new Set(['bind', 'rbind']);

/** Clocks a time namespace can offset. */
const TIME_CLOCKS = new Set(['monotonic', 'boottime']);

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(message: string, field: string): never {
  throw new ConfigError(message, field);
}

function kind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

function expectObject(v: unknown, field: string): Obj {
  if (!isObject(v)) fail(`must be an object, not ${kind(v)}`, field);
  return v;
}

function expectString(v: unknown, field: string): string {
  if (typeof v !== 'string') fail(`must be a string, not ${kind(v)}`, field);
  if (v.includes('\0')) fail('must not contain a NUL byte', field);
  return v;
}

function optString(v: unknown, field: string): string | undefined {
  return v === undefined ? undefined : expectString(v, field);
}

function optBoolean(v: unknown, field: string): void {
  if (v !== undefined && typeof v !== 'boolean') fail(`must be a boolean, not ${kind(v)}`, field);
}

function expectArray(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) fail(`must be an array, not ${kind(v)}`, field);
  return v;
}

function optStringArray(v: unknown, field: string): string[] | undefined {
  if (v === undefined) return undefined;
  return expectArray(v, field).map((s, i) => expectString(s, `${field}[${i}]`));
}

function expectAbsolute(v: unknown, field: string): string {
  const s = expectString(v, field);
  if (!s.startsWith('/')) fail(`must be an absolute path, not ${JSON.stringify(s)}`, field);
  return s;
}

function expectInteger(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(`must be an integer from ${min} to ${max}, not ${JSON.stringify(v) ?? String(v)}`, field);
  }
  return v;
}

function expectId(v: unknown, field: string): number {
  return expectInteger(v, field, 0, MAX_ID);
}

function expectU64(v: unknown, field: string): void {
  if (typeof v === 'bigint') {
    if (v < 0n) fail('must not be negative', field);
    return;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    fail(`must be a non-negative integer, not ${JSON.stringify(v) ?? String(v)}`, field);
  }
}

function asBig(v: number | bigint): bigint {
  return typeof v === 'bigint' ? v : BigInt(v);
}

/** Validates a `process` object; `field` is its JSON path (`process` in a config). */
export function validateProcess(value: unknown, field = 'process', options: ValidateProcessOptions = {}): Process {
  const p = expectObject(value, field);
  optBoolean(p.terminal, `${field}.terminal`);
  if (p.consoleSize !== undefined) {
    const box = expectObject(p.consoleSize, `${field}.consoleSize`);
    expectInteger(box.height, `${field}.consoleSize.height`, 0, 0xffff);
    expectInteger(box.width, `${field}.consoleSize.width`, 0, 0xffff);
  }

  const user = expectObject(p.user, `${field}.user`);
  expectId(user.uid, `${field}.user.uid`);
  expectId(user.gid, `${field}.user.gid`);
  if (user.umask !== undefined) expectInteger(user.umask, `${field}.user.umask`, 0, 0o7777);
  if (user.additionalGids !== undefined) {
    expectArray(user.additionalGids, `${field}.user.additionalGids`).forEach((g, i) => expectId(g, `${field}.user.additionalGids[${i}]`));
  }

  const args = optStringArray(p.args, `${field}.args`);
  if ((options.requireArgs ?? true) && (args === undefined || args.length === 0)) {
    fail('must name the program to run (a non-empty array)', `${field}.args`);
  }
  if (args && args.length > 0 && args[0] === '') fail('the program name must not be empty', `${field}.args[0]`);
  optStringArray(p.env, `${field}.env`);
  if (p.cwd === undefined) fail('is required (an absolute path)', `${field}.cwd`);
  expectAbsolute(p.cwd, `${field}.cwd`);

  if (p.capabilities !== undefined) {
    const caps = expectObject(p.capabilities, `${field}.capabilities`);
    for (const set of CAPABILITY_SETS) {
      const names = optStringArray(caps[set], `${field}.capabilities.${set}`) ?? [];
      names.forEach((name, i) => {
        if (capabilityBit(name) === undefined) fail(`unknown capability ${JSON.stringify(name)}`, `${field}.capabilities.${set}[${i}]`);
      });
    }
  }

  if (p.rlimits !== undefined) {
    const seen = new Map<string, number>();
    expectArray(p.rlimits, `${field}.rlimits`).forEach((r, i) => {
      const at = `${field}.rlimits[${i}]`;
      const rl = expectObject(r, at);
      const type = expectString(rl.type, `${at}.type`);
      if (rlimitResource(type) === undefined) fail(`unknown rlimit type ${JSON.stringify(type)}`, `${at}.type`);
      const prev = seen.get(type);
      if (prev !== undefined) fail(`duplicate rlimit ${type} (also at ${field}.rlimits[${prev}])`, `${at}.type`);
      seen.set(type, i);
      expectU64(rl.hard, `${at}.hard`);
      expectU64(rl.soft, `${at}.soft`);
      if (asBig(rl.soft as number | bigint) > asBig(rl.hard as number | bigint)) {
        fail(`${type}: soft limit ${String(rl.soft)} is above the hard limit ${String(rl.hard)}`, `${at}.soft`);
      }
    });
  }

  optBoolean(p.noNewPrivileges, `${field}.noNewPrivileges`);
  if (p.oomScoreAdj !== undefined) expectInteger(p.oomScoreAdj, `${field}.oomScoreAdj`, -1000, 1000);
  optString(p.apparmorProfile, `${field}.apparmorProfile`); // accepted, ignored
  optString(p.selinuxLabel, `${field}.selinuxLabel`); // accepted, ignored
  if (p.scheduler !== undefined) throw new UnsupportedError('scheduler settings are not supported yet', `${field}.scheduler`);
  if (p.ioPriority !== undefined) throw new UnsupportedError('I/O priority is not supported yet', `${field}.ioPriority`);
  return p as unknown as Process;
}

function validateMappings(v: unknown, field: string): LinuxIDMapping[] {
  return expectArray(v, field).map((m, i) => {
    const at = `${field}[${i}]`;
    const o = expectObject(m, at);
    expectInteger(o.containerID, `${at}.containerID`, 0, 0xffff_ffff);
    expectInteger(o.hostID, `${at}.hostID`, 0, 0xffff_ffff);
    expectInteger(o.size, `${at}.size`, 1, 0xffff_ffff);
    return o as unknown as LinuxIDMapping;
  });
}

function isMapped(id: number, maps: readonly LinuxIDMapping[]): boolean {
  return maps.some((m) => id >= m.containerID && id < m.containerID + m.size);
}

/** Which namespace kinds the config has, and which are new (no path). */
interface NamespaceSet {
  has: Set<LinuxNamespaceType>;
  fresh: Set<LinuxNamespaceType>;
}

function validateNamespaces(v: unknown): NamespaceSet {
  const has = new Set<LinuxNamespaceType>();
  const fresh = new Set<LinuxNamespaceType>();
  if (v === undefined) return { has, fresh };
  const seen = new Map<string, number>();
  expectArray(v, 'linux.namespaces').forEach((n, i) => {
    const at = `linux.namespaces[${i}]`;
    const ns = expectObject(n, at);
    const type = ns.type;
    if (!isNamespaceType(type)) fail(`unknown namespace type ${JSON.stringify(type)}`, `${at}.type`);
    const prev = seen.get(type);
    if (prev !== undefined) fail(`duplicate namespace type ${type} (also at linux.namespaces[${prev}])`, `${at}.type`);
    seen.set(type, i);
    // Every kind can be joined with setns(2) (time since Linux 5.8); the path must name a file
    // in the runtime's mount namespace, so it has to be absolute. Whether it is a namespace of
    // the right kind is checked by setns itself (EINVAL) when the helper joins it.
    if (ns.path !== undefined && ns.path !== '') expectAbsolute(ns.path, `${at}.path`);
    has.add(type);
    if (ns.path === undefined || ns.path === '') fresh.add(type);
  });
  return { has, fresh };
}

/** IPC-namespaced sysctls besides fs.mqueue.*: kernel.shm*, kernel.msg*, kernel.sem and kernel.sem_next_id. */
function isIpcSysctl(key: string): boolean {
  return /^kernel\.(shm|msg)/.test(key) || key === 'kernel.sem' || key === 'kernel.sem_next_id' || key.startsWith('fs.mqueue.');
}

function validateSysctl(v: unknown, ns: NamespaceSet): void {
  const sysctl = expectObject(v, 'linux.sysctl');
  for (const [rawKey, value] of Object.entries(sysctl)) {
    const at = `linux.sysctl[${JSON.stringify(rawKey)}]`;
    expectString(value, at);
    const key = rawKey.replace(/\//g, '.');
    let needs: LinuxNamespaceType;
    if (key.startsWith('net.')) needs = 'network';
    else if (isIpcSysctl(key)) needs = 'ipc';
    else if (key === 'kernel.hostname' || key === 'kernel.domainname') needs = 'uts';
    else fail(`sysctl ${rawKey} is not namespaced: setting it would change the host`, at);
    if (!ns.has.has(needs)) fail(`sysctl ${rawKey} needs a ${needs} namespace, and the config has none`, at);
  }
}

function validateTimeOffsets(v: unknown, ns: NamespaceSet): void {
  const offsets = expectObject(v, 'linux.timeOffsets');
  const clocks = Object.keys(offsets);
  if (clocks.length === 0) return;
  if (!ns.fresh.has('time')) {
    fail(ns.has.has('time') ? 'needs a new time namespace, not a joined one' : 'needs a time namespace, and the config has none', 'linux.timeOffsets');
  }
  for (const clock of clocks) {
    const at = `linux.timeOffsets.${clock}`;
    if (!TIME_CLOCKS.has(clock)) fail(`unknown clock ${JSON.stringify(clock)} (monotonic or boottime)`, at);
    const o = expectObject(offsets[clock], at);
    if (o.secs !== undefined) expectInteger(o.secs, `${at}.secs`, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    if (o.nanosecs !== undefined) expectInteger(o.nanosecs, `${at}.nanosecs`, 0, 999_999_999);
  }
}

function validateDevices(v: unknown): void {
  expectArray(v, 'linux.devices').forEach((d, i) => {
    const at = `linux.devices[${i}]`;
    const dev = expectObject(d, at);
    expectAbsolute(dev.path, `${at}.path`);
    const type = expectString(dev.type, `${at}.type`);
    if (!['c', 'b', 'u', 'p'].includes(type)) fail(`unknown device type ${JSON.stringify(type)} (c, b, u or p)`, `${at}.type`);
    if (type !== 'p' || dev.major !== undefined) expectInteger(dev.major, `${at}.major`, 0, 0xffff_ffff);
    if (type !== 'p' || dev.minor !== undefined) expectInteger(dev.minor, `${at}.minor`, 0, 0xffff_ffff);
    if (dev.fileMode !== undefined) expectInteger(dev.fileMode, `${at}.fileMode`, 0, 0o7777);
    if (dev.uid !== undefined) expectId(dev.uid, `${at}.uid`);
    if (dev.gid !== undefined) expectId(dev.gid, `${at}.gid`);
  });
}

function validateMount(v: unknown, i: number, filesystems: ReadonlySet<string>): void {
  const at = `mounts[${i}]`;
  const m = expectObject(v, at);
  expectAbsolute(m.destination, `${at}.destination`);
  const type = optString(m.type, `${at}.type`);
  const source = optString(m.source, `${at}.source`);
  const options = optStringArray(m.options, `${at}.options`);
  if (m.uidMappings !== undefined || m.gidMappings !== undefined) {
    throw new UnsupportedError('id-mapped mounts are not supported yet', `${at}.${m.uidMappings !== undefined ? 'uidMappings' : 'gidMappings'}`);
  }
  const parsed = parseMountOptions(options);
  if (parsed.unsupported.length > 0) {
    throw new UnsupportedError(`mount option ${parsed.unsupported[0]} is not supported yet`, `${at}.options`);
  }
  if (parsed.bind || BIND_TYPES.has(type ?? '')) {
    if (!source) fail('a bind mount needs a source', `${at}.source`);
    return;
  }
  if (!type) fail('is required unless the mount is a bind (bind or rbind option)', `${at}.type`);
  if (type === 'none') fail('type none is only valid with a bind or rbind option', `${at}.type`);
  if (!filesystems.has(type)) fail(`unknown filesystem type ${JSON.stringify(type)} (not in /proc/filesystems)`, `${at}.type`);
}

/** Hook kinds berth runs; the other two of runtime-spec 1.2 run inside the container's namespaces. */
const RUN_HOOKS = new Set(['prestart', 'createRuntime', 'poststart', 'poststop']);
const NOT_YET_RUN_HOOKS = new Set(['createContainer', 'startContainer']);

function validateHooks(v: unknown): void {
  const hooks = expectObject(v, 'hooks');
  for (const [kindName, list] of Object.entries(hooks)) {
    if (NOT_YET_RUN_HOOKS.has(kindName) && Array.isArray(list) && list.length > 0) {
      throw new UnsupportedError(`${kindName} hooks (run inside the container's namespaces) are not supported yet`, `hooks.${kindName}`);
    }
    if (!RUN_HOOKS.has(kindName) && !NOT_YET_RUN_HOOKS.has(kindName)) fail(`unknown hook kind ${JSON.stringify(kindName)}`, `hooks.${kindName}`);
    expectArray(list, `hooks.${kindName}`).forEach((h, i) => {
      const at = `hooks.${kindName}[${i}]`;
      const hook = expectObject(h, at);
      expectAbsolute(hook.path, `${at}.path`);
      optStringArray(hook.args, `${at}.args`);
      optStringArray(hook.env, `${at}.env`);
      if (hook.timeout !== undefined) expectInteger(hook.timeout, `${at}.timeout`, 1, Number.MAX_SAFE_INTEGER);
    });
  }
}

function validateHostname(spec: Obj, key: 'hostname' | 'domainname', ns: NamespaceSet): void {
  const name = optString(spec[key], key);
  if (name === undefined || name === '') return;
  if (!ns.has.has('uts')) fail(`setting the ${key} needs a uts namespace, and the config has none`, key);
  if (Buffer.byteLength(name) > 64) fail(`is longer than 64 bytes`, key);
}

/**
 * Checks that `spec` is a well-formed runtime-spec config that berth can run and returns it
 * typed (the same object). Throws a `ConfigError` naming the field at fault, or an
 * `UnsupportedError` for a feature berth does not have yet.
 */
export function validateSpec(spec: unknown, options: ValidateOptions = {}): Spec {
  if (!isObject(spec)) fail(`the config must be a JSON object, not ${kind(spec)}`, 'config');
  const version = expectString(spec.ociVersion, 'ociVersion');
  if (!/^1\.\d+\.\d+/.test(version)) fail(`unsupported spec version ${JSON.stringify(version)} (berth reads 1.x)`, 'ociVersion');

  if (spec.root !== undefined) {
    const root = expectObject(spec.root, 'root');
    if (expectString(root.path, 'root.path') === '') fail('must not be empty', 'root.path');
    optBoolean(root.readonly, 'root.readonly');
  }

  if (spec.process === undefined) {
    if (options.requireProcess ?? true) fail('is required', 'process');
  } else {
    validateProcess(spec.process, 'process');
  }

  const filesystems = options.filesystems ?? knownFilesystems();
  if (spec.mounts !== undefined) expectArray(spec.mounts, 'mounts').forEach((m, i) => validateMount(m, i, filesystems));
  if (spec.hooks !== undefined) validateHooks(spec.hooks);
  if (spec.annotations !== undefined) {
    const ann = expectObject(spec.annotations, 'annotations');
    for (const [k, val] of Object.entries(ann)) expectString(val, `annotations[${JSON.stringify(k)}]`);
  }

  const linux = spec.linux === undefined ? {} : expectObject(spec.linux, 'linux');
  if (linux.seccomp !== undefined) compileSeccomp(linux.seccomp, 'linux.seccomp');
  if (linux.intelRdt !== undefined) throw new UnsupportedError('Intel RDT is not supported yet', 'linux.intelRdt');
  if (linux.netDevices !== undefined && Object.keys(expectObject(linux.netDevices, 'linux.netDevices')).length > 0) {
    throw new UnsupportedError('moving network devices into the container is not supported yet', 'linux.netDevices');
  }
  if (linux.personality !== undefined) {
    const pers = expectObject(linux.personality, 'linux.personality');
    const flags = optStringArray(pers.flags, 'linux.personality.flags') ?? [];
    if (pers.domain !== 'LINUX' || flags.length > 0) {
      throw new UnsupportedError('only the default personality (LINUX, no flags) is supported', 'linux.personality');
    }
  }
  optString(linux.mountLabel, 'linux.mountLabel'); // accepted, ignored
  optString(linux.cgroupsPath, 'linux.cgroupsPath');
  if (linux.resources !== undefined) expectObject(linux.resources, 'linux.resources');

  const ns = validateNamespaces(linux.namespaces);
  if (!ns.has.has('mount')) {
    // Without one, the rootfs bind, the mounts and pivot_root would all land on the host.
    throw new UnsupportedError('berth needs a mount namespace (new or joined by path) so that the container\'s mounts stay off the host', 'linux.namespaces');
  }
  const uidMaps = linux.uidMappings === undefined ? [] : validateMappings(linux.uidMappings, 'linux.uidMappings');
  const gidMaps = linux.gidMappings === undefined ? [] : validateMappings(linux.gidMappings, 'linux.gidMappings');
  if (!ns.has.has('user')) {
    if (uidMaps.length > 0) fail('uid mappings need a user namespace, and the config has none', 'linux.uidMappings');
    if (gidMaps.length > 0) fail('gid mappings need a user namespace, and the config has none', 'linux.gidMappings');
  } else if (ns.fresh.has('user')) {
    if (uidMaps.length === 0) fail('a new user namespace needs uid mappings', 'linux.uidMappings');
    if (gidMaps.length === 0) fail('a new user namespace needs gid mappings', 'linux.gidMappings');
    const proc = spec.process as Process | undefined;
    if (proc) {
      if (!isMapped(proc.user.uid, uidMaps)) fail(`uid ${proc.user.uid} is not mapped by linux.uidMappings`, 'process.user.uid');
      if (!isMapped(proc.user.gid, gidMaps)) fail(`gid ${proc.user.gid} is not mapped by linux.gidMappings`, 'process.user.gid');
    }
  }
  if (linux.timeOffsets !== undefined) validateTimeOffsets(linux.timeOffsets, ns);
  if (linux.sysctl !== undefined) validateSysctl(linux.sysctl, ns);
  if (linux.devices !== undefined) validateDevices(linux.devices);
  if (linux.rootfsPropagation !== undefined && linux.rootfsPropagation !== '') {
    const prop = expectString(linux.rootfsPropagation, 'linux.rootfsPropagation');
    if (!Object.prototype.hasOwnProperty.call(PROPAGATION_OPTIONS, prop)) {
      fail(`unknown propagation ${JSON.stringify(prop)} (${Object.keys(PROPAGATION_OPTIONS).join(', ')})`, 'linux.rootfsPropagation');
    }
  }
  for (const key of ['maskedPaths', 'readonlyPaths'] as const) {
    if (linux[key] !== undefined) expectArray(linux[key], `linux.${key}`).forEach((p, i) => expectAbsolute(p, `linux.${key}[${i}]`));
  }

  validateHostname(spec, 'hostname', ns);
  validateHostname(spec, 'domainname', ns);
  return spec as unknown as Spec;
}

