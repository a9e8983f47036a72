/**
 * Named volumes: `<root>/volumes/<name>/_data`, made on first use. A new volume mounted over
 * a directory the image has is first filled with that directory's content, as Docker does.
 * @module
 */
import { cp, lstat, mkdir, readdir, rm, rename } from 'node:fs/promises';
import path from 'node:path';
import type { LayerDirs } from '../graphdriver/driver.js';
import { tempName } from '../util/atomic-file.js';
import { EngineError } from './errors.js';

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** The named volumes of a root. */
export class Volumes {
  constructor(
    /** `<root>/volumes`. */
    readonly dir: string,
  ) {}

  /** Checks a volume name (EngineError EINVALIDNAME). */
  static checkName(name: string): void {
    if (!VOLUME_NAME.test(name)) throw new EngineError(`invalid volume name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, 'EINVALIDNAME', name);
  }

  /** The host directory holding a volume's data. */
  dataDir(name: string): string {
    Volumes.checkName(name);
    return path.join(this.dir, name, '_data');
  }

  /** The names of all volumes. */
  async list(): Promise<string[]> {
    return (await readdir(this.dir).catch(() => [] as string[])).filter((n) => VOLUME_NAME.test(n)).sort();
  }

  /**
   * The data directory of volume `name`, created if missing; a new volume gets the content of
   * `seedFrom` (a directory of the image's merged tree at the mount point) when given.
   */
  async ensure(name: string, seed?: { layers: LayerDirs; rel: string }): Promise<string> {
    const data = this.dataDir(name);
    if (await lstat(data).then(() => true, () => false)) return data;
    const temp = path.join(this.dir, tempName());
    await mkdir(path.join(temp, '_data'), { recursive: true, mode: 0o755 });
    try {
      if (seed !== undefined) await seedFromImage(seed.layers, seed.rel, path.join(temp, '_data'));
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await rename(temp, path.join(this.dir, name)).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err; // made meanwhile by another process
      });
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
    return data;
  }

  /** Removes a volume and its data. */
  async remove(name: string): Promise<void> {
    Volumes.checkName(name);
    await rm(path.join(this.dir, name), { recursive: true, force: true });
  }
}

/** Copies the image's directory `rel` (the topmost layer that has it as a directory) into `to`. */
async function seedFromImage(layers: LayerDirs, rel: string, to: string): Promise<void> {
  for (const dir of layers.dirs) {
    const st = await lstat(path.join(dir, rel)).catch(() => undefined);
    if (st === undefined) continue;
    if (st.isDirectory()) await cp(path.join(dir, rel), to, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    return;
  }
}
