/**
 * What a container needs from the cgroups layer: its cgroup path (`linux.cgroupsPath`, default
 * `/berth/<id>`), its resources with runc's device rules added, and OOM tracking that turns the
 * cgroup's OOM kills into `oomKilled` on the exit of its processes.
 * @module
 */
import { Cgroup, containerDeviceRules, normalizeCgroupPath, validateResources, type OomWatch, type Resources } from '../cgroups/index.js';
import type { ExitStatus } from '../native/index.js';
import type { LinuxResources, Spec } from './spec.js';

/**
 * The parent of the default cgroup paths (`/berth/<id>`). It is kept once made, like Docker's
 * `/docker`: removing and re-making it around every container cost ~3 ms a start.
 */
export const DEFAULT_CGROUP_PARENT = '/berth';

/** Everything checked before anything is created: the path and the validated resources. */
export interface CgroupPlan {
  /** The normalised cgroup path. */
  path: string;
  /** Validated resources, devices completed with runc's defaults. */
  resources: Resources;
  /** Ancestor levels a destroy removes when empty: 0 for the shared default parent, else those the create made. */
  pruneParents: number | undefined;
}

/** Checks `linux.cgroupsPath` and `linux.resources` of a spec (ConfigErrors name the field). */
export function planContainerCgroup(spec: Spec, id: string): CgroupPlan {
  const given = spec.linux?.cgroupsPath;
  const path = given === undefined || given === '' ? `${DEFAULT_CGROUP_PARENT}/${id}` : normalizeCgroupPath(given, 'linux.cgroupsPath');
  const resources = validateResources(spec.linux?.resources ?? {}, { field: 'linux.resources' });
  // Like runc: the spec's rules, then rwm for the spec's device nodes, then the default allowed devices.
  resources.devices = containerDeviceRules(resources.devices ?? [], spec.linux?.devices ?? []);
  return { path, resources, pruneParents: given === undefined || given === '' ? 0 : undefined };
}

/** Creates the cgroup of a plan and applies its resources (removed again on failure). */
export function createContainerCgroup(plan: CgroupPlan): Promise<Cgroup> {
  return Cgroup.create(plan.path, { resources: plan.resources, pruneParents: plan.pruneParents });
}

/** Follows a container cgroup's OOM events. */
export class OomTracker {
  /** The watch (null without a memory controller). */
  private watch: OomWatch | null;
  private seen = 0;
  private readonly cgroup: Cgroup;

  constructor(cgroup: Cgroup) {
    this.cgroup = cgroup;
    this.watch = cgroup.watchOom(() => { this.seen++; });
  }

  /** OOM events seen. */
  get events(): number {
    return this.seen;
  }

  /** The OOM kill count of the cgroup (0 when unknown). */
  async kills(): Promise<number> {
    return this.cgroup.oomKillCount().catch(() => 0);
  }

  /** For the init: any OOM kill in the container's cgroup during its life (Docker's OOMKilled). */
  readonly probeInit = async (_status: ExitStatus): Promise<boolean> => this.seen > 0 || (await this.kills()) > 0;

  /** Stops watching (idempotent). */
  close(): void {
    this.watch?.close();
    this.watch = null;
  }
}

/** For an exec'd process: killed by SIGKILL while the cgroup's OOM kill count rose past `before`. */
export function execOomProbe(cgroup: Cgroup | null, before: () => number): (status: ExitStatus) => Promise<boolean> {
  return async (status) => {
    if (!cgroup || status.signal !== 'SIGKILL') return false;
    return (await cgroup.oomKillCount().catch(() => 0)) > before();
  };
}

/** The config with `update` merged into its resources (each section's fields replace the old ones). */
export function withResources(config: Spec, update: LinuxResources): Spec {
  const old: LinuxResources = config.linux?.resources ?? {};
  const merged: LinuxResources = { ...old };
  for (const [k, v] of Object.entries(update) as Array<[keyof LinuxResources, unknown]>) {
    if (v === undefined) continue;
    const prev = old[k];
    (merged as Record<string, unknown>)[k] = typeof v === 'object' && v !== null && !Array.isArray(v) && typeof prev === 'object' && prev !== null && !Array.isArray(prev)
      ? { ...prev, ...v } : v;
  }
  return { ...config, linux: { ...config.linux, resources: merged } };
}
