/**
 * The runtime spec of an engine container: `defaultSpec()` (runc's defaults) shaped by the
 * image config — Entrypoint and Cmd, Env, WorkingDir, User — and then by the caller's options,
 * with Docker's precedence: an option given replaces the image's value (`cmd` replaces Cmd,
 * `entrypoint` replaces Entrypoint and drops the image's Cmd), env entries override the
 * image's by name.
 * @module
 */
import type { ImageConfig } from '../image/oci.js';
import { defaultSpec, type Spec } from '../runtime/spec.js';
import { EngineError } from './errors.js';
import type { ResolvedUser } from './image-user.js';

/** Options of a container that shape its process (a subset of `docker run`'s). */
export interface ProcessOptions {
  /** The command, replacing the image's Cmd. */
  cmd?: string[];
  /** The entrypoint, replacing the image's (an empty array clears it); the image's Cmd is then dropped unless `cmd` is given. */
  entrypoint?: string[];
  /** `KEY=value` entries added to (and overriding) the image's Env. */
  env?: string[];
  /** Working directory, replacing the image's WorkingDir. */
  workdir?: string;
  /** `user[:group]`, replacing the image's User. */
  user?: string;
  /** Hostname (default: the first 12 characters of the container id). */
  hostname?: string;
  /** Mount the rootfs read-only. */
  readOnly?: boolean;
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** `KEY=value` lists merged: later entries replace earlier ones of the same key, order of first appearance kept. */
export function mergeEnv(...lists: Array<readonly string[] | undefined>): string[] {
  const map = new Map<string, string>();
  for (const list of lists) {
    for (const e of list ?? []) {
      const eq = e.indexOf('=');
      const key = eq < 0 ? e : e.slice(0, eq);
      if (eq < 0) continue;
      map.set(key, e);
    }
  }
  return [...map.values()];
}

/** The program and arguments Docker would run. */
export function processArgs(config: ImageConfig, options: ProcessOptions): string[] {
  const entrypoint = options.entrypoint ?? config.config?.Entrypoint ?? [];
  const cmd = options.cmd ?? (options.entrypoint !== undefined ? [] : config.config?.Cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new EngineError('no command specified: the image has no Entrypoint or Cmd and none was given', 'ENOCMD', 'cmd');
  return args;
}

/** Builds the spec of a container with root filesystem at `rootfs`. */
export function containerSpec(config: ImageConfig, options: ProcessOptions, ctx: { id: string; rootfs: string; user: ResolvedUser }): Spec {
  const spec = defaultSpec({ args: processArgs(config, options), rootPath: ctx.rootfs, readonlyRoot: options.readOnly ?? false, hostname: options.hostname ?? ctx.id.slice(0, 12) });
  const proc = spec.process!;
  const hostname = spec.hostname ?? '';
  const imageEnv = config.config?.Env ?? [];
  const env = mergeEnv([DEFAULT_PATH], imageEnv, [`HOSTNAME=${hostname}`], options.env);
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${ctx.user.home ?? '/'}`);
  proc.env = env;
  proc.cwd = options.workdir || config.config?.WorkingDir || '/';
  if (!proc.cwd.startsWith('/')) throw new EngineError(`working directory must be absolute, not ${JSON.stringify(proc.cwd)}`, 'EINVALIDSPEC', 'workdir');
  proc.user = { uid: ctx.user.uid, gid: ctx.user.gid, ...(ctx.user.additionalGids.length > 0 ? { additionalGids: ctx.user.additionalGids } : {}) };
  // Docker masks the RAPL energy counters too (their readings leak what other code computes).
  spec.linux!.maskedPaths = [...(spec.linux!.maskedPaths ?? []), '/sys/devices/virtual/powercap'];
  return spec;
}
