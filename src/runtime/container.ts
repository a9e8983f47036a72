/**
 * `Container`: an OCI runtime-spec config turned into an isolated process, with the
 * create/start split, exec, kill, state and delete, and state on disk so that another process
 * can load and manage it.
 * @module
 */
import { promises as fs, constants as fsc } from 'node:fs';
import path from 'node:path';
import { BerthError, ConfigError, ContainerStateError } from '../errors.js';
import * as native from '../native/index.js';
import { runHooks } from './hooks.js';
import { launch, type Launched } from './launch.js';
import { compileSeccomp } from './seccomp/compile.js';
import { buildExecConfig, buildInitConfig, type RlimitPolicy } from './plan.js';
import { ContainerProcess, signalNumber, type ExitResult, type SignalLike } from './process.js';
import { isSameLiveProcess, pidsInNamespace, readStartTime } from './proc.js';
import type { Process, Spec, State } from './spec.js';
import { StateStore, type ContainerRecord } from './state-store.js';
import { prepareStdio, type StdioOption } from './stdio.js';
import { validateSpec } from './validate.js';

/** Container lifecycle states (OCI `status`). */
export type ContainerStatus = 'created' | 'running' | 'stopped';

/** Options of {@link Container.create}. */
export interface CreateOptions {
  /** Container id: letters, digits and `_ . + -`. */
  id: string;
  /** Bundle directory: holds `config.json` unless `spec` is given; relative paths in the spec are resolved against it. Default: the current directory. */
  bundle?: string;
  /** The config, in memory, instead of `<bundle>/config.json`. */
  spec?: Spec;
  /** State root directory (default `/run/berth`). */
  root?: string;
  /** Stdio of the container's process (default `ignore`). */
  stdio?: StdioOption;
  /** Write the init's host pid to this file. */
  pidFile?: string;
  /** Use MS_MOVE + chroot instead of pivot_root (for a rootfs on ramfs). */
  noPivot?: boolean;
  /** What to do with rlimits above the host's hard limits: `strict` (error, default) or `clamp`. */
  rlimits?: RlimitPolicy;
}

/** Options of {@link Container.exec}. */
export interface ExecOptions {
  /** Program and arguments; looked up in the container's PATH. */
  args: string[];
  /** Environment (default: the container's process env). */
  env?: string[];
  /** Working directory inside the container (default: the container's cwd). */
  cwd?: string;
  /** User to run as (default: the container's user). */
  user?: { uid: number; gid: number; additionalGids?: number[] };
  /** Stdio (default `ignore`). */
  stdio?: StdioOption;
  /** A whole OCI `process` object; `args`/`env`/`cwd`/`user` above override its fields. */
  process?: Partial<Process>;
}

/** Options naming a state root. */
export interface RootOptions {
  /** State root directory (default `/run/berth`). */
  root?: string;
}

/** A container under a state root. Obtain one with {@link Container.create} or {@link Container.load}. */
export class Container {
  /** The container id. */
  readonly id: string;
  private readonly store: StateStore;
  private record: ContainerRecord;
  private init: ContainerProcess | null;
  private launched: Launched | null;

  private constructor(store: StateStore, record: ContainerRecord, init: ContainerProcess | null, launched: Launched | null) {
    this.id = record.id;
    this.store = store;
    this.record = record;
    this.init = init;
    this.launched = launched;
  }

  /**
   * Creates the container: namespaces, mounts, rootfs, devices, user and capabilities are all
   * set up, and the init process waits for {@link Container.start} before it runs the user's
   * program. On any failure nothing is left behind: no state directory, mount or process.
   */
  static async create(options: CreateOptions): Promise<Container> {
    const store = new StateStore(options.root);
    const bundle = path.resolve(options.bundle ?? '.');
    const spec = validateSpec(options.spec ?? (await readBundleConfig(bundle)));
    const rootfs = path.resolve(bundle, spec.root!.path);
    await checkRootfs(rootfs);
    const dir = await store.reserve(options.id);
    const stdio = prepareStdio(options.stdio);
    try {
      const fifo = store.fifoPath(options.id);
      native.mkfifo(fifo, 0o600);
      const state: State = { ociVersion: spec.ociVersion, id: options.id, status: 'creating', bundle, annotations: spec.annotations ?? {} };
      const { payload } = buildInitConfig(spec, {
        rootfsPath: rootfs,
        bundlePath: bundle,
        startFifo: fifo,
        stdioTargets: stdio.targets,
        cgroupProcs: [],
        noPivot: options.noPivot ?? false,
        rlimitPolicy: options.rlimits ?? 'strict',
      });
      const launched = await launch(payload, stdio.fds, { id: options.id, rootfs });
      stdio.release();
      const init = new ContainerProcess(stdio.streams, Promise.resolve(launched));
      const record: ContainerRecord = {
        id: options.id, bundle, rootfs, pid: launched.pid,
        pidStartTime: readStartTime(launched.pid) ?? '', created: new Date().toISOString(), config: spec,
      };
      await store.write(record);
      const container = new Container(store, record, init, launched);
      try {
        await runHooks('prestart', spec.hooks?.prestart, { ...state, status: 'created', pid: launched.pid });
        await runHooks('createRuntime', spec.hooks?.createRuntime, { ...state, status: 'created', pid: launched.pid });
        if (options.pidFile) await writeFileAtomic(path.resolve(options.pidFile), `${launched.pid}`);
      } catch (err) {
        await container.delete({ force: true }).catch(() => undefined);
        throw err;
      }
      return container;
    } catch (err) {
      stdio.abort();
      await fs.rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Loads a container created by this or another process. */
  static async load(id: string, options: RootOptions = {}): Promise<Container> {
    const store = new StateStore(options.root);
    return new Container(store, await store.read(id), null, null);
  }

  /** Every container under the state root. */
  static async list(options: RootOptions = {}): Promise<Container[]> {
    const store = new StateStore(options.root);
    const out: Container[] = [];
    for (const id of await store.ids()) {
      try {
        out.push(new Container(store, await store.read(id), null, null));
      } catch (err) {
        if (!(err instanceof BerthError)) throw err; // a half-deleted entry is skipped
      }
    }
    return out;
  }

  /** Host pid of the container's init process. */
  get pid(): number {
    return this.record.pid;
  }

  /** Absolute bundle path. */
  get bundle(): string {
    return this.record.bundle;
  }

  /** The config the container was created from. */
  get config(): Spec {
    return this.record.config;
  }

  /** The init process, awaitable; only in the process that created the container. */
  get process(): ContainerProcess {
    if (!this.init) {
      throw new ContainerStateError(`container ${this.id} was loaded, not created here: its process is not this process's child`, {
        code: 'ECHILD', stage: 'process',
      });
    }
    return this.init;
  }

  /** Current status, read from the kernel and the state directory. */
  async status(): Promise<ContainerStatus> {
    if (!isSameLiveProcess(this.record.pid, this.record.pidStartTime)) return 'stopped';
    try {
      await fs.access(this.store.fifoPath(this.id));
      return 'created';
    } catch {
      return 'running';
    }
  }

  /** The OCI state of the container. */
  async state(): Promise<State> {
    await this.assertExists('state');
    const status = await this.status();
    return {
      ociVersion: this.record.config.ociVersion,
      id: this.id,
      status,
      ...(status === 'stopped' ? {} : { pid: this.record.pid }),
      bundle: this.record.bundle,
      annotations: this.record.config.annotations ?? {},
    };
  }

  /** Runs the user's program: releases the init blocked since create. Only a `created` container can start. */
  async start(): Promise<void> {
    await this.assertExists('start');
    const status = await this.status();
    if (status !== 'created') {
      throw new ContainerStateError(`container ${this.id} cannot start: it is ${status}`, { code: 'EINVAL', stage: 'start' });
    }
    const state = await this.state();
    const fifo = this.store.fifoPath(this.id);
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(fifo, fsc.O_WRONLY | fsc.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ContainerStateError(`container ${this.id} cannot start: its init is not waiting (${code})`, {
        code: code === 'ENXIO' ? 'ESRCH' : code ?? 'EIO', stage: 'start', path: fifo, cause: err,
      });
    }
    try {
      await handle.write(Buffer.from([0]));
    } finally {
      await handle.close();
    }
    await fs.unlink(fifo);
    if (this.launched) {
      const launched = this.launched;
      this.launched = null;
      await launched.waitExec();
    }
    await runHooks('poststart', this.record.config.hooks?.poststart, { ...state, status: 'running' }, { warnOnly: true });
  }

  /** Waits for the init to exit. For a loaded container the exit code is not knowable (it is not our child): `exitCode` is null. */
  async wait(): Promise<ExitResult> {
    if (this.init) return this.init.wait();
    if (!isSameLiveProcess(this.record.pid, this.record.pidStartTime)) return { exitCode: null, signal: null, oomKilled: false };
    const pidfd = native.pidfdOpen(this.record.pid);
    try {
      const watch = native.watchProcessExit(pidfd, false);
      watch.ref();
      await watch.promise;
    } finally {
      native.closeFd(pidfd);
    }
    return { exitCode: null, signal: null, oomKilled: false };
  }

  /** Sends a signal (default SIGTERM) to the init; with `all`, to every process in the container's pid namespace. */
  async kill(signal: SignalLike = 'SIGTERM', options: { all?: boolean } = {}): Promise<void> {
    await this.assertExists('kill');
    const signo = signalNumber(signal);
    const status = await this.status();
    if (status === 'stopped') {
      throw new ContainerStateError(`container ${this.id} is not running`, { code: 'ESRCH', stage: 'kill' });
    }
    const targets = options.all ? await this.pids() : [this.record.pid];
    for (const pid of targets) {
      let pidfd: number;
      try {
        pidfd = native.pidfdOpen(pid);
      } catch {
        continue; // ended meanwhile
      }
      try {
        if (pid !== this.record.pid || readStartTime(pid) === this.record.pidStartTime) native.pidfdSendSignal(pidfd, signo);
      } finally {
        native.closeFd(pidfd);
      }
    }
  }

  /** Host pids of the container's processes (those in its pid namespace; the init alone without one). */
  async pids(): Promise<number[]> {
    if (!isSameLiveProcess(this.record.pid, this.record.pidStartTime)) return [];
    const ownsPidNs = (this.record.config.linux?.namespaces ?? []).some((ns) => ns.type === 'pid');
    if (!ownsPidNs) return [this.record.pid];
    const link = await fs.readlink(`/proc/${this.record.pid}/ns/pid`);
    return pidsInNamespace(link);
  }

  /**
   * Runs another process inside the container's namespaces. Returns at once; `await` the
   * process for its exit, or `await proc.spawned` to know it runs (setup errors reject both).
   */
  exec(options: ExecOptions): ContainerProcess {
    if (!Array.isArray(options.args) || options.args.length === 0) {
      throw new ConfigError('must name a program to run', 'args');
    }
    const stdio = prepareStdio(options.stdio);
    const spawning = (async (): Promise<Launched> => {
      try {
        await this.assertExists('exec');
        if ((await this.status()) === 'stopped') {
          throw new ContainerStateError(`container ${this.id} is stopped: cannot exec`, { code: 'ESRCH', stage: 'exec' });
        }
        const { payload } = buildExecConfig(this.execProcess(options), {
          initPid: this.record.pid,
          namespaces: (this.record.config.linux?.namespaces ?? []).map((ns) => ns.type),
          stdioTargets: stdio.targets,
          cgroupProcs: [],
          seccomp: compileSeccomp(this.record.config.linux?.seccomp),
        });
        const launched = await launch(payload, stdio.fds, { id: this.id });
        stdio.release();
        return launched;
      } catch (err) {
        stdio.abort();
        throw err;
      }
    })();
    return new ContainerProcess(stdio.streams, spawning);
  }

  /** The OCI process of an exec: the container's own, overridden by the options. */
  private execProcess(options: ExecOptions): Process {
    const base: Partial<Process> = this.record.config.process ?? {};
    return {
      ...base,
      ...options.process,
      args: options.args,
      env: options.env ?? options.process?.env ?? base.env ?? [],
      cwd: options.cwd ?? options.process?.cwd ?? base.cwd ?? '/',
      user: options.user ?? options.process?.user ?? base.user ?? { uid: 0, gid: 0 },
    };
  }

  /**
   * Deletes the container's state. A container that is not stopped is refused unless `force`,
   * which kills it (SIGKILL) and waits for it first.
   */
  async delete(options: { force?: boolean } = {}): Promise<void> {
    await this.assertExists('delete');
    const status = await this.status();
    if (status !== 'stopped') {
      if (!options.force) {
        throw new ContainerStateError(`container ${this.id} is ${status}: stop it first or delete with force`, {
          code: 'EBUSY', stage: 'delete',
        });
      }
      await this.kill('SIGKILL', { all: true }).catch(() => undefined);
      await this.wait();
    } else if (this.init) {
      await this.init.wait();
    }
    this.launched?.detach();
    this.launched = null;
    const state: State = {
      ociVersion: this.record.config.ociVersion, id: this.id, status: 'stopped',
      bundle: this.record.bundle, annotations: this.record.config.annotations ?? {},
    };
    await this.store.remove(this.id);
    await runHooks('poststop', this.record.config.hooks?.poststop, state, { warnOnly: true });
  }

  private async assertExists(stage: string): Promise<void> {
    try {
      await fs.access(path.join(this.store.dir(this.id), 'state.json'));
    } catch {
      throw new ContainerStateError(`container ${this.id} does not exist (deleted?)`, { code: 'ENOENT', stage, path: this.store.dir(this.id) });
    }
  }
}

/** Reads and parses `<bundle>/config.json` with errors that name the file. */
async function readBundleConfig(bundle: string): Promise<unknown> {
  const file = path.join(bundle, 'config.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new ConfigError(`cannot read ${file}: ${code}`, 'config.json', code);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file} is not valid JSON: ${(err as Error).message}`, 'config.json');
  }
}

/** The rootfs must be an existing directory. */
async function checkRootfs(rootfs: string): Promise<void> {
  let st;
  try {
    st = await fs.stat(rootfs);
  } catch {
    throw new ConfigError(`rootfs ${rootfs} does not exist`, 'root.path', 'ENOENT');
  }
  if (!st.isDirectory()) throw new ConfigError(`rootfs ${rootfs} is not a directory`, 'root.path', 'ENOTDIR');
}

/** Writes `text` to `file` via a temp file and rename. */
async function writeFileAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, text);
  await fs.rename(tmp, file);
}
