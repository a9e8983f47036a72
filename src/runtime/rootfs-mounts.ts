/**
 * Mounts that assemble the root filesystem itself (a graph driver's snapshot: an overlay of
 * layer directories, or a bind of one directory). The runtime makes them onto the rootfs path
 * inside the container's new mount namespace, before anything else, so the host's mount table
 * never holds them and they vanish with the container.
 * @module
 */
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { bindRemountFlags, MS, parseMountOptions } from './mount-options.js';
import type { PlannedMount } from './plan.js';

/** One mount of the rootfs (the shape of a graph driver's SnapshotMount). */
export interface RootfsMount {
  /** `overlay`, `bind`, or another file system type. */
  type: string;
  /** An absolute host directory for `bind`, the file system's source name otherwise. */
  source: string;
  /** Options as `mount -o` takes them (`ro`, `rbind`, `lowerdir=...`). */
  options: string[];
  /** Absolute host directory the mount is made from; relative paths in the options resolve against it. */
  cwd?: string;
}

/** Validates rootfs mounts and turns them into planned mounts (target "/": the rootfs itself). */
export function planRootfsMounts(mounts: readonly RootfsMount[]): PlannedMount[] {
  return mounts.map((m, i) => {
    const field = `rootfsMounts[${i}]`;
    if (typeof m.type !== 'string' || m.type === '') throw new ConfigError('type is required', field);
    if (typeof m.source !== 'string' || m.source === '') throw new ConfigError('source is required', field);
    if (m.cwd !== undefined && !path.isAbsolute(m.cwd)) throw new ConfigError(`cwd must be absolute, not ${JSON.stringify(m.cwd)}`, field);
    const parsed = parseMountOptions(m.options);
    if (parsed.unsupported.length > 0) throw new ConfigError(`unsupported options ${parsed.unsupported.join(', ')}`, field);
    const bind = m.type === 'bind' || parsed.bind;
    if (bind && !path.isAbsolute(m.source)) throw new ConfigError(`bind source must be absolute, not ${JSON.stringify(m.source)}`, field);
    const flags = bind ? parsed.flags | MS.BIND : parsed.flags;
    return {
      source: m.source,
      target: '/',
      fstype: bind ? 'bind' : m.type,
      flags: bind ? flags & (MS.BIND | MS.REC) : flags,
      propagation: 0,
      data: parsed.data.join(','),
      remountFlags: bind ? bindRemountFlags(flags) : 0,
      ...(m.cwd === undefined ? {} : { cwd: m.cwd }),
    };
  });
}
