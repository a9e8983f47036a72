/**
 * `Cgroup`: one control group, on whatever layout the host has. Create it at a path (nested
 * paths and absolute OCI cgroupsPaths alike), join processes to it, apply and update
 * `linux.resources`, read its statistics, freeze and thaw it, kill everything in it, watch for
 * OOM kills, and destroy it. Creation is all or nothing: on any failure the directories it made
 * are removed again.
 *
 * ```ts
 * const cg = await Cgroup.create('/berth/web', { resources: { memory: { limit: 64 << 20 } } });
 * await cg.join(pid);
 * console.log((await cg.stats()).memory.usage);
 * await cg.killAll();
 * await cg.destroy();
 * ```
 * @module
 */
import { FsManager } from './fs.js';
import { Fs2Manager } from './fs2.js';
import { cgroupHost, type CgroupHost, type CgroupMode } from './host.js';
import { HybridManager } from './hybrid.js';
import type { CgroupManager, FreezerState, OomEvent, OomWatch } from './manager.js';
import { normalizeCgroupPath, resolveCgroupPaths, type CgroupPaths } from './paths.js';
import { signalNumberOf } from './signals.js';
import type { CgroupStats } from './stats.js';
import { SystemdManager } from './systemd.js';
import { validateResources, type Resources, type ResourceValidateOptions } from './validate.js';
import type { LinuxResources } from './resources.js';

/** The cgroup drivers: `cgroupfs` (berth's own, the default) or `systemd` (refused: no systemd here). */
export type CgroupDriver = 'cgroupfs' | 'systemd';

/** Options of {@link Cgroup.create} and {@link Cgroup.open}. */
export interface CgroupOptions {
  /** Driver (default `cgroupfs`). */
  driver?: CgroupDriver;
  /** The host layout (default: detected from /proc/self/mountinfo). */
  host?: CgroupHost;
  /** The backend to use on that host (default: the host's layout; `v1` on a hybrid host ignores the cgroup2 mount). */
  mode?: CgroupMode;
  /** Resources to apply right after creating it. */
  resources?: LinuxResources | Resources;
  /** Field prefix of resource errors (default `linux.resources`). */
  field?: string;
  /** Field name of path errors (default `linux.cgroupsPath`). */
  pathField?: string;
  /** Ancestor levels destroy removes when empty (default: those this create made; 0 keeps a shared parent such as `/berth`). */
  pruneParents?: number;
}

/** Builds the manager of a layout. */
export function managerFor(paths: CgroupPaths): CgroupManager {
  switch (paths.mode) {
    case 'v1': return new FsManager(paths);
    case 'v2': return new Fs2Manager(paths);
    case 'hybrid': return new HybridManager(paths);
  }
}

/** One control group. */
export class Cgroup {
  /** The backend. */
  readonly manager: CgroupManager;

  /** Wraps a manager (see {@link Cgroup.create}, {@link Cgroup.open}, {@link Cgroup.fromPaths}). */
  constructor(manager: CgroupManager) {
    this.manager = manager;
  }

  /**
   * Creates the cgroup at `path` (absolute: from each hierarchy's root; relative: below this
   * process's own cgroup) in every hierarchy, and applies `resources`. Everything is checked
   * first; if creating or applying fails, the directories this call made are removed.
   */
  static async create(path: string, options: CgroupOptions = {}): Promise<Cgroup> {
    const paths = Cgroup.resolve(path, options);
    const resources = options.resources === undefined ? undefined : validateResources(options.resources, { field: options.field });
    const manager = managerFor(paths);
    const made = await manager.create();
    paths.pruneParents = options.pruneParents ?? made;
    const cg = new Cgroup(manager);
    if (resources !== undefined) {
      try {
        await manager.set(resources, options.field);
      } catch (err) {
        await cg.destroy().catch(() => undefined);
        throw err;
      }
    }
    return cg;
  }

  /** A handle on an existing cgroup at `path` (nothing is created or checked on disk). */
  static open(path: string, options: CgroupOptions = {}): Cgroup {
    return new Cgroup(managerFor(Cgroup.resolve(path, options)));
  }

  /** A handle rebuilt from {@link Cgroup.paths} (as a container's state record keeps them). */
  static fromPaths(paths: CgroupPaths): Cgroup {
    return new Cgroup(managerFor({ ...paths, v1: paths.v1 ? { ...paths.v1 } : undefined }));
  }

  /** Checks the path and the driver and resolves the directories. */
  private static resolve(path: string, options: CgroupOptions): CgroupPaths {
    if (options.driver === 'systemd') new SystemdManager('cgroupDriver');
    const normalized = normalizeCgroupPath(path, options.pathField);
    return resolveCgroupPaths(normalized, options.host ?? cgroupHost(), options.mode);
  }

  /** The layout it is on. */
  get mode(): CgroupMode {
    return this.manager.mode;
  }

  /** The normalised cgroup path. */
  get path(): string {
    return this.manager.paths.path;
  }

  /** Its directories (serialisable; {@link Cgroup.fromPaths} rebuilds the handle). */
  get paths(): CgroupPaths {
    return this.manager.paths;
  }

  /** The cgroup.procs file of every hierarchy (write a pid to each to join). */
  get procsFiles(): string[] {
    return this.manager.procsFiles();
  }

  /** Moves process `pid` into the cgroup in every hierarchy. */
  join(pid: number): Promise<void> {
    return this.manager.join(pid);
  }

  /** Validates and applies resources (an update: fields left out stay as they are). */
  async apply(resources: LinuxResources | Resources, options: Pick<ResourceValidateOptions, 'field'> = {}): Promise<void> {
    await this.manager.set(validateResources(resources, options), options.field);
  }

  /** Reads the statistics. */
  stats(): Promise<CgroupStats> {
    return this.manager.stats();
  }

  /** Freezes every process in it (returns once the kernel says frozen). */
  freeze(): Promise<void> {
    return this.manager.freeze();
  }

  /** Thaws it. */
  thaw(): Promise<void> {
    return this.manager.thaw();
  }

  /** The freezer state. */
  freezerState(): Promise<FreezerState> {
    return this.manager.freezerState();
  }

  /** Host pids of every process in it. */
  pids(): Promise<number[]> {
    return this.manager.pids();
  }

  /** Sends a signal (name or number) to every process in it. */
  signal(signal: NodeJS.Signals | number): Promise<void> {
    return this.manager.signalAll(signalNumberOf(signal));
  }

  /** Kills every process in it and waits until none is left. */
  killAll(): Promise<void> {
    return this.manager.killAll();
  }

  /** Removes it from every hierarchy (leaf first, retrying while processes drain). */
  destroy(): Promise<void> {
    return this.manager.destroy();
  }

  /** True while it exists. */
  exists(): Promise<boolean> {
    return this.manager.exists();
  }

  /** How many processes the OOM killer has killed in it. */
  oomKillCount(): Promise<number> {
    return this.manager.oomKillCount();
  }

  /** Calls `listener` on each OOM event; null when there is no memory controller to watch. */
  watchOom(listener: (event: OomEvent) => void): OomWatch | null {
    return this.manager.watchOom(listener);
  }
}
