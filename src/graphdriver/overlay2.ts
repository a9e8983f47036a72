/**
 * The `overlay2` driver, laid out as Docker's: each snapshot is `<home>/<id>/` with `diff/` (its
 * own content, overlayfs whiteouts), `work/`, `link` (a short name) and `lower` (the short
 * links of its parents, topmost first); `<home>/l/<short>` links to `../<id>/diff`. Mounts name
 * lower dirs by short link relative to `<home>` (the mount's `cwd`), so a chain of 120+ layers
 * stays under the page-size limit of mount(2) data; the runtime falls back to the new mount
 * API (one `lowerdir+` per layer) when even that is too long. `index=off` as Docker mounts.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GraphDriverError } from './errors.js';
import type { LayerDirs, SnapshotMount } from './driver.js';
import { overlaySupported } from './overlay-support.js';
import type { SnapshotRecord } from './snapshot-records.js';
import { SnapshotterBase } from './snapshotter-base.js';

const LINK_DIR = 'l';
const LINK_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A random 26-character short link name, as Docker's. */
function shortLinkName(): string {
  const bytes = randomBytes(26);
  let s = '';
  for (const b of bytes) s += LINK_CHARS[b % LINK_CHARS.length];
  return s;
}

/** The overlay2 driver. */
export class Overlay2Driver extends SnapshotterBase {
  /** `overlay2`. */
  readonly name = 'overlay2';
  protected readonly whiteouts = 'overlay';
  protected readonly storageDir: string;

  constructor(home: string) {
    super(home);
    this.storageDir = home;
  }

  /** Opens (creating) an overlay2 driver at `home`; GraphDriverError ENOTSUP when overlayfs cannot work there. */
  static async open(home: string): Promise<Overlay2Driver> {
    const d = new Overlay2Driver(path.resolve(home));
    await mkdir(path.join(d.home, LINK_DIR), { recursive: true, mode: 0o700 });
    const why = await overlaySupported(d.home);
    if (why !== undefined) throw new GraphDriverError(`overlay2 cannot be used on ${d.home}: ${why}`, 'ENOTSUP', d.home);
    return d;
  }

  protected ownDir(rec: SnapshotRecord): string {
    return path.join(this.home, rec.id, 'diff');
  }

  /** The short links of `rec` and its ancestors, topmost first. */
  private async chain(rec: SnapshotRecord): Promise<string[]> {
    const dir = path.join(this.home, rec.id);
    const own = (await readFile(path.join(dir, 'link'), 'utf8')).trim();
    const lower = (await readFile(path.join(dir, 'lower'), 'utf8').catch(() => '')).trim();
    return [`${LINK_DIR}/${own}`, ...(lower === '' ? [] : lower.split(':'))];
  }

  protected async createStorage(rec: SnapshotRecord, parent: SnapshotRecord | undefined): Promise<void> {
    const dir = path.join(this.home, rec.id);
    await mkdir(dir, { mode: 0o700 });
    await mkdir(path.join(dir, 'diff'), { mode: 0o755 });
    await mkdir(path.join(dir, 'work'), { mode: 0o700 });
    const link = shortLinkName();
    await symlink(`../${rec.id}/diff`, path.join(this.home, LINK_DIR, link));
    await writeFile(path.join(dir, 'link'), link);
    if (parent !== undefined) await writeFile(path.join(dir, 'lower'), (await this.chain(parent)).join(':'));
  }

  /** An upper directory never depends on its lowers: only the chain it is mounted on changes. */
  override readonly canRebase = true;

  /** Writes the new parent's chain as `lower` (the snapshot is not in use until its commit). */
  protected override async rebase(rec: SnapshotRecord, parent: SnapshotRecord): Promise<void> {
    await writeFile(path.join(this.home, rec.id, 'lower'), (await this.chain(parent)).join(':'));
  }

  protected async removeStorage(id: string): Promise<void> {
    const dir = path.join(this.home, id);
    const link = (await readFile(path.join(dir, 'link'), 'utf8').catch(() => '')).trim();
    if (/^[A-Z0-9]{26}$/.test(link)) await rm(path.join(this.home, LINK_DIR, link), { force: true });
    await this.removeTree(dir);
  }

  protected async mountsOf(rec: SnapshotRecord): Promise<SnapshotMount[]> {
    if (rec.kind === 'view') {
      const parent = await this.record(rec.parent ?? '', 'committed');
      const lowers = await this.chain(parent);
      if (lowers.length === 1) return [{ type: 'bind', source: this.ownDir(parent), options: ['rbind', 'ro'] }];
      return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`, 'index=off', 'ro'], cwd: this.home }];
    }
    if (rec.parent === undefined) return [{ type: 'bind', source: this.ownDir(rec), options: ['rbind', 'rw'] }];
    const lowers = (await this.chain(rec)).slice(1);
    return [
      {
        type: 'overlay',
        source: 'overlay',
        options: [`lowerdir=${lowers.join(':')}`, `upperdir=${rec.id}/diff`, `workdir=${rec.id}/work`, 'index=off'],
        cwd: this.home,
      },
    ];
  }

  /** The snapshot's upper dir and its lowers, topmost first. */
  async layerDirs(key: string): Promise<LayerDirs> {
    const rec = await this.records.get(key);
    const top = rec.kind === 'view' ? await this.record(rec.parent ?? '', 'committed') : rec;
    const links = await this.chain(top);
    return { dirs: links.map((l) => path.join(this.home, l)), whiteouts: 'overlay' };
  }
}
