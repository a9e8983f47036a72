/**
 * A handle on one engine container: its record (image, snapshot, options, spec) and the
 * runtime container that runs it, loaded from the runtime's state when this process did not
 * create it.
 * @module
 */
import type { SnapshotMount } from '../graphdriver/driver.js';
import type { Digest } from '../image/digest.js';
import type { Container, ContainerStatus, ExecOptions } from '../runtime/container.js';
import type { ContainerProcess, ExitResult, SignalLike } from '../runtime/process.js';
import type { StdioOption } from '../runtime/stdio.js';
import type { Spec } from '../runtime/spec.js';
import type { Engine, RecordedOptions } from './engine.js';
import { EngineError } from './errors.js';
import path from 'node:path';
import { Container as RuntimeContainer } from '../runtime/container.js';
import type { MonitorAttachOptions, MonitorSession } from '../runtime/monitor.js';
import { attachDetached, detachedState, logPath, parseRestartPolicy, readLog, stopThroughMonitor, waitDetached, waitMonitorGone, type LogEntry, type LogsOptions } from './detached.js';

/** What the engine records of a container (`<root>/containers/<id>/container.json`; Docker's field names). */
export interface ContainerRecord {
  /** 64 hex digits. */
  Id: string;
  /** Unique name. */
  Name: string;
  /** The image id. */
  Image: Digest;
  /** The image as the user named it. */
  ImageRef: string;
  /** The graph-driver snapshot holding its rootfs. */
  Snapshot: string;
  /** When it was created (ISO 8601). */
  Created: string;
  /** The options it was created with. */
  Options: RecordedOptions;
  /** Labels. */
  Labels: Record<string, string>;
  /** The runtime spec it runs with. */
  Spec: Spec;
  /** The snapshot's mounts that assemble its rootfs. */
  Mounts: SnapshotMount[];
}

/** What {@link EngineContainer.inspect} returns (a subset of `docker inspect`). */
export interface ContainerInspect {
  /** Container id. */
  Id: string;
  /** `/name`, as Docker prints it. */
  Name: string;
  /** When it was created. */
  Created: string;
  /** The image id. */
  Image: Digest;
  /** Its state. */
  State: {
    /** `created`, `running`, `paused`, `stopped`, or `removed` when its runtime state is gone. */
    Status: ContainerStatus | 'removed';
    /** Whether it runs. */
    Running: boolean;
    /** Whether it is frozen. */
    Paused: boolean;
    /** Host pid of its main process (0 when none). */
    Pid: number;
    /** Whether its monitor is waiting to restart it. */
    Restarting?: boolean;
    /** Exit code of its last run (detached containers: from the monitor's record). */
    ExitCode?: number;
    /** When its last run started (RFC 3339). */
    StartedAt?: string;
    /** When its last run ended (RFC 3339). */
    FinishedAt?: string;
  };
  /** Restarts made by its restart policy. */
  RestartCount?: number;
  /** Its json-file log (detached containers). */
  LogPath?: string;
  /** Docker's HostConfig fields berth keeps. */
  HostConfig?: {
    /** The restart policy. */
    RestartPolicy: {
      /** `no`, `on-failure`, `always` or `unless-stopped`. */
      Name: string;
      /** For `on-failure`: the most restarts (0: no limit). */
      MaximumRetryCount: number;
    };
    /** Removed after its exit (`--rm`). */
    AutoRemove: boolean;
  };
  /** Process settings. */
  Config: {
    /** The image as named at creation. */
    Image: string;
    /** Program and arguments. */
    Cmd: string[];
    /** Environment. */
    Env: string[];
    /** Working directory. */
    WorkingDir: string;
    /** User as given (`user[:group]`), empty for the image's. */
    User: string;
    /** Hostname. */
    Hostname: string;
    /** Labels. */
    Labels: Record<string, string>;
  };
  /** The graph driver and its snapshot. */
  GraphDriver: {
    /** The driver's name. */
    Name: string;
    /** Driver data. */
    Data: {
      /** The snapshot key. */
      Snapshot: string;
    };
  };
}

/** What {@link EngineContainer.describe} says (`docker ps`'s STATUS and the inspect State fields). */
export interface ContainerSummary {
  /** `created`, `running`, `paused`, `restarting`, `exited`, `removed`. */
  state: 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'removed';
  /** Exit code of the last run (detached containers; null when unknown). */
  exitCode: number | null;
  /** When the last run started (RFC 3339; empty when unknown). */
  startedAt: string;
  /** When the last run ended (RFC 3339; empty when unknown). */
  finishedAt: string;
  /** Restarts made by the restart policy. */
  restartCount: number;
  /** Docker's wording: `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Restarting (1) 1 second ago`, `Created`. */
  text: string;
}

/** Docker's human durations ("Less than a second", "3 seconds", "About a minute", "5 minutes", "About an hour", "2 hours", "3 days"). */
export function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  const d = Math.round(h / 24);
  if (d < 14) return `${d} days`;
  if (d < 60) return `${Math.round(d / 7)} weeks`;
  if (d < 730) return `${Math.round(d / 30)} months`;
  return `${Math.round(d / 365)} years`;
}

/** A container of the engine. */
export class EngineContainer {
  constructor(
    /** The engine it belongs to. */
    readonly engine: Engine,
    /** Its record. */
    readonly record: ContainerRecord,
    private runtimeContainer?: Container,
  ) {}

  /** Container id. */
  get id(): string {
    return this.record.Id;
  }

  /** Container name. */
  get name(): string {
    return this.record.Name;
  }

  /** The runtime container; EngineError ENOENT when its runtime state is gone. */
  get runtime(): Container {
    if (this.runtimeContainer === undefined) throw new EngineError(`container ${this.name} has no runtime state`, 'ENOENT', this.name);
    return this.runtimeContainer;
  }

  /** The main process with its stdio streams; only in the process that created the container. */
  get process(): ContainerProcess {
    return this.runtime.process;
  }

  /** Starts the main process (again, for an exited container: its snapshot keeps its changes). */
  async start(options: { stdio?: StdioOption } = {}): Promise<void> {
    const status = await this.status();
    // An exited container starts again from its record: same snapshot (its changes kept), same spec.
    if (status === 'stopped' || status === 'removed') this.runtimeContainer = await this.engine.recreateRuntime(this.record, this.runtimeContainer, options.stdio ?? 'ignore');
    await this.runtime.start();
  }

  /** Waits for the main process to exit (for a detached container: its current run, with the exit code the monitor recorded). */
  wait(): Promise<ExitResult> {
    if (this.record.Options.detach) return waitDetached(this.dir);
    return this.runtime.wait();
  }

  /** The container's directory, `<root>/containers/<id>`. */
  get dir(): string {
    return path.join(this.engine.containersDir, this.id);
  }

  /** Path of its json-file log (detached containers). */
  get logPath(): string {
    return logPath(this.dir, this.id);
  }

  /**
   * Stops the container (`docker stop`): its stop signal (the image's StopSignal, else
   * SIGTERM), then SIGKILL after `timeout` seconds (default its stopTimeout, else 10; negative:
   * never). A detached container is stopped through its monitor, which then neither restarts
   * it nor needs this process to stay for the SIGKILL. Resolves once it has exited.
   */
  async stop(options: { timeout?: number; signal?: SignalLike } = {}): Promise<void> {
    const signal = String(options.signal ?? this.record.Options.stopSignal ?? 'SIGTERM');
    const timeout = options.timeout ?? this.record.Options.stopTimeout ?? 10;
    if (this.record.Options.detach && (await stopThroughMonitor(this.dir, signal, timeout))) return;
    const status = await this.status();
    if (status !== 'running' && status !== 'paused' && status !== 'created') return;
    await this.kill(signal).catch(() => undefined);
    const exited = this.runtime.wait().then(() => true);
    const timedOut = timeout < 0 ? new Promise<boolean>(() => undefined) : new Promise<boolean>((r) => setTimeout(() => r(false), timeout * 1000).unref());
    if (!(await Promise.race([exited, timedOut]))) {
      await this.kill('SIGKILL').catch(() => undefined);
      await exited;
    }
  }

  /** Stops the container (as {@link EngineContainer.stop}) and starts it again (`docker restart`). */
  async restart(options: { timeout?: number } = {}): Promise<void> {
    await this.stop(options);
    if (this.record.Options.detach) await waitMonitorGone(this.dir);
    this.runtimeContainer = await RuntimeContainer.load(this.id, { root: this.engine.runtimeRoot }).catch(() => undefined);
    await this.start();
  }

  /** The container's log lines (`docker logs`): from its json-file log, following it until the container exits for good with `follow`. Detached containers only. */
  logs(options: LogsOptions = {}): AsyncGenerator<LogEntry> {
    if (!this.record.Options.detach) throw new EngineError(`container ${this.name} has no log: only detached containers are logged`, 'ENOTSUP', this.name);
    const dir = this.dir;
    return readLog(this.logPath, options, () => {
      const s = detachedState(dir);
      return s === undefined || !s.monitored || (s.status === 'exited');
    });
  }

  /**
   * Attaches to a detached container's main process from any process (`docker attach`):
   * its output (as it comes from now on), its stdin with `stdin` (needs `interactive`), and
   * resize. Several sessions may be attached at once; closing one leaves the container running.
   * With `removes` (an `autoRemove` container), the caller removes it after the exit
   * (`remove({ force: true })`, then `close()`); should the caller die first, the monitor does.
   */
  async attach(options: MonitorAttachOptions = {}): Promise<MonitorSession> {
    if (!this.record.Options.detach) throw new EngineError(`cannot attach to container ${this.name}: it was not created detached`, 'ENOTSUP', this.name);
    if (options.removes === true && this.record.Options.autoRemove !== true) {
      throw new EngineError(`removes: container ${this.name} was not created with autoRemove`, 'EINVAL', 'removes');
    }
    return attachDetached(this.dir, this.name, options);
  }

  /** The state as `docker ps` shows it: status, exit code, times, restarts, and Docker's wording (`Up 3 seconds`, `Exited (0) 2 minutes ago`). */
  async describe(): Promise<ContainerSummary> {
    const status = await this.status();
    const d = this.record.Options.detach ? detachedState(this.dir) : undefined;
    let state: ContainerSummary['state'];
    if (status === 'removed') state = 'removed';
    else if (status === 'paused') state = 'paused';
    else if (status === 'running') state = 'running';
    else if (d?.status === 'restarting' || (d?.monitored && d.status === 'running')) state = 'restarting';
    else if (status === 'created' && d?.status !== 'exited') state = 'created';
    else state = d?.startedAt || status === 'stopped' ? 'exited' : 'created';
    const ago = (t: string): string => humanDuration(Date.now() - Date.parse(t));
    const text = state === 'running' ? `Up ${d?.startedAt ? humanDuration(Date.now() - Date.parse(d.startedAt)) : 'Less than a second'}`
      : state === 'paused' ? 'Up (Paused)'
        : state === 'restarting' ? `Restarting (${d?.exitCode ?? 0}) ${d?.finishedAt ? `${ago(d.finishedAt)} ago` : ''}`.trim()
          : state === 'exited' ? `Exited (${d?.exitCode ?? 0})${d?.finishedAt ? ` ${ago(d.finishedAt)} ago` : ''}`
            : state === 'created' ? 'Created' : 'Removed';
    return { state, exitCode: d?.exitCode ?? null, startedAt: d?.startedAt ?? '', finishedAt: d?.finishedAt ?? '', restartCount: d?.restartCount ?? 0, text };
  }

  /** Signals the main process (default SIGTERM). */
  async kill(signal: SignalLike = 'SIGTERM'): Promise<void> {
    await this.runtime.kill(signal);
  }

  /** Runs another process in the running container; `await` the result for its exit. */
  exec(options: ExecOptions): ContainerProcess {
    return this.runtime.exec(options);
  }

  /** Current status (`removed` when the runtime state is gone). */
  async status(): Promise<ContainerStatus | 'removed'> {
    return this.runtimeContainer === undefined ? 'removed' : this.runtimeContainer.status();
  }

  /** Removes the container and releases its snapshot (refused while it runs, unless `force`, which kills it). */
  async remove(options: { force?: boolean } = {}): Promise<void> {
    await this.engine.removeContainer(this.record, this.runtimeContainer, options);
  }

  /** Docker-style details. */
  async inspect(): Promise<ContainerInspect> {
    const rt = this.runtimeContainer;
    const status = await this.status();
    const state = rt === undefined ? undefined : await rt.state().catch(() => undefined);
    const proc = this.record.Spec.process;
    return {
      Id: this.id,
      Name: `/${this.name}`,
      Created: this.record.Created,
      Image: this.record.Image,
      State: { Status: status, Running: status === 'running', Paused: status === 'paused', Pid: state?.pid ?? 0 },
      Config: {
        Image: this.record.ImageRef,
        Cmd: proc?.args ?? [],
        Env: proc?.env ?? [],
        WorkingDir: proc?.cwd ?? '/',
        User: this.record.Options.user ?? '',
        Hostname: this.record.Spec.hostname ?? '',
        Labels: this.record.Labels,
      },
      GraphDriver: { Name: this.engine.driver.name, Data: { Snapshot: this.record.Snapshot } },
      ...(await this.detachedInspect()),
    };
  }

  /** The inspect fields a detached container's monitor knows. */
  private async detachedInspect(): Promise<Partial<ContainerInspect>> {
    const o = this.record.Options;
    if (!o.detach) return {};
    const d = await this.describe();
    const policy = parseRestartPolicy(o.restart);
    const status = await this.status();
    const state = await this.runtimeContainer?.state().catch(() => undefined);
    return {
      State: {
        Status: status, Running: status === 'running', Paused: status === 'paused', Pid: state?.pid ?? 0,
        Restarting: d.state === 'restarting', ExitCode: d.exitCode ?? 0, StartedAt: d.startedAt, FinishedAt: d.finishedAt,
      },
      RestartCount: d.restartCount,
      LogPath: this.logPath,
      HostConfig: { RestartPolicy: { Name: policy.name, MaximumRetryCount: policy.maximumRetryCount ?? 0 }, AutoRemove: o.autoRemove ?? false },
    };
  }
}
