/**
 * Checks an OCI `linux.resources` object before anything is written: every number is an
 * integer in range, a cpuset names only CPUs and nodes the host has online, device rules have
 * known types and access letters, page sizes exist. Errors are {@link ConfigError}s naming the
 * field (`linux.resources.memory.limit`). The result is a clean copy with defaults filled in.
 * @module
 */
import { ConfigError } from '../errors.js';
import { hostResources, parseCpuList, type HostResources } from './host.js';
import type {
  LinuxBlockIO, LinuxCPU, LinuxDeviceCgroup, LinuxHugepageLimit, LinuxMemory, LinuxNetwork, LinuxRdma, LinuxResources,
  LinuxThrottleDevice, LinuxWeightDevice,
} from './resources.js';

/** A device rule with every field filled in: type `a`/`c`/`b`, -1 for a wildcard number. */
export interface DeviceRule {
  /** Allow or deny. */
  allow: boolean;
  /** `a` (all), `c` (char) or `b` (block). */
  type: 'a' | 'c' | 'b';
  /** Major number, -1 for any. */
  major: number;
  /** Minor number, -1 for any. */
  minor: number;
  /** Some of `rwm`, in that order. */
  access: string;
}

/** Validated resources: as {@link LinuxResources}, with device rules completed. */
export interface Resources extends Omit<LinuxResources, 'devices'> {
  /** Device rules in order, completed. */
  devices?: DeviceRule[];
}

const INT64_MAX = 2 ** 63;
const UINT32_MAX = 2 ** 32 - 1;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, field: string): Record<string, unknown> {
  if (!isObject(v)) throw new ConfigError(`must be an object, not ${JSON.stringify(v)}`, field);
  return v;
}

/** An integer in [min, max]; bigint is accepted and narrowed. */
function int(v: unknown, field: string, min: number, max = INT64_MAX, hint = ''): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) {
    throw new ConfigError(`must be an integer, not ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`, field);
  }
  if (n < min || n > max) {
    throw new ConfigError(`${n} is out of range: it must be between ${min} and ${max === INT64_MAX ? '2^63-1' : max}${hint}`, field);
  }
  return n;
}

function optInt(v: unknown, field: string, min: number, max = INT64_MAX, hint = ''): number | undefined {
  return v === undefined || v === null ? undefined : int(v, field, min, max, hint);
}

function optBool(v: unknown, field: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ConfigError(`must be true or false, not ${JSON.stringify(v)}`, field);
  return v;
}

function array(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) throw new ConfigError(`must be an array, not ${JSON.stringify(v)}`, field);
  return v;
}

/** Drops undefined properties. */
function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

function cpuset(v: unknown, field: string, online: readonly number[], what: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new ConfigError(`must be a ${what} list string like "0-2,4", not ${JSON.stringify(v)}`, field);
  const list = parseCpuList(v);
  if (list === null) throw new ConfigError(`${JSON.stringify(v)} is not a ${what} list (expected e.g. "0-2,4")`, field);
  const have = new Set(online);
  const missing = list.filter((n) => !have.has(n));
  if (missing.length > 0) {
    throw new ConfigError(`names ${what}${missing.length > 1 ? 's' : ''} ${missing.join(',')} that this host does not have online (online: ${formatList(online)})`, field, 'EINVAL');
  }
  return v.trim();
}

function formatList(list: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < list.length;) {
    let j = i;
    while (j + 1 < list.length && list[j + 1] === list[j]! + 1) j++;
    out.push(i === j ? `${list[i]}` : `${list[i]}-${list[j]}`);
    i = j + 1;
  }
  return out.join(',') || 'none';
}

function memory(v: unknown, field: string): LinuxMemory {
  const m = obj(v, field);
  const out: LinuxMemory = clean({
    limit: optInt(m.limit, `${field}.limit`, -1, INT64_MAX, ' (-1 for unlimited)'),
    reservation: optInt(m.reservation, `${field}.reservation`, -1, INT64_MAX, ' (-1 for unlimited)'),
    swap: optInt(m.swap, `${field}.swap`, -1, INT64_MAX, ' (-1 for unlimited)'),
    kernel: optInt(m.kernel, `${field}.kernel`, -1),
    kernelTCP: optInt(m.kernelTCP, `${field}.kernelTCP`, -1),
    swappiness: optInt(m.swappiness, `${field}.swappiness`, -1, 100),
    disableOOMKiller: optBool(m.disableOOMKiller, `${field}.disableOOMKiller`),
    useHierarchy: optBool(m.useHierarchy, `${field}.useHierarchy`),
    checkBeforeUpdate: optBool(m.checkBeforeUpdate, `${field}.checkBeforeUpdate`),
  });
  if (out.limit !== undefined && out.limit > 0 && out.swap !== undefined && out.swap > 0 && out.swap < out.limit) {
    throw new ConfigError(`${out.swap} is below memory.limit ${out.limit}: swap is the limit of memory plus swap`, `${field}.swap`);
  }
  return out;
}

function cpu(v: unknown, field: string, host: HostResources): LinuxCPU {
  const c = obj(v, field);
  return clean({
    shares: optInt(c.shares, `${field}.shares`, 0),
    quota: optInt(c.quota, `${field}.quota`, -1, INT64_MAX, ' (-1 for unlimited)'),
    burst: optInt(c.burst, `${field}.burst`, 0),
    period: optInt(c.period, `${field}.period`, 0),
    realtimeRuntime: optInt(c.realtimeRuntime, `${field}.realtimeRuntime`, -1),
    realtimePeriod: optInt(c.realtimePeriod, `${field}.realtimePeriod`, 0),
    cpus: cpuset(c.cpus, `${field}.cpus`, host.cpus, 'CPU'),
    mems: cpuset(c.mems, `${field}.mems`, host.mems, 'memory node'),
    idle: optInt(c.idle, `${field}.idle`, 0, 1),
  });
}

const WEIGHT_HINT = ' (0 leaves it unset)';

function weight(v: unknown, field: string): number | undefined {
  const w = optInt(v, field, 0, 1000, WEIGHT_HINT);
  if (w !== undefined && w !== 0 && w < 10) throw new ConfigError(`${w} is out of range: it must be between 10 and 1000${WEIGHT_HINT}`, field);
  return w;
}

function throttle(v: unknown, field: string): LinuxThrottleDevice[] | undefined {
  if (v === undefined || v === null) return undefined;
  return array(v, field).map((d, i) => {
    const f = `${field}[${i}]`;
    const o = obj(d, f);
    return { major: int(o.major, `${f}.major`, 0, UINT32_MAX), minor: int(o.minor, `${f}.minor`, 0, UINT32_MAX), rate: int(o.rate, `${f}.rate`, 0, 2 ** 64) };
  });
}

function blockIO(v: unknown, field: string): LinuxBlockIO {
  const b = obj(v, field);
  const weightDevice = b.weightDevice === undefined || b.weightDevice === null ? undefined : array(b.weightDevice, `${field}.weightDevice`).map((d, i): LinuxWeightDevice => {
    const f = `${field}.weightDevice[${i}]`;
    const o = obj(d, f);
    return clean({
      major: int(o.major, `${f}.major`, 0, UINT32_MAX), minor: int(o.minor, `${f}.minor`, 0, UINT32_MAX),
      weight: weight(o.weight, `${f}.weight`), leafWeight: weight(o.leafWeight, `${f}.leafWeight`),
    });
  });
  return clean({
    weight: weight(b.weight, `${field}.weight`),
    leafWeight: weight(b.leafWeight, `${field}.leafWeight`),
    weightDevice,
    throttleReadBpsDevice: throttle(b.throttleReadBpsDevice, `${field}.throttleReadBpsDevice`),
    throttleWriteBpsDevice: throttle(b.throttleWriteBpsDevice, `${field}.throttleWriteBpsDevice`),
    throttleReadIOPSDevice: throttle(b.throttleReadIOPSDevice, `${field}.throttleReadIOPSDevice`),
    throttleWriteIOPSDevice: throttle(b.throttleWriteIOPSDevice, `${field}.throttleWriteIOPSDevice`),
  });
}

function hugepages(v: unknown, field: string, host: HostResources): LinuxHugepageLimit[] {
  return array(v, field).map((h, i) => {
    const f = `${field}[${i}]`;
    const o = obj(h, f);
    if (typeof o.pageSize !== 'string' || !/^\d+[KMGT]?B$/.test(o.pageSize)) {
      throw new ConfigError(`must be a page size like "2MB", not ${JSON.stringify(o.pageSize)}`, `${f}.pageSize`);
    }
    if (!host.hugepageSizes.includes(o.pageSize)) {
      throw new ConfigError(`this host has no ${o.pageSize} huge pages (it has: ${host.hugepageSizes.join(', ') || 'none'})`, `${f}.pageSize`, 'EINVAL');
    }
    return { pageSize: o.pageSize, limit: int(o.limit, `${f}.limit`, 0) };
  });
}

const DEVICE_TYPES = new Set(['a', 'c', 'b']);

/** Validates device cgroup rules and fills in their defaults (type `a`, any number, `rwm`). */
export function validateDeviceRules(v: unknown, field: string): DeviceRule[] {
  return array(v, field).map((d, i) => {
    const f = `${field}[${i}]`;
    const o = obj(d, f) as Partial<Record<keyof LinuxDeviceCgroup, unknown>>;
    if (typeof o.allow !== 'boolean') throw new ConfigError(`must be true or false, not ${JSON.stringify(o.allow)}`, `${f}.allow`);
    const type = o.type === undefined || o.type === null || o.type === '' ? 'a' : o.type;
    if (typeof type !== 'string' || !DEVICE_TYPES.has(type)) {
      throw new ConfigError(`unknown device type ${JSON.stringify(type)}: use "a" (all), "c" (char) or "b" (block)`, `${f}.type`);
    }
    const access = o.access === undefined || o.access === null || o.access === '' ? 'rwm' : o.access;
    if (typeof access !== 'string' || !/^[rwm]+$/.test(access)) {
      throw new ConfigError(`access must be made of r, w and m, not ${JSON.stringify(access)}`, `${f}.access`);
    }
    return {
      allow: o.allow,
      type: type as DeviceRule['type'],
      major: o.major === undefined || o.major === null ? -1 : int(o.major, `${f}.major`, -1, UINT32_MAX, ' (-1 for any)'),
      minor: o.minor === undefined || o.minor === null ? -1 : int(o.minor, `${f}.minor`, -1, UINT32_MAX, ' (-1 for any)'),
      access: ['r', 'w', 'm'].filter((c) => access.includes(c)).join(''),
    };
  });
}

function network(v: unknown, field: string): LinuxNetwork {
  const n = obj(v, field);
  return clean({
    classID: optInt(n.classID, `${field}.classID`, 0, UINT32_MAX),
    priorities: n.priorities === undefined || n.priorities === null ? undefined : array(n.priorities, `${field}.priorities`).map((p, i) => {
      const f = `${field}.priorities[${i}]`;
      const o = obj(p, f);
      if (typeof o.name !== 'string' || !/^[^\s/]{1,15}$/.test(o.name)) throw new ConfigError(`must be an interface name, not ${JSON.stringify(o.name)}`, `${f}.name`);
      return { name: o.name, priority: int(o.priority, `${f}.priority`, 0, UINT32_MAX) };
    }),
  });
}

function rdma(v: unknown, field: string): Record<string, LinuxRdma> {
  const out: Record<string, LinuxRdma> = {};
  for (const [dev, lim] of Object.entries(obj(v, field))) {
    const f = `${field}.${dev}`;
    if (!/^[^\s/]+$/.test(dev)) throw new ConfigError('must be a device name', f);
    const o = obj(lim, f);
    out[dev] = clean({ hcaHandles: optInt(o.hcaHandles, `${f}.hcaHandles`, 0, UINT32_MAX), hcaObjects: optInt(o.hcaObjects, `${f}.hcaObjects`, 0, UINT32_MAX) });
  }
  return out;
}

function unified(v: unknown, field: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(obj(v, field))) {
    const f = `${field}.${k}`;
    if (!/^[A-Za-z0-9_]+\.[A-Za-z0-9_.]+$/.test(k)) throw new ConfigError(`${JSON.stringify(k)} is not a cgroup v2 file name (CONTROLLER.PARAMETER, no slashes)`, f);
    if (typeof val !== 'string') throw new ConfigError(`must be a string, not ${JSON.stringify(val)}`, f);
    out[k] = val;
  }
  return out;
}

/** Options of {@link validateResources}. */
export interface ResourceValidateOptions {
  /** Field prefix for errors (default `linux.resources`). */
  field?: string;
  /** Host CPUs, nodes and page sizes (default: read from /sys). */
  host?: HostResources;
}

/** Validates an OCI `linux.resources` object; throws a ConfigError naming the first bad field. */
export function validateResources(v: unknown, options: ResourceValidateOptions = {}): Resources {
  const field = options.field ?? 'linux.resources';
  if (v === undefined || v === null) return {};
  const r = obj(v, field);
  let host = options.host;
  const hostFacts = (): HostResources => (host ??= hostResources());
  return clean({
    devices: r.devices === undefined || r.devices === null ? undefined : validateDeviceRules(r.devices, `${field}.devices`),
    memory: r.memory === undefined || r.memory === null ? undefined : memory(r.memory, `${field}.memory`),
    cpu: r.cpu === undefined || r.cpu === null ? undefined : cpu(r.cpu, `${field}.cpu`, hostFacts()),
    pids: r.pids === undefined || r.pids === null ? undefined : { limit: int(obj(r.pids, `${field}.pids`).limit, `${field}.pids.limit`, -1, INT64_MAX, ' (-1 for unlimited)') },
    blockIO: r.blockIO === undefined || r.blockIO === null ? undefined : blockIO(r.blockIO, `${field}.blockIO`),
    hugepageLimits: r.hugepageLimits === undefined || r.hugepageLimits === null ? undefined : hugepages(r.hugepageLimits, `${field}.hugepageLimits`, hostFacts()),
    network: r.network === undefined || r.network === null ? undefined : network(r.network, `${field}.network`),
    rdma: r.rdma === undefined || r.rdma === null ? undefined : rdma(r.rdma, `${field}.rdma`),
    unified: r.unified === undefined || r.unified === null ? undefined : unified(r.unified, `${field}.unified`),
  });
}
