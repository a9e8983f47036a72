/**
 * The one interface every cgroup backend implements (after opencontainers/cgroups' Manager):
 * `fs` (v1 hierarchies), `fs2` (the unified v2 hierarchy) and `hybrid` (v1 controllers plus a
 * cgroup2 directory on /sys/fs/cgroup/unified). {@link Cgroup} wraps one.
 * @module
 */
import type { CgroupMode } from './host.js';
import type { CgroupPaths } from './paths.js';
import type { CgroupStats } from './stats.js';
import type { Resources } from './validate.js';

/** Freezer state: `thawed`, `frozen`, `freezing` (v1, on the way), or `undefined` (no freezer). */
export type FreezerState = 'thawed' | 'frozen' | 'freezing' | 'undefined';

/** A running OOM watch; close it to stop (idempotent). */
export interface OomWatch {
  /** OOM events seen so far. */
  readonly count: number;
  /** Stops watching and releases its fds. */
  close(): void;
}

/** What an OOM listener is told. */
export interface OomEvent {
  /** The cgroup's directory that reported it. */
  dir: string;
  /** The oom_kill count after the event (0 when the kernel does not report it). */
  oomKill: number;
}

/** A cgroup backend. All methods act on every hierarchy the cgroup is in. */
export interface CgroupManager {
  /** The layout this backend drives. */
  readonly mode: CgroupMode;
  /** The cgroup's directories. */
  readonly paths: CgroupPaths;
  /** The cgroup.procs file of every hierarchy: writing a pid to each joins the cgroup. */
  procsFiles(): string[];
  /** Creates the directories (and missing parents); on failure removes what it made. Returns how many ancestor levels it made. */
  create(): Promise<number>;
  /** Moves a process into the cgroup in every hierarchy. */
  join(pid: number): Promise<void>;
  /** Applies validated resources; `field` prefixes error fields (default `linux.resources`). */
  set(resources: Resources, field?: string): Promise<void>;
  /** Reads the statistics. */
  stats(): Promise<CgroupStats>;
  /** Freezes every process and waits until the kernel says it is frozen. */
  freeze(): Promise<void>;
  /** Thaws. */
  thaw(): Promise<void>;
  /** The freezer state. */
  freezerState(): Promise<FreezerState>;
  /** Host pids of the processes in the cgroup (and its sub-cgroups). */
  pids(): Promise<number[]>;
  /** Sends `signo` to every process (frozen first, so none escapes by forking). */
  signalAll(signo: number): Promise<void>;
  /** SIGKILLs every process (v2 cgroup.kill when the kernel has it) and returns when none is left. */
  killAll(): Promise<void>;
  /** Removes the directories leaf-first, retrying EBUSY while processes drain. */
  destroy(): Promise<void>;
  /** True while the cgroup's directory exists in its first hierarchy. */
  exists(): Promise<boolean>;
  /** Processes the OOM killer has killed in the cgroup (0 without a memory controller). */
  oomKillCount(): Promise<number>;
  /** Calls `listener` on every OOM event; null when the cgroup has no memory controller to watch. */
  watchOom(listener: (event: OomEvent) => void): OomWatch | null;
}
