/**
 * What `docker run` calls the host config, applied to a container's runtime spec: bind mounts
 * and named volumes, memory/CPU/pids limits, capabilities added and dropped (from Docker's
 * default set), and `--init` (berth's small init as pid 1, reaping zombies and forwarding
 * signals).
 * @module
 */
import path from 'node:path';
import { CAPABILITY_NAMES } from '../runtime/capabilities.js';
import type { Mount, Spec } from '../runtime/spec.js';
import { EngineError } from './errors.js';

/** One mount of a container: a host directory (`bind`) or a named volume (`volume`). */
export interface MountOption {
  /** `bind` or `volume`. */
  type: 'bind' | 'volume';
  /** Host path (bind) or volume name (volume). */
  source: string;
  /** Absolute path in the container. */
  target: string;
  /** Mounted read-only. */
  readOnly?: boolean;
}

/** Resource limits in `docker run` terms. */
export interface ResourceOptions {
  /** Memory limit in bytes. */
  memory?: number;
  /** Number of CPUs (fractional), as a CFS quota over a 100 ms period. */
  cpus?: number;
  /** Maximum number of processes (-1: unlimited). */
  pidsLimit?: number;
}

/** Docker's default capabilities of a container. */
export const DOCKER_DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** A capability name as the runtime takes it (`net_admin`, `NET_ADMIN` and `CAP_NET_ADMIN` all name CAP_NET_ADMIN; `ALL` is all). */
function capName(name: string, field: string): string {
  const upper = name.toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!CAPABILITY_NAMES.includes(full)) throw new EngineError(`unknown capability ${JSON.stringify(name)}`, 'EINVALIDSPEC', field);
  return full;
}

/** The capability set from Docker's defaults with `add` and `drop` applied (drop first, as Docker does). */
export function capabilitySet(add: readonly string[] = [], drop: readonly string[] = []): string[] {
  const dropped = drop.map((c) => capName(c, 'capDrop'));
  const added = add.map((c) => capName(c, 'capAdd'));
  let set = dropped.includes('ALL') ? [] : DOCKER_DEFAULT_CAPABILITIES.filter((c) => !dropped.includes(c));
  if (added.includes('ALL')) set = [...CAPABILITY_NAMES];
  else for (const c of added) if (!set.includes(c)) set.push(c);
  return set;
}

/** Applies capabilities to the spec's process (bounding, effective, permitted). */
export function applyCapabilities(spec: Spec, caps: string[]): void {
  spec.process!.capabilities = { bounding: [...caps], effective: [...caps], permitted: [...caps] };
}

/** Adds the container's mounts (already resolved to host directories) to the spec. */
export function applyMounts(spec: Spec, mounts: ReadonlyArray<{ hostPath: string; target: string; readOnly: boolean }>): void {
  const extra: Mount[] = mounts.map((m) => ({ destination: m.target, type: 'bind', source: m.hostPath, options: ['rbind', m.readOnly ? 'ro' : 'rw', 'rprivate'] }));
  spec.mounts = [...(spec.mounts ?? []), ...extra];
}

/** Checks a mount option (EngineError naming the field). */
export function checkMount(m: MountOption, i: number): void {
  const field = `mounts[${i}]`;
  if (!path.isAbsolute(m.target)) throw new EngineError(`${field}: the target must be an absolute path, not ${JSON.stringify(m.target)}`, 'EINVALIDSPEC', field);
  if (m.target === '/') throw new EngineError(`${field}: cannot mount over /`, 'EINVALIDSPEC', field);
  if (m.type === 'bind' && !path.isAbsolute(m.source)) throw new EngineError(`${field}: a bind source must be an absolute host path, not ${JSON.stringify(m.source)}`, 'EINVALIDSPEC', field);
  if (m.type !== 'bind' && m.type !== 'volume') throw new EngineError(`${field}: unknown mount type ${JSON.stringify(m.type)}`, 'EINVALIDSPEC', field);
}

/** Applies resource limits to the spec. */
export function applyResources(spec: Spec, r: ResourceOptions): void {
  const linux = (spec.linux ??= {});
  const res = (linux.resources ??= {});
  if (r.memory !== undefined) {
    if (!Number.isInteger(r.memory) || r.memory < 6 * 2 ** 20) throw new EngineError('memory: the minimum is 6 MiB', 'EINVALIDSPEC', 'memory');
    res.memory = { ...res.memory, limit: r.memory };
  }
  if (r.cpus !== undefined) {
    if (!(r.cpus > 0)) throw new EngineError(`cpus: must be positive, not ${r.cpus}`, 'EINVALIDSPEC', 'cpus');
    res.cpu = { ...res.cpu, period: 100_000, quota: Math.round(r.cpus * 100_000) };
  }
  if (r.pidsLimit !== undefined) {
    if (!Number.isInteger(r.pidsLimit) || r.pidsLimit === 0 || r.pidsLimit < -1) throw new EngineError(`pidsLimit: must be a positive integer or -1, not ${r.pidsLimit}`, 'EINVALIDSPEC', 'pidsLimit');
    res.pids = { limit: r.pidsLimit };
  }
}
