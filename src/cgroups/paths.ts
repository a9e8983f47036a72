/**
 * Cgroup paths: the OCI `cgroupsPath` checked and normalised, and resolved into the directory
 * of every hierarchy the cgroup lives in ({@link CgroupPaths}, which is what a container's
 * state record keeps so that another process finds the same directories).
 * @module
 */
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { hierarchyKey, type CgroupHost, type CgroupMode } from './host.js';

/** Where a cgroup lives on this host: enough to rebuild its manager in another process. */
export interface CgroupPaths {
  /** Which backend drives it. */
  mode: CgroupMode;
  /** The cgroup path as given, normalised (`/berth/ctr1`, or `berth/ctr1` relative to the caller's cgroup). */
  path: string;
  /** v1 and hybrid: the directory in each hierarchy, keyed by its sorted controllers (`cpu`, `cpu,cpuacct`, `name=systemd`). */
  v1?: Record<string, string>;
  /** v2: the cgroup's directory; hybrid: its directory on the cgroup2 mount. */
  unified?: string;
  /** Mount point of the cgroup2 filesystem `unified` is on. */
  unifiedMount?: string;
  /** How many empty ancestor directories destroy() removes too (those its creation made). */
  pruneParents?: number;
}

/**
 * Checks and normalises an OCI cgroupsPath: absolute (`/a/b`, from the hierarchy root) or
 * relative (`a/b`, below the caller's own cgroup, like runc). `..` is refused anywhere, so a
 * path can never leave the hierarchy; the hierarchy root itself is refused too.
 */
export function normalizeCgroupPath(p: unknown, field = 'linux.cgroupsPath'): string {
  if (typeof p !== 'string') throw new ConfigError(`must be a string, not ${JSON.stringify(p)}`, field);
  if (p.includes('\0')) throw new ConfigError('must not contain NUL', field);
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new ConfigError(`${JSON.stringify(p)} escapes the cgroup hierarchy ('..' is not allowed)`, field);
  if (parts.length === 0) throw new ConfigError(`${JSON.stringify(p)} names the root of the hierarchy, not a cgroup below it`, field);
  for (const c of parts) {
    if (c.length > 255) throw new ConfigError(`component ${JSON.stringify(c.slice(0, 32))}... is longer than 255 bytes`, field);
  }
  return `${p.startsWith('/') ? '/' : ''}${parts.join('/')}`;
}

/** The directory of `cgPath` in a hierarchy mounted at `mountPoint` (whose own root is `root`), relative ones below `self`. */
function dirIn(mountPoint: string, root: string, cgPath: string, self: string | undefined): string {
  const abs = cgPath.startsWith('/') ? cgPath : path.posix.join(self ?? '/', cgPath);
  // A hierarchy mounted at a sub-cgroup (inside a cgroup namespace, or a bind of part of it):
  // host paths are relative to that root.
  const rel = root !== '/' && (abs === root || abs.startsWith(`${root}/`)) ? abs.slice(root.length) : abs;
  return path.posix.join(mountPoint, rel);
}

/** Resolves a normalised cgroup path into its directories on `host`, for the backend `mode` (default: the host's). */
export function resolveCgroupPaths(cgPath: string, host: CgroupHost, mode?: CgroupMode): CgroupPaths {
  const m = mode ?? (host.mode === 'none' ? undefined : host.mode);
  if (m === undefined) throw new ConfigError('no cgroup filesystem is mounted under /sys/fs/cgroup', 'linux.cgroupsPath', 'ENOENT');
  const out: CgroupPaths = { mode: m, path: cgPath };
  if (m === 'v1' || m === 'hybrid') {
    if (host.v1.length === 0) throw new ConfigError(`this host has no cgroup v1 hierarchy (it is ${host.mode})`, 'linux.cgroupsPath', 'ENOENT');
    out.v1 = {};
    for (const h of host.v1) {
      const key = hierarchyKey(h.controllers);
      out.v1[key] = dirIn(h.mountPoint, h.root, cgPath, host.self[key]);
    }
  }
  if (m === 'v2' || m === 'hybrid') {
    if (!host.unified) throw new ConfigError(`this host has no cgroup2 mount (it is ${host.mode})`, 'linux.cgroupsPath', 'ENOENT');
    out.unified = dirIn(host.unified.mountPoint, host.unified.root, cgPath, host.self['']);
    out.unifiedMount = host.unified.mountPoint;
  }
  return out;
}

