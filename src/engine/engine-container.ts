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

  /** Waits for the main process to exit. */
  wait(): Promise<ExitResult> {
    return this.runtime.wait();
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
    };
  }
}
