/**
 * The on-disk record of containers under one state root: `<root>/<id>/state.json` plus the
 * container's start fifo. Written atomically (temp file, rename) so that another process can
 * always load, signal and delete a container it did not create, and a crash of the writer
 * never leaves a torn file.
 *
 * No fsync: this state describes live processes, which an OS crash or power loss ends too, so
 * durability buys nothing here, and on a disk-backed /run it cost ~0.8 ms a container. (Image
 * and layer metadata, which must outlive a reboot, are another matter.) The calls are
 * synchronous: each takes microseconds, less than a trip through libuv's thread pool.
 * @module
 */
import * as fs from 'node:fs';
import path from 'node:path';
import * as native from '../native/index.js';
import { ConfigError, ContainerStateError } from '../errors.js';
import type { CgroupPaths } from '../cgroups/paths.js';
import type { Spec } from './spec.js';

/** Default state root, like runc's /run/runc. */
export const DEFAULT_STATE_ROOT = '/run/berth';

/** What berth persists about a container. */
export interface ContainerRecord {
  /** Container id. */
  id: string;
  /** Absolute path of the bundle directory. */
  bundle: string;
  /** Absolute host path of the root filesystem. */
  rootfs: string;
  /** Host pid of the container's init process. */
  pid: number;
  /** The init's start time in clock ticks since boot (field 22 of /proc/PID/stat): guards against pid reuse. */
  pidStartTime: string;
  /** When the container was created (ISO 8601). */
  created: string;
  /** The validated config the container was created from. */
  config: Spec;
  /** The container's cgroup directories (absent in records written before cgroups). */
  cgroup?: CgroupPaths;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,1023}$/;

/** Throws unless `id` is a valid container id (letters, digits, `_ . + -`, not starting with a symbol). */
export function checkContainerId(id: string): void {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw new ConfigError(`invalid container id ${JSON.stringify(id)}: use letters, digits and _ . + -`, 'id');
  }
}

/** The directory of containers under one state root. */
export class StateStore {
  /** Absolute path of the state root. */
  readonly root: string;

  constructor(root: string = DEFAULT_STATE_ROOT) {
    this.root = path.resolve(root);
  }

  /** Directory of one container's state. */
  dir(id: string): string {
    return path.join(this.root, id);
  }

  /** Path of the fifo the container's init blocks on until `start`. */
  fifoPath(id: string): string {
    return path.join(this.dir(id), 'exec.fifo');
  }

  /**
   * Claims the id: creates its directory and returns it with an exclusive flock held on it
   * until `release()` (call it once state.json is written). A directory without state.json
   * whose lock nobody holds is what a creator killed mid-way left: it is cleared and reused.
   * An id that exists, or that another process is creating, is a ContainerStateError EEXIST.
   */
  async reserve(id: string): Promise<{ dir: string; release(): void }> {
    checkContainerId(id);
    fs.mkdirSync(this.root, { recursive: true, mode: 0o711 });
    const dir = this.dir(id);
    const exists = (): ContainerStateError => new ContainerStateError(`container ${id} already exists in ${this.root}`, {
      code: 'EEXIST', stage: 'create', path: dir,
    });
    const rootLock = fs.openSync(path.join(this.root, '.lock'), fs.constants.O_RDONLY | fs.constants.O_CREAT, 0o600);
    native.flock(rootLock, true, false); // held for microseconds: the check-and-claim below
    let lock = -1;
    try {
      try {
        fs.mkdirSync(dir, { mode: 0o711 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const held = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
        try {
          native.flock(held, true, true);
        } catch {
          fs.closeSync(held);
          throw exists(); // being created right now
        }
        fs.closeSync(held);
        if (fs.existsSync(path.join(dir, 'state.json'))) throw exists();
        fs.rmSync(dir, { recursive: true, force: true }); // left by a creator that died
        fs.mkdirSync(dir, { mode: 0o711 });
      }
      lock = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      native.flock(lock, true, false);
    } catch (err) {
      if (lock >= 0) fs.closeSync(lock);
      throw err;
    } finally {
      fs.closeSync(rootLock);
    }
    let held = true;
    return { dir, release: () => { if (held) { held = false; fs.closeSync(lock); } } };
  }

  /** Writes the record atomically (temp file and rename). */
  async write(record: ContainerRecord): Promise<void> {
    const file = path.join(this.dir(record.id), 'state.json');
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(record), { mode: 0o600 });
    fs.renameSync(tmp, file);
  }

  /** Reads a record; a missing container is a ContainerStateError ENOENT. */
  async read(id: string): Promise<ContainerRecord> {
    checkContainerId(id);
    const file = path.join(this.dir(id), 'state.json');
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ContainerStateError(`container ${id} does not exist in ${this.root}`, {
          code: 'ENOENT', stage: 'load', path: this.dir(id),
        });
      }
      throw err;
    }
    return JSON.parse(text) as ContainerRecord;
  }

  /** Ids of every container directory under the root. */
  async ids(): Promise<string[]> {
    try {
      const entries = fs.readdirSync(this.root, { withFileTypes: true });
      return entries.filter((e) => e.isDirectory() && ID_PATTERN.test(e.name)).map((e) => e.name).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /**
   * Removes a container's state directory (missing is fine): state.json, then the directory
   * (a started container has nothing else); only a directory holding more (the start fifo of
   * a container never started) is walked: fs.rmSync's walk costs ~0.2 ms even for one file.
   */
  async remove(id: string): Promise<void> {
    const dir = this.dir(id);
    try {
      fs.unlinkSync(path.join(dir, 'state.json'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    try {
      fs.rmdirSync(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}
