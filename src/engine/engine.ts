/**
 * The engine: images, graph driver and runtime composed into `docker run`. One root directory
 * (default `/var/lib/berth`) holds the graph driver's data (`<root>/<driver>`), the image
 * store (`<root>/image`), one directory per container (`<root>/containers/<id>`: its record
 * and the empty rootfs mount point) and the runtime's state (`<root>/runtime`). A container's
 * rootfs is an active snapshot on its image's top layer; the snapshot's mounts are made by the
 * runtime inside the container's mount namespace. Several processes may use one root at once;
 * container creation and removal are serialised by a lock, and `open()` repairs what a killed
 * process left.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open as openFile, readdir, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { GraphDriver, LayerDirs } from '../graphdriver/driver.js';
import { defaultGraphDriver, openGraphDriver } from '../graphdriver/index.js';
import type { Digest } from '../image/digest.js';
import { Image, ImageStore } from '../image/image-store.js';
import type { ImageConfig, ImageRunConfig } from '../image/oci.js';
import { hostPlatform } from '../image/oci.js';
import { assertSupportedCompression, detectCompression, layerMediaType } from '../image/compression.js';
import { Container } from '../runtime/container.js';
import type { StdioOption } from '../runtime/stdio.js';
import { readJsonIfExists, writeJsonAtomic } from '../util/atomic-file.js';
import { withFileLock } from '../util/file-lock.js';
import { containerSpec, mergeEnv, type ProcessOptions } from './container-spec.js';
import { applyCapabilities, applyMounts, applyResources, capabilitySet, checkMount, type MountOption, type ResourceOptions } from './host-config.js';
import { Volumes } from './volumes.js';
import { dockerInitPath } from '../native/index.js';
import type { LinuxSeccomp, Spec } from '../runtime/spec.js';
import { containerSeccomp } from './default-seccomp.js';
import { EngineContainer, type ContainerRecord } from './engine-container.js';
import type { WindowSize } from '../native/terminal.js';
import { checkDetachSettings, detachedState, monitoredInit, monitorOptions, stopThroughMonitor, waitMonitorGone, type DetachSettings } from './detached.js';
import { EngineError } from './errors.js';
import { resolveImageUser } from './image-user.js';
import { mergedTreeTar } from '../graphdriver/diff-tar.js';
import { NetworkManager } from '../network/manager.js';
import type { BridgeDriverOptions } from '../network/bridge.js';
import { connectNetwork, prepareNetwork, type NetworkOptions, type PreparedNetwork } from './network-config.js';
import { compareStrings } from '../util/compare-strings.js';

/** Options of {@link Engine.open}. */
export interface EngineOptions {
  /** The root directory (default `/var/lib/berth`; the seed's `--graph`). */
  root?: string;
  /** The graph driver (`overlay2`, `vfs`, `btrfs`); default: detected from the root's file system. */
  storageDriver?: string;
  /** Options of the bridge network driver (`ipForward`, the default subnet pool). */
  bridge?: BridgeDriverOptions;
}

/** Options of {@link Engine.create} and {@link Engine.run}. */
export interface CreateContainerOptions extends ProcessOptions, NetworkOptions, DetachSettings {
  /** The terminal's size at start, with `tty`. */
  consoleSize?: WindowSize;
  /** The signal {@link EngineContainer.stop} sends first (default: the image's StopSignal, else SIGTERM). */
  stopSignal?: string;
  /** Seconds {@link EngineContainer.stop} waits before SIGKILL (default 10). */
  stopTimeout?: number;
  /** Bind mounts and named volumes. */
  mounts?: MountOption[];
  /** Memory, CPU and pids limits. */
  resources?: ResourceOptions;
  /** Capabilities added to Docker's default set (`NET_ADMIN`, `ALL`). */
  capAdd?: string[];
  /** Capabilities dropped from Docker's default set. */
  capDrop?: string[];
  /**
   * The seccomp filter: absent, Docker's default profile for the container's capabilities
   * ({@link defaultSeccomp}); `unconfined`, none; or an OCI `linux.seccomp` object of its own.
   */
  seccomp?: 'unconfined' | LinuxSeccomp;
  /** Set no_new_privs (`--security-opt no-new-privileges`): setuid binaries and file capabilities gain nothing. Default false, as Docker's. */
  noNewPrivileges?: boolean;
  /** Run berth's small init as pid 1 (reaps zombies, forwards signals). */
  init?: boolean;
  /** The container's name (default: generated); unique in the root. */
  name?: string;
  /** Stdio of the main process (default `ignore`). */
  stdio?: StdioOption;
  /** Labels recorded with the container. */
  labels?: Record<string, string>;
}

/** The options a container record keeps: all of {@link CreateContainerOptions} but its stdio. */
export type RecordedOptions = Omit<CreateContainerOptions, 'stdio'>;

/** Options of {@link Engine.commit}. */
export interface CommitOptions {
  /** The name to give the new image. */
  reference?: string;
  /** The commit message (history comment). */
  comment?: string;
  /** The author. */
  author?: string;
  /** Config fields set on the new image (`commit --change`: Cmd, Entrypoint, Env, WorkingDir, User). */
  changes?: ImageRunConfig;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Where `init: true` puts the init in the container (as Docker does). */
const DOCKER_INIT = '/sbin/docker-init';
const ADJECTIVES = ['brave', 'calm', 'eager', 'fond', 'keen', 'lucid', 'merry', 'nifty', 'quiet', 'swift', 'tender', 'witty'];
const NOUNS = ['bell', 'curie', 'darwin', 'euler', 'gauss', 'hopper', 'lovelace', 'noether', 'pascal', 'ritchie', 'turing', 'wozniak'];

/** A generated container name, `adjective_noun` as Docker's. */
function generatedName(): string {
  const [a, b] = randomBytes(2);
  return `${ADJECTIVES[a! % ADJECTIVES.length]}_${NOUNS[b! % NOUNS.length]}`;
}

/** The engine of one root. */
export class Engine {
  private constructor(
    /** The root directory. */
    readonly root: string,
    /** The graph driver. */
    readonly driver: GraphDriver,
    /** The image store. */
    readonly images: ImageStore,
    /** The networks of this root. */
    readonly networks: NetworkManager,
  ) {}

  /** Opens (creating) the root, choosing or opening its graph driver, and repairs crash leftovers. */
  static async open(options: EngineOptions = {}): Promise<Engine> {
    const root = path.resolve(options.root ?? '/var/lib/berth');
    await mkdir(root, { recursive: true, mode: 0o711 });
    const recorded = await Engine.recordedDriver(root);
    const driver = await openGraphDriver(options.storageDriver ?? recorded ?? (await defaultGraphDriver(root)), root);
    if (recorded !== driver.name) await writeJsonAtomic(path.join(root, 'engine.json'), { storageDriver: driver.name });
    let engine: Engine | undefined;
    const images = await ImageStore.open({ root: path.join(root, 'image'), driver, containersUsing: (id) => engine!.containersUsing(id) });
    const networks = await NetworkManager.open({ dir: path.join(root, 'network'), ...(options.bridge === undefined ? {} : { bridge: options.bridge }) });
    engine = new Engine(root, driver, images, networks);
    await engine.repair();
    await engine.removeLeftAutoRemoved();
    return engine;
  }

  /** The driver a root was last opened with, so a root keeps its driver. */
  private static async recordedDriver(root: string): Promise<string | undefined> {
    return (await readJsonIfExists<{ storageDriver?: string }>(path.join(root, 'engine.json')))?.storageDriver;
  }

  /** `<root>/containers`. */
  get containersDir(): string {
    return path.join(this.root, 'containers');
  }

  /** The runtime's state root, `<root>/runtime`. */
  get runtimeRoot(): string {
    return path.join(this.root, 'runtime');
  }

  private namesDir(): string {
    return path.join(this.containersDir, '.names');
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    return withFileLock(path.join(this.root, 'containers.lock'), true, fn);
  }

  /** The record of container `id`, or undefined. */
  async containerRecord(id: string): Promise<ContainerRecord | undefined> {
    if (!/^[0-9a-f]{64}$/.test(id)) return undefined;
    return readJsonIfExists<ContainerRecord>(path.join(this.containersDir, id, 'container.json'));
  }

  /** All container records. */
  private async records(): Promise<ContainerRecord[]> {
    const out: ContainerRecord[] = [];
    for (const name of await readdir(this.containersDir).catch(() => [] as string[])) {
      const rec = await this.containerRecord(name);
      if (rec !== undefined) out.push(rec);
    }
    return out;
  }

  /** Ids of the containers made from image `id`. */
  async containersUsing(id: Digest): Promise<string[]> {
    return (await this.records()).filter((r) => r.Image === id).map((r) => r.Name);
  }

  /** Removes what a creation cut short left: snapshots, name claims and directories without a record. */
  private async repair(): Promise<void> {
    await this.locked(async () => {
      const ids = new Set((await this.records()).map((r) => r.Id));
      for (const s of await this.driver.list()) {
        const m = /^container-([0-9a-f]{64})$/.exec(s.key);
        if (m !== null && !ids.has(m[1]!)) await this.driver.remove(s.key).catch(() => undefined);
      }
      for (const name of await readdir(this.namesDir()).catch(() => [] as string[])) {
        const file = path.join(this.namesDir(), name);
        const owner = (await readJsonIfExists<{ id: string }>(file).catch(() => undefined))?.id;
        if (owner === undefined || !ids.has(owner)) await unlink(file).catch(() => undefined);
      }
      for (const name of await readdir(this.containersDir).catch(() => [] as string[])) {
        if (/^[0-9a-f]{64}$/.test(name) && !ids.has(name)) await rm(path.join(this.containersDir, name), { recursive: true, force: true });
      }
      await this.networks.reconcile((id) => this.runsOrWaits(id));
    });
  }

  /**
   * Whether container `id` has a record and a live init (created, running or paused), or a live
   * monitor that has not given up on it (restarting it, or running an init the runtime's record,
   * which names the first, does not know): its network endpoints are kept, for the monitor's
   * restart hook reconnects them.
   */
  private async runsOrWaits(id: string): Promise<boolean> {
    const rec = await this.containerRecord(id);
    if (rec === undefined) return false;
    if (rec.Options.detach) {
      const d = detachedState(path.join(this.containersDir, id));
      if (d?.monitored && d.status !== 'exited') return true;
    }
    const rt = await Container.load(id, { root: this.runtimeRoot }).catch(() => undefined);
    return rt !== undefined && (await rt.status().catch(() => 'stopped')) !== 'stopped';
  }

  /** Claims a container name (EngineError EEXIST when taken). */
  private async claimName(name: string, id: string): Promise<void> {
    if (!NAME_RE.test(name)) throw new EngineError(`invalid container name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, 'EINVALIDNAME', name);
    await mkdir(this.namesDir(), { recursive: true, mode: 0o700 });
    try {
      const fh = await openFile(path.join(this.namesDir(), name), 'wx', 0o600);
      await fh.writeFile(JSON.stringify({ id }));
      await fh.close();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new EngineError(`the container name "${name}" is already in use`, 'EEXIST', name, err);
      }
      throw err;
    }
  }

  /**
   * Creates a container from an image (by name, id or id prefix): a writable snapshot on the
   * image's top layer, a spec from the image config and `options`, and a runtime container in
   * the `created` state. Nothing of the image runs before `start()`.
   */
  async create(image: string, options: CreateContainerOptions = {}): Promise<EngineContainer> {
    checkDetachSettings(options);
    const img = await this.images.get(image);
    const config = await img.config();
    if (options.stopSignal === undefined && config.config?.StopSignal !== undefined) options = { ...options, stopSignal: config.config.StopSignal };
    const id = randomBytes(32).toString('hex');
    const snapshot = `container-${id}`;
    const dir = path.join(this.containersDir, id);
    const rootfs = path.join(dir, 'rootfs');
    return this.locked(async () => {
      let name = options.name;
      if (name === undefined) {
        for (name = generatedName(); (await this.nameOwner(name)) !== undefined; name = `${generatedName()}_${randomBytes(2).toString('hex')}`);
      }
      await this.claimName(name, id);
      let runtime: Container | undefined;
      try {
        await mkdir(rootfs, { recursive: true, mode: 0o755 });
        const mounts = await this.driver.prepare(snapshot, await img.topLayer(), { labels: { 'berth.container': id } });
        const user = await resolveImageUser(options.user ?? config.config?.User, await this.driver.layerDirs(snapshot));
        options.mounts?.forEach(checkMount);
        const layerDirs = await this.driver.layerDirs(snapshot);
        const spec = containerSpec(config, options, { id, rootfs, user });
        if (options.tty) spec.process!.terminal = true;
        if (options.tty && options.consoleSize) spec.process!.consoleSize = { width: options.consoleSize.cols, height: options.consoleSize.rows };
        await this.applyHostConfig(spec, options, layerDirs);
        const net = await prepareNetwork(this.networks, spec, options, dir);
        const rec: ContainerRecord = {
          Id: id,
          Name: name,
          Image: img.id,
          ImageRef: image,
          Snapshot: snapshot,
          Created: new Date().toISOString(),
          Options: processOptions(options),
          Labels: options.labels ?? {},
          Spec: spec,
          Mounts: mounts,
        };
        await writeJsonAtomic(path.join(dir, 'container.json'), rec);
        try {
          runtime = await Container.create({
            id, bundle: dir, spec, root: this.runtimeRoot, stdio: options.stdio ?? 'ignore', rootfsMounts: mounts,
            ...(options.detach ? { monitor: monitorOptions(this.root, dir, id, options) } : {}),
          });
          await this.attachNetwork(rec, runtime, net);
        } catch (err) {
          await runtime?.delete({ force: true }).catch(() => undefined);
          await rm(path.join(dir, 'container.json'), { force: true });
          throw err;
        }
        return new EngineContainer(this, rec, runtime);
      } catch (err) {
        await this.driver.remove(snapshot).catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
        await unlink(path.join(this.namesDir(), name)).catch(() => undefined);
        throw err;
      }
    });
  }

  /** Mounts, volumes, resources, capabilities and init of a new container's spec. */
  private async applyHostConfig(spec: Spec, options: CreateContainerOptions, layerDirs: LayerDirs): Promise<void> {
    const caps = capabilitySet(options.capAdd, options.capDrop);
    applyCapabilities(spec, caps);
    const seccomp = containerSeccomp(options.seccomp, caps);
    if (seccomp !== undefined) spec.linux!.seccomp = seccomp;
    spec.process!.noNewPrivileges = options.noNewPrivileges === true;
    if (options.resources !== undefined) applyResources(spec, options.resources);
    const mounts: Array<{ hostPath: string; target: string; readOnly: boolean }> = [];
    for (const m of options.mounts ?? []) {
      const hostPath = m.type === 'bind' ? m.source : await this.volumes.ensure(m.source, { layers: layerDirs, rel: m.target.slice(1) });
      mounts.push({ hostPath, target: m.target, readOnly: m.readOnly ?? false });
    }
    if (options.init === true) {
      mounts.push({ hostPath: dockerInitPath, target: DOCKER_INIT, readOnly: true });
      spec.process!.args = [DOCKER_INIT, '--', ...(spec.process!.args ?? [])];
    }
    applyMounts(spec, mounts);
  }

  /** Named volumes, `<root>/volumes`. */
  get volumes(): Volumes {
    return new Volumes(path.join(this.root, 'volumes'));
  }

  /** Creates and starts a container (`docker run`); `await c.wait()` for its exit. */
  async run(image: string, options: CreateContainerOptions = {}): Promise<EngineContainer> {
    const c = await this.create(image, options);
    try {
      await c.start();
    } catch (err) {
      await c.remove({ force: true }).catch(() => undefined);
      throw err;
    }
    return c;
  }

  /** The id a container name belongs to, or undefined. */
  private async nameOwner(name: string): Promise<string | undefined> {
    if (!NAME_RE.test(name)) return undefined;
    return (await readJsonIfExists<{ id: string }>(path.join(this.namesDir(), name)))?.id;
  }

  /** The container with this name, id or unique id prefix; EngineError ENOENT or EAMBIGUOUS. */
  async container(nameOrId: string): Promise<EngineContainer> {
    const byName = await this.nameOwner(nameOrId.replace(/^\//, ''));
    const rec = byName !== undefined ? await this.containerRecord(byName) : undefined;
    if (rec !== undefined) return this.handle(rec);
    if (/^[0-9a-f]{1,64}$/.test(nameOrId)) {
      const matches = (await this.records()).filter((r) => r.Id.startsWith(nameOrId));
      if (matches.length === 1) return this.handle(matches[0]!);
      if (matches.length > 1) throw new EngineError(`container id prefix ${nameOrId} is ambiguous`, 'EAMBIGUOUS', nameOrId);
    }
    throw new EngineError(`no such container: ${nameOrId}`, 'ENOENT', nameOrId);
  }

  /** All containers, oldest first. */
  async containers(): Promise<EngineContainer[]> {
    const recs = (await this.records()).sort((a, b) => compareStrings(a.Created, b.Created));
    return Promise.all(recs.map((r) => this.handle(r)));
  }

  /** A handle on a recorded container, with its runtime container loaded when it still exists. */
  private async handle(rec: ContainerRecord): Promise<EngineContainer> {
    // A monitor that restarted the container knows its init now; the runtime's record knows the first.
    const init = rec.Options.detach ? monitoredInit(path.join(this.containersDir, rec.Id)) : undefined;
    return new EngineContainer(this, rec, await Container.load(rec.Id, { root: this.runtimeRoot, ...(init ? { init } : {}) }).catch(() => undefined));
  }

  /** Removes detached `autoRemove` containers whose monitor ended without removing them (killed, or its cleanup failed). */
  private async removeLeftAutoRemoved(): Promise<void> {
    for (const rec of await this.records()) {
      if (!rec.Options.detach || !rec.Options.autoRemove) continue;
      const state = detachedState(path.join(this.containersDir, rec.Id));
      if (state === undefined || state.monitored || state.status !== 'exited') continue;
      const rt = await Container.load(rec.Id, { root: this.runtimeRoot }).catch(() => undefined);
      if (rt !== undefined && (await rt.status()) !== 'stopped') continue;
      await this.removeContainer(rec, rt, { force: true }).catch(() => undefined);
    }
  }

  /** Removes a container's runtime state, snapshot, directory and name (the container must be stopped unless `force`). */
  async removeContainer(rec: ContainerRecord, runtime: Container | undefined, options: { force?: boolean }): Promise<void> {
    if (rec.Options.detach) {
      // Its monitor must end first (unlocked: with --rm it becomes the cleanup, which takes the lock).
      const dir = path.join(this.containersDir, rec.Id);
      const state = detachedState(dir);
      if (state?.monitored && state.status === 'running' && options.force !== true) {
        throw new EngineError(`cannot remove container ${rec.Name}: it is running; stop it first or force`, 'ESTATE', rec.Name);
      }
      if (state?.monitored && !state.removalBySession) {
        await stopThroughMonitor(dir, 'SIGKILL', 0);
        // A `run --rm` session may have been attached at that exit: then the monitor waits for
        // it rather than exit (it said so before the exit was sent), and this removal goes on.
        if (detachedState(dir)?.removalBySession !== true) await waitMonitorGone(dir);
      }
      runtime = undefined; // its pid may be stale after restarts: load afresh below
    }
    await this.locked(async () => {
      if (rec.Options.detach && (await this.containerRecord(rec.Id)) === undefined) return; // its monitor's cleanup removed it
      const rt = runtime ?? (await Container.load(rec.Id, { root: this.runtimeRoot }).catch(() => undefined));
      if (rt !== undefined) {
        const status = await rt.status();
        if (status !== 'stopped' && status !== 'created' && options.force !== true) {
          throw new EngineError(`cannot remove container ${rec.Name}: it is ${status}; stop it first or force`, 'ESTATE', rec.Name);
        }
        await rt.delete({ force: true });
      }
      await this.networks.disconnectAll(rec.Id);
      await rm(path.join(this.containersDir, rec.Id, 'container.json'), { force: true });
      await this.driver.remove(rec.Snapshot).catch(() => undefined);
      if ((await this.nameOwner(rec.Name)) === rec.Id) await unlink(path.join(this.namesDir(), rec.Name)).catch(() => undefined);
      await rm(path.join(this.containersDir, rec.Id), { recursive: true, force: true }); // last: a monitor waiting on a session takes its absence for "removed
    });
  }

  /** Replaces an exited container's runtime state with a fresh `created` one from its record. */
  async recreateRuntime(rec: ContainerRecord, old: Container | undefined, stdio: StdioOption): Promise<Container> {
    if (old !== undefined) await old.delete({ force: true });
    await this.networks.disconnectAll(rec.Id);
    const dir = path.join(this.containersDir, rec.Id);
    const rt = await Container.create({
      id: rec.Id, bundle: dir, spec: rec.Spec, root: this.runtimeRoot, stdio, rootfsMounts: rec.Mounts,
      ...(rec.Options.detach ? { monitor: monitorOptions(this.root, dir, rec.Id, rec.Options) } : {}),
    });
    try {
      await this.attachNetwork(rec, rt);
    } catch (err) {
      await rt.delete({ force: true }).catch(() => undefined);
      throw err;
    }
    return rt;
  }

  /** Connects a created container to the network its options name (its namespace is the new init's). */
  private async attachNetwork(rec: ContainerRecord, runtime: Container, prepared?: PreparedNetwork): Promise<void> {
    const o = rec.Options as NetworkOptions;
    const dir = path.join(this.containersDir, rec.Id);
    const net = prepared ?? (await prepareNetwork(this.networks, structuredClone(rec.Spec), o, dir));
    await connectNetwork(this.networks, net, { id: rec.Id, name: rec.Name, hostname: rec.Spec.hostname ?? '', aliases: o.networkAliases ?? [], runtime });
  }

  /** The container's filesystem (image plus its changes) as an uncompressed tar (`docker export`). */
  async export(nameOrId: string): Promise<Readable> {
    const c = await this.container(nameOrId);
    return mergedTreeTar(await this.driver.layerDirs(c.record.Snapshot));
  }

  /**
   * A container's changes as a new layer on its image, and a new image of it (`docker commit`):
   * the config is the image's with the container's command, env, workdir and user, one more
   * DiffID and one more history entry.
   */
  async commit(nameOrId: string, options: CommitOptions = {}): Promise<Image> {
    const c = await this.container(nameOrId);
    const base = await this.images.get(c.record.Image).catch(() => undefined);
    if (base === undefined) throw new EngineError(`the image of container ${c.record.Name} is gone`, 'ENOENT', c.record.Image);
    const baseRec = await base.record();
    const config = await base.config();
    const lock = await this.images.ingestLock();
    try {
      const layer = await this.images.layers.register(this.driver.diff(c.record.Snapshot), await base.topLayer());
      const now = new Date().toISOString();
      const opts = c.record.Options;
      const next: ImageConfig = {
        ...config,
        created: now,
        ...(options.author === undefined ? {} : { author: options.author }),
        config: {
          ...config.config,
          Cmd: opts.cmd ?? (opts.entrypoint !== undefined ? [] : config.config?.Cmd),
          Env: mergeEnv(config.config?.Env, opts.env),
          WorkingDir: c.record.Spec.process?.cwd,
          ...(opts.entrypoint === undefined ? {} : { Entrypoint: opts.entrypoint }),
          ...(opts.user === undefined ? {} : { User: opts.user }),
          ...options.changes,
        },
        rootfs: { type: 'layers', diff_ids: [...config.rootfs.diff_ids, layer.diffID] },
        history: [...(config.history ?? []), { created: now, created_by: (c.record.Spec.process?.args ?? []).join(' '), ...(options.comment ? { comment: options.comment } : {}) }],
      };
      return await this.images.add({
        config: Buffer.from(JSON.stringify(next)),
        layers: [...baseRec.layers, { chainID: layer.chainID, diffID: layer.diffID }],
        references: options.reference === undefined ? [] : [options.reference],
      });
    } finally {
      lock.release();
    }
  }

  /**
   * A filesystem tar (uncompressed, gzip or zstd) as a one-layer image (`docker import`). The
   * tar is kept as the layer's blob, so a later save or push gives the same digests.
   */
  async import(tar: Readable | AsyncIterable<Uint8Array> | Uint8Array, options: { reference?: string; config?: ImageConfig['config']; comment?: string } = {}): Promise<Image> {
    const lock = await this.images.ingestLock();
    let failed = false;
    try {
      const blob = await this.images.content.write(tar instanceof Uint8Array ? tar : (tar as AsyncIterable<Uint8Array>));
      const head = Buffer.alloc(8);
      const fh = await openFile(this.images.content.path(blob.digest), 'r');
      await fh.read(head, 0, 8, 0).finally(() => fh.close());
      const compression = detectCompression(head);
      assertSupportedCompression(compression);
      const layer = await this.images.layers.register(this.images.content.read(blob.digest), undefined, { expectedDigest: blob.digest });
      const now = new Date().toISOString();
      const config: ImageConfig = {
        ...hostPlatform(),
        created: now,
        config: options.config ?? {},
        rootfs: { type: 'layers', diff_ids: [layer.diffID] },
        history: [{ created: now, created_by: 'berth import', comment: options.comment ?? 'Imported from tarball' }],
      };
      return await this.images.add({
        config: Buffer.from(JSON.stringify(config)),
        layers: [{ chainID: layer.chainID, diffID: layer.diffID, blob: { mediaType: layerMediaType(compression), digest: blob.digest, size: blob.size } }],
        references: options.reference === undefined ? [] : [options.reference],
      });
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      lock.release();
      // What a failed import stored (its blob, a layer) is garbage now.
      if (failed) await this.images.collect().catch(() => undefined);
    }
  }
}

/** The options worth recording (no functions, no streams). */
function processOptions(o: CreateContainerOptions): RecordedOptions {
  const { cmd, entrypoint, env, workdir, user, hostname, readOnly, mounts, resources, capAdd, capDrop, seccomp, noNewPrivileges, init } = o;
  const { network, publish, dns, dnsSearch, networkAliases } = o;
  const { detach, tty, interactive, restart, autoRemove, stopSignal, stopTimeout, consoleSize } = o;
  return JSON.parse(JSON.stringify({
    cmd, entrypoint, env, workdir, user, hostname, readOnly, mounts, resources, capAdd, capDrop, seccomp, noNewPrivileges, init, network, publish, dns, dnsSearch, networkAliases,
    detach, tty, interactive, restart, autoRemove, stopSignal, stopTimeout, consoleSize,
  })) as RecordedOptions;
}
