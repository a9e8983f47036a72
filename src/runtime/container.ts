/**
 * `Container`: an OCI runtime-spec config turned into an isolated process, with the
 * create/start split, exec, kill, state and delete, and state on disk so that another process
 * can load and manage it.
 * @module
 */
import { promises as fs, accessSync, closeSync, constants as fsc, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { Cgroup, type CgroupStats } from '../cgroups/index.js';
import { BerthError, ConfigError, ContainerStateError } from '../errors.js';
import * as native from '../native/index.js';
import { createContainerCgroup, execOomProbe, OomTracker, planContainerCgroup, withResources } from './container-cgroup.js';
import { runHooks } from './hooks.js';
import { launch, type Launched } from './launch.js';
import { compileSeccomp } from './seccomp/compile.js';
import { buildExecConfig, buildInitConfig, type RlimitPolicy } from './plan.js';
import { ContainerProcess, signalNumber, type ExitResult, type SignalLike, type SpawnedProcess } from './process.js';
import { noStdio, prepareConsole, type PreparedConsole } from './console.js';
import { isSameLiveProcess, pidsInNamespace, readStartTime } from './proc.js';
import type { Box, LinuxNamespaceType, LinuxResources, Process, Spec, State, User } from './spec.js';
import { NAMESPACE_KINDS } from './namespace-kinds.js';
import { StateStore, type ContainerRecord } from './state-store.js';
import { prepareStdio, type StdioOption } from './stdio.js';
import { monitorVia, type MonitorOptions } from './monitor.js';
import { validateSpec } from './validate.js';
import type { RootfsMount } from './rootfs-mounts.js';

/** Container lifecycle states (OCI `status`). */
export type ContainerStatus = 'created' | 'running' | 'paused' | 'stopped';

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
  /** Mounts that assemble the rootfs (a graph driver's snapshot), made onto the spec's root path inside the container's mount namespace. */
  rootfsMounts?: readonly RootfsMount[];
  /** With `process.terminal`: send the pty master to the unix socket at this path (runc's `--console-socket`) instead of keeping it as `process.terminal`. */
  consoleSocket?: string;
  /**
   * Launch through a berth-monitor that outlives this process: it is the init's parent, holds
   * its stdio (or terminal) and logs it, and serves attach ({@link attachMonitor}). `stdio` is
   * then ignored and `process` is not available here.
   */
  monitor?: MonitorOptions;
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
  user?: User;
  /** Stdio (default `ignore`). */
  stdio?: StdioOption;
  /** A whole OCI `process` object; `args`/`env`/`cwd`/`user` above override its fields. */
  process?: Partial<Process>;
  /** Give the process a terminal (its stdio, and its controlling terminal); `stdio` is then ignored and the master is `proc.terminal` once spawned. Default: `process.terminal`. */
  terminal?: boolean;
  /** The terminal's size (default: `process.consoleSize`). */
  consoleSize?: Box;
  /** With a terminal: send the master to this unix socket path (runc's `--console-socket`). */
  consoleSocket?: string;
}

/** Options naming a state root. */
export interface RootOptions {
  /** State root directory (default `/run/berth`). */
  root?: string;
}

/** Options of {@link Container.load}. */
export interface ContainerLoadOptions extends RootOptions {
  /** The init as someone else knows it now (a monitor that restarted the container), in place of the recorded one. */
  init?: InitIdentity;
}

/** A container's init process, named so that a reused pid is never taken for it. */
export interface InitIdentity {
  /** Host pid. */
  pid: number;
  /** Its start time (field 22 of /proc/PID/stat). */
  pidStartTime: string;
}

/** A container under a state root. Obtain one with {@link Container.create} or {@link Container.load}. */
export class Container {
  /** The container id. */
  readonly id: string;
  private readonly store: StateStore;
  private record: ContainerRecord;
  private init: ContainerProcess | null;
  private launched: Launched | null;
  private cg: Cgroup | null | undefined;
  private oom: OomTracker | null = null;

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
    const spec = validateSpec(options.spec ?? readBundleConfig(bundle));
    const rootfs = path.resolve(bundle, spec.root!.path);
    await checkRootfs(rootfs);
    const cgroupPlan = planContainerCgroup(spec, options.id);
    const terminal = spec.process?.terminal === true;
    const monitored = options.monitor !== undefined;
    const stdio = terminal || monitored ? noStdio() : prepareStdio(options.stdio);
    let console: PreparedConsole | null = null;
    let reservation: { dir: string; release(): void };
    try {
      if (terminal && !monitored) console = prepareConsole(spec.process?.consoleSize, options.consoleSocket);
      reservation = await store.reserve(options.id);
    } catch (err) {
      stdio.abort();
      console?.close();
      throw err;
    }
    const dir = reservation.dir;
    let cgroup: Cgroup | null = null;
    let launched: Launched | null = null;
    let init: ContainerProcess | null = null;
    let oom: OomTracker | null = null;
    try {
      const fifo = store.fifoPath(options.id);
      native.mkfifo(fifo, 0o600);
      const state: State = { ociVersion: spec.ociVersion, id: options.id, status: 'creating', bundle, annotations: spec.annotations ?? {} };
      // A direct launch makes the cgroup while the helper starts and clones, and hands it the
      // cgroup.procs files open (FRAME_CGROUPS); a monitor relaunches berth-init by itself on
      // restarts, so its payload names the paths, which must exist before it starts.
      if (monitored) cgroup = await createContainerCgroup(cgroupPlan);
      const consoleSize = { rows: spec.process?.consoleSize?.height ?? 0, cols: spec.process?.consoleSize?.width ?? 0 };
      const { payload } = buildInitConfig(spec, {
        rootfsPath: rootfs,
        bundlePath: bundle,
        startFifo: fifo,
        stdioTargets: monitored && !terminal ? [0, 1, 2] : stdio.targets,
        cgroupProcs: (cgroup ?? Cgroup.open(cgroupPlan.path)).procsFiles,
        cgroupFdsLater: !monitored,
        noPivot: options.noPivot ?? false,
        rootfsMounts: options.rootfsMounts ?? [],
        rlimitPolicy: options.rlimits ?? 'strict',
        ...(console ? { console: console.size } : monitored && terminal ? { console: consoleSize } : {}),
      });
      const via = options.monitor ? monitorVia(options.monitor, payload, { tty: terminal, startFifo: fifo }, () => undefined) : undefined;
      const cgroupFds = monitored ? undefined : async (): Promise<number[]> => {
        cgroup = await createContainerCgroup(cgroupPlan);
        const fds: number[] = [];
        try {
          for (const file of cgroup.procsFiles) fds.push(openSync(file, fsc.O_WRONLY));
        } catch (err) {
          for (const fd of fds) native.closeFd(fd);
          throw err;
        }
        return fds;
      };
      launched = await launch(payload, console ? [console.helperFd] : stdio.fds, { id: options.id, rootfs }, via, cgroupFds);
      stdio.release();
      const made = cgroup!; // before the launch, or by cgroupFds during it
      const tty = console?.receive() ?? null;
      oom = new OomTracker(made);
      if (!monitored) init = new ContainerProcess(stdio.streams, Promise.resolve({ ...launched, terminal: tty }), oom.probeInit);
      const record: ContainerRecord = {
        id: options.id, bundle, rootfs, pid: launched.pid,
        pidStartTime: readStartTime(launched.pid) ?? '', created: new Date().toISOString(), config: spec,
        cgroup: made.paths,
      };
      await store.write(record);
      reservation.release();
      if (monitored) { // the monitor watches and reaps it; we only wait for its execve in start()
        launched.exit.close();
        native.closeFd(launched.pidfd);
      }
      const container: Container = new Container(store, record, init, launched);
      container.cg = made;
      container.oom = oom;
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
      console?.close();
      if (launched) await discardLaunched(launched, init);
      oom?.close();
      if (cgroup) {
        await cgroup.killAll().catch(() => undefined);
        await cgroup.destroy().catch(() => undefined);
      }
      await fs.rm(dir, { recursive: true, force: true });
      reservation.release();
      throw err;
    }
  }

  /** Loads a container created by this or another process. */
  static async load(id: string, options: ContainerLoadOptions = {}): Promise<Container> {
    const store = new StateStore(options.root);
    const record = await store.read(id);
    return new Container(store, options.init ? { ...record, ...options.init } : record, null, null);
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
    if (this.cgroup && (await this.cgroup.freezerState().catch(() => 'undefined')) === 'frozen') return 'paused';
    try {
      accessSync(this.store.fifoPath(this.id));
      return 'created';
    } catch {
      return 'running';
    }
  }

  /** The OCI state of the container. */
  async state(): Promise<State> {
    await this.assertExists('state');
    return this.stateAt(await this.status());
  }

  /** The OCI state for a status just read. */
  private stateAt(status: ContainerStatus): State {
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
    const state = this.stateAt(status);
    const fifo = this.store.fifoPath(this.id);
    let fd: number;
    try {
      fd = openSync(fifo, fsc.O_WRONLY | fsc.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ContainerStateError(`container ${this.id} cannot start: its init is not waiting (${code})`, {
        code: code === 'ENXIO' ? 'ESRCH' : code ?? 'EIO', stage: 'start', path: fifo, cause: err,
      });
    }
    try {
      writeSync(fd, Buffer.from([0]));
    } finally {
      closeSync(fd);
    }
    unlinkSync(fifo);
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
    const oomKilled = async (): Promise<boolean> => (this.cgroup ? (await this.cgroup.oomKillCount().catch(() => 0)) > 0 : false);
    // Open first, then check: a pidfd names one process for good, so a pid reused after the
    // check cannot be waited on by mistake.
    let pidfd: number;
    try {
      pidfd = native.pidfdOpen(this.record.pid);
    } catch {
      return { exitCode: null, signal: null, oomKilled: await oomKilled() }; // gone already
    }
    if (!isSameLiveProcess(this.record.pid, this.record.pidStartTime)) {
      native.closeFd(pidfd);
      return { exitCode: null, signal: null, oomKilled: await oomKilled() };
    }
    try {
      const watch = native.watchProcessExit(pidfd, false);
      watch.ref();
      await watch.promise;
    } finally {
      native.closeFd(pidfd);
    }
    return { exitCode: null, signal: null, oomKilled: await oomKilled() };
  }

  /** Sends a signal (default SIGTERM) to the init; with `all`, to every process in the container's pid namespace. */
  async kill(signal: SignalLike = 'SIGTERM', options: { all?: boolean } = {}): Promise<void> {
    await this.assertExists('kill');
    const signo = signalNumber(signal);
    const status = await this.status();
    if (status === 'stopped') {
      throw new ContainerStateError(`container ${this.id} is not running`, { code: 'ESRCH', stage: 'kill' });
    }
    // Open a pidfd for each target first, then check it still is the container's: a pidfd
    // names one process for good, so a pid reused in between never gets the signal.
    const pidfds = new Map<number, number>();
    for (const pid of options.all ? await this.pids() : [this.record.pid]) {
      try {
        pidfds.set(pid, native.pidfdOpen(pid));
      } catch {
        // ended meanwhile
      }
    }
    try {
      const members = options.all ? new Set(await this.pids()) : null;
      for (const [pid, pidfd] of pidfds) {
        const ours = pid === this.record.pid ? readStartTime(pid) === this.record.pidStartTime : members!.has(pid);
        if (!ours) continue;
        try {
          native.pidfdSendSignal(pidfd, signo);
        } catch (err) {
          if ((err as { code?: string }).code !== 'ESRCH') throw err;
        }
      }
    } finally {
      for (const pidfd of pidfds.values()) native.closeFd(pidfd);
    }
    if (signo === 9 && status === 'paused') await this.cgroup?.thaw();
  }

  /** Host pids of the container's processes: those in its cgroup (else those in its pid namespace; the init alone without one). */
  async pids(): Promise<number[]> {
    if (this.cgroup && (await this.cgroup.exists())) return this.cgroup.pids();
    if (!isSameLiveProcess(this.record.pid, this.record.pidStartTime)) return [];
    const ownsPidNs = (this.record.config.linux?.namespaces ?? []).some((ns) => ns.type === 'pid');
    if (!ownsPidNs) return [this.record.pid];
    const link = await fs.readlink(`/proc/${this.record.pid}/ns/pid`);
    return pidsInNamespace(link);
  }

  /** The container's cgroup (null for a container recorded before berth had cgroups). */
  get cgroup(): Cgroup | null {
    if (this.cg === undefined) this.cg = this.record.cgroup ? Cgroup.fromPaths(this.record.cgroup) : null;
    return this.cg;
  }

  private requireCgroup(stage: string): Cgroup {
    const cg = this.cgroup;
    if (!cg) throw new ContainerStateError(`container ${this.id} has no cgroup recorded`, { code: 'ENOTSUP', stage });
    return cg;
  }

  /** Freezes every process of the container (cgroup freezer); `state()` then reports `paused`. */
  async pause(): Promise<void> {
    await this.assertExists('pause');
    const status = await this.status();
    if (status !== 'running' && status !== 'created') {
      throw new ContainerStateError(`container ${this.id} cannot be paused: it is ${status}`, { code: 'EINVAL', stage: 'pause' });
    }
    await this.requireCgroup('pause').freeze();
  }

  /** Thaws a paused container. */
  async resume(): Promise<void> {
    await this.assertExists('resume');
    const status = await this.status();
    if (status !== 'paused') {
      throw new ContainerStateError(`container ${this.id} is not paused: it is ${status}`, { code: 'EINVAL', stage: 'resume' });
    }
    await this.requireCgroup('resume').thaw();
  }

  /** CPU, memory, pids, block I/O and hugetlb statistics of the container's cgroup. */
  async stats(): Promise<CgroupStats> {
    await this.assertExists('stats');
    return this.requireCgroup('stats').stats();
  }

  /** Changes the resources of a live container (fields left out stay); the recorded config follows. */
  async update(resources: LinuxResources): Promise<void> {
    await this.assertExists('update');
    if ((await this.status()) === 'stopped') {
      throw new ContainerStateError(`container ${this.id} is stopped: cannot update`, { code: 'ESRCH', stage: 'update' });
    }
    await this.requireCgroup('update').apply(resources, { field: 'resources' });
    this.record = { ...this.record, config: withResources(this.record.config, resources) };
    await this.store.write(this.record);
  }

  /**
   * Runs another process inside the container's namespaces. Returns at once; `await` the
   * process for its exit, or `await proc.spawned` to know it runs (setup errors reject both).
   */
  exec(options: ExecOptions): ContainerProcess {
    if (!Array.isArray(options.args) || options.args.length === 0) {
      throw new ConfigError('must name a program to run', 'args');
    }
    const proc = this.execProcess(options);
    const terminal = options.terminal ?? options.process?.terminal === true;
    const stdio = terminal ? noStdio() : prepareStdio(options.stdio);
    let oomBefore = 0;
    let nsFds = new Map<LinuxNamespaceType, number>();
    let console: PreparedConsole | null = null;
    const spawning = (async (): Promise<SpawnedProcess> => {
      try {
        await this.assertExists('exec');
        const status = await this.status();
        if (status === 'stopped' || status === 'paused') {
          throw new ContainerStateError(`container ${this.id} is ${status}: cannot exec`, { code: status === 'stopped' ? 'ESRCH' : 'EBUSY', stage: 'exec' });
        }
        oomBefore = this.cgroup ? await this.cgroup.oomKillCount().catch(() => 0) : 0;
        const namespaces = (this.record.config.linux?.namespaces ?? []).map((ns) => ns.type);
        nsFds = this.openInitNamespaces(namespaces);
        if (terminal) console = prepareConsole(options.consoleSize ?? proc.consoleSize, options.consoleSocket);
        const { payload } = buildExecConfig({ ...proc, terminal }, {
          initPid: this.record.pid,
          namespaces,
          // The helper joins through our verified fds, never through a pid that could be reused.
          namespacePaths: Object.fromEntries([...nsFds].map(([type, fd]) => [type, `/proc/${process.pid}/fd/${fd}`])),
          stdioTargets: stdio.targets,
          cgroupProcs: this.cgroup?.procsFiles ?? [],
          seccomp: compileSeccomp(this.record.config.linux?.seccomp),
          ...(console ? { console: console.size, setsid: true } : {}),
        });
        const launched = await launch(payload, console ? [console.helperFd] : stdio.fds, { id: this.id });
        stdio.release();
        return { ...launched, terminal: console?.receive() ?? null };
      } catch (err) {
        stdio.abort();
        console?.close();
        throw err;
      } finally {
        for (const fd of nsFds.values()) closeSync(fd);
      }
    })();
    return new ContainerProcess(stdio.streams, spawning, execOomProbe(this.cgroup, () => oomBefore));
  }

  /**
   * Opens the init's namespaces and proves they are its own: the pidfd taken first names the
   * init for good, the start time ties it to the record, and it is still alive after the
   * opens, so its pid cannot have been reused by another process in between.
   */
  private openInitNamespaces(kinds: readonly LinuxNamespaceType[]): Map<LinuxNamespaceType, number> {
    const stopped = (): ContainerStateError => new ContainerStateError(`container ${this.id} is stopped: cannot exec`, { code: 'ESRCH', stage: 'exec' });
    let pidfd: number;
    try {
      pidfd = native.pidfdOpen(this.record.pid);
    } catch {
      throw stopped();
    }
    const fds = new Map<LinuxNamespaceType, number>();
    try {
      if (readStartTime(this.record.pid) !== this.record.pidStartTime) throw stopped();
      for (const kind of kinds) fds.set(kind, openSync(`/proc/${this.record.pid}/ns/${NAMESPACE_KINDS[kind].procName}`, 'r'));
      native.pidfdSendSignal(pidfd, 0); // throws ESRCH if the init ended meanwhile
      return fds;
    } catch (err) {
      for (const fd of fds.values()) closeSync(fd);
      throw err instanceof ContainerStateError ? err : stopped();
    } finally {
      native.closeFd(pidfd);
    }
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
      if (this.cgroup) await this.cgroup.killAll().catch(() => this.kill('SIGKILL', { all: true })).catch(() => undefined);
      else await this.kill('SIGKILL', { all: true }).catch(() => undefined);
      await this.wait();
    } else if (this.init) {
      await this.init.wait();
    }
    this.launched?.detach();
    this.launched = null;
    this.oom?.close();
    if (this.cgroup) {
      // Processes outside a pid namespace of its own outlive the init: kill them, then remove the cgroup.
      await this.cgroup.killAll().catch(() => undefined);
      await this.cgroup.destroy();
    }
    const state: State = {
      ociVersion: this.record.config.ociVersion, id: this.id, status: 'stopped',
      bundle: this.record.bundle, annotations: this.record.config.annotations ?? {},
    };
    await this.store.remove(this.id);
    await runHooks('poststop', this.record.config.hooks?.poststop, state, { warnOnly: true });
  }

  private async assertExists(stage: string): Promise<void> {
    try {
      accessSync(path.join(this.store.dir(this.id), 'state.json'));
    } catch {
      throw new ContainerStateError(`container ${this.id} does not exist (deleted?)`, { code: 'ENOENT', stage, path: this.store.dir(this.id) });
    }
  }
}

/** Kills a container process whose create failed after launch, reaps it and closes its handles. */
async function discardLaunched(launched: Launched, init: ContainerProcess | null): Promise<void> {
  launched.detach();
  try { native.pidfdSendSignal(launched.pidfd, 9); } catch { /* already gone */ }
  if (init) {
    await init.wait().catch(() => undefined); // closes the pidfd once reaped
  } else {
    launched.exit.ref();
    await launched.exit.promise;
    native.closeFd(launched.pidfd);
  }
}

/** Reads and parses `<bundle>/config.json` with errors that name the file (read synchronously: a config is a few KiB, and a trip through libuv's thread pool cost more than the read). */
function readBundleConfig(bundle: string): unknown {
  const file = path.join(bundle, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
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
    st = statSync(rootfs);
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
