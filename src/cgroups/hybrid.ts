/**
 * The hybrid backend: every v1 hierarchy (where the controllers are) plus a cgroup on the
 * cgroup2 mount at /sys/fs/cgroup/unified, which the container's processes join too. The v2
 * side has the core files (cgroup.kill, cgroup.events) and whatever controllers v1 does not
 * hold (on these machines: hugetlb); `unified` entries are written there. crun refuses this
 * layout; runc joins the unified cgroup but leaves it unused.
 * @module
 */
import path from 'node:path';
import { fileExists, writeCgroupFile } from './files.js';
import { FsManager } from './fs.js';
import { Fs2Manager } from './fs2.js';
import type { CgroupMode } from './host.js';
import type { FreezerState } from './manager.js';
import type { CgroupPaths } from './paths.js';
import { waitUntil } from './procs.js';
import type { LinuxHugepageLimit } from './resources.js';
import type { HugetlbStats } from './stats.js';

/** v1 hierarchies plus a cgroup2 directory. */
export class HybridManager extends FsManager {
  override readonly mode: CgroupMode = 'hybrid';
  /** The cgroup on the cgroup2 mount. */
  readonly v2: Fs2Manager;

  constructor(paths: CgroupPaths) {
    super(paths);
    this.v2 = new Fs2Manager(paths);
  }

  override procsFiles(): string[] {
    return [...super.procsFiles(), ...this.v2.procsFiles()];
  }

  override async create(): Promise<number> {
    const [v1, v2] = await Promise.allSettled([super.create(), this.v2.create()]);
    if (v1.status === 'fulfilled' && v2.status === 'fulfilled') return Math.max(v1.value, v2.value);
    // Undo the half that worked (each half already undid itself on failure).
    const prune = this.paths.pruneParents;
    this.paths.pruneParents = Math.max(prune ?? 0, v1.status === 'fulfilled' ? v1.value : 0, v2.status === 'fulfilled' ? v2.value : 0);
    if (v1.status === 'fulfilled') await super.destroy().catch(() => undefined);
    if (v2.status === 'fulfilled') await this.v2.destroy().catch(() => undefined);
    this.paths.pruneParents = prune;
    throw (v1.status === 'rejected' ? v1.reason : (v2 as PromiseRejectedResult).reason) as Error;
  }

  override async join(pid: number): Promise<void> {
    await super.join(pid);
    await this.v2.join(pid);
  }

  /** Hugetlb through v1 when mounted there, else on the unified cgroup. */
  protected override async setHugetlb(limits: LinuxHugepageLimit[], field: string): Promise<void> {
    if (this.dir('hugetlb')) return super.setHugetlb(limits, field);
    return this.v2.setHugetlb(limits, field);
  }

  /** `unified` entries go to the unified cgroup. */
  protected override async setUnified(u: Record<string, string>, field: string): Promise<void> {
    return this.v2.setUnified(u, field);
  }

  protected override async hugetlbStats(): Promise<Record<string, HugetlbStats>> {
    return this.dir('hugetlb') ? super.hugetlbStats() : this.v2.hugetlbStats();
  }

  override async freeze(): Promise<void> {
    return this.dir('freezer') ? super.freeze() : this.v2.freeze();
  }

  override async thaw(): Promise<void> {
    return this.dir('freezer') ? super.thaw() : this.v2.thaw();
  }

  override async freezerState(): Promise<FreezerState> {
    return this.dir('freezer') ? super.freezerState() : this.v2.freezerState();
  }

  /** cgroup.kill on the unified cgroup when the kernel has it (one atomic write), else v1's freeze-kill-thaw. */
  override async killAll(): Promise<void> {
    if (await fileExists(this.v2.dir, 'cgroup.kill')) {
      await writeCgroupFile(this.v2.dir, 'cgroup.kill', '1');
      // Tasks the v1 freezer holds die only once thawed.
      if ((await super.freezerState()) !== 'thawed') await super.thaw();
      const drained = await waitUntil(async () => (await this.v2.events()).populated !== 1, 5000, 2);
      // The v1 side empties with it (the same processes), unless some joined only v1.
      if (drained && (await this.pids()).length === 0) return;
    }
    return super.killAll();
  }

  override async destroy(): Promise<void> {
    const errors: unknown[] = [];
    await super.destroy().catch((e: unknown) => { errors.push(e); });
    await this.v2.destroy().catch((e: unknown) => { errors.push(e); });
    if (errors.length > 0) throw errors[0];
  }

  /** The unified directory's cgroup.procs path. */
  get unifiedProcs(): string {
    return path.join(this.v2.dir, 'cgroup.procs');
  }
}
