/**
 * The network manager of one root: {@link Network} objects (create, list, inspect, remove,
 * connect, disconnect) over pluggable {@link NetworkDriver}s, persisted under
 * `<root>/network/networks/<id>/` (`network.json`, the IPAM's files, `endpoints/<container>.json`).
 *
 * Every change in a root happens under a flock on `<root>/network/lock`; changes to host-wide
 * state (subnet choice, bridge names, berth's nftables table) also hold the host-wide lock
 * `/run/berth-network/lock`, since several roots share one host. `none` and `host` are
 * predefined networks of every root; `bridge` names the default bridge network, made on first
 * use and then kept, as Docker keeps docker0, until it is removed (`remove('bridge')`, refused
 * while containers use it): making and unmaking its bridge and nftables rules for every
 * `run --rm` cost more than the rest of the network's work. /etc/hosts of every container on a network is rewritten whenever one joins or
 * leaves it, so peers resolve each other by container name, hostname and alias.
 *
 * Crash safety: an endpoint's veth lives in the container's network namespace and dies with
 * it; {@link NetworkManager.reconcile} (run by the engine's open) frees the addresses, port
 * rules and records of containers that are gone, and remakes missing bridges.
 *
 * A container whose init is replaced (a restart by its monitor) has a new, empty network
 * namespace: {@link NetworkManager.reconnect} gives it its endpoints again, keeping their
 * addresses and published host ports.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { namesIn, readJsonIfExists, writeJsonAtomic } from '../util/atomic-file.js';
import { withFileLock } from '../util/file-lock.js';
import { BridgeDriver, type BridgeDriverOptions } from './bridge.js';
import type { CreateNetworkOptions, DriverContext, EndpointRecord, EndpointRequest, NetworkDriver, NetworkRecord } from './driver.js';
import { hostsContent, rewriteInPlace, type HostsEntry } from './etc-files.js';
import { NetworkError } from './errors.js';
import { HostDriver } from './host.js';
import { Ipam } from './ipam.js';
import { Nftables } from './nftables.js';
import { readStateFile, writeStateFile } from './state-file.js';
import { NoneDriver } from './none.js';
import type { PortMapping } from './publish.js';
import { compareStrings } from '../util/compare-strings.js';

/** The name of the default bridge network. */
export const DEFAULT_NETWORK = 'bridge';

/** The host-wide lock guarding bridge names, subnet choice and berth's nftables table. */
export const HOST_LOCK = '/run/berth-network/lock';

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const RESERVED = new Set(['bridge', 'host', 'none', 'default']);

/** Options of {@link NetworkManager.open}. */
export interface NetworkManagerOptions {
  /** The state directory (the engine uses `<root>/network`). */
  dir: string;
  /** Options of the built-in bridge driver. */
  bridge?: BridgeDriverOptions;
  /** The host-wide lock file (default {@link HOST_LOCK}). */
  hostLock?: string;
}

/** What {@link NetworkManager.connect} needs of a container. */
export interface ConnectRequest {
  /** Container id. */
  containerId: string;
  /** Container name. */
  containerName: string;
  /** Its hostname. */
  hostname: string;
  /** More names peers resolve to it. */
  aliases?: string[];
  /** An fd of its network namespace; null when it uses the host's. */
  netns: number | null;
  /** Ports to publish. */
  ports?: PortMapping[];
  /** Its /etc/hosts on the host, rewritten as peers come and go. */
  hostsPath?: string;
}

/** What {@link Network.inspect} returns (Docker's shape). */
export interface NetworkInspect {
  /** Name. */
  Name: string;
  /** Id. */
  Id: string;
  /** When it was created. */
  Created: string;
  /** Driver name. */
  Driver: string;
  /** Address configuration. */
  IPAM: {
    /** One entry per subnet. */
    Config: Array<{
      /** Subnet. */
      Subnet: string;
      /** Gateway. */
      Gateway?: string;
      /** Range. */
      IPRange?: string;
    }>;
  };
  /** Driver options. */
  Options: Record<string, string>;
  /** Labels. */
  Labels: Record<string, string>;
  /** Endpoints by container id. */
  Containers: Record<string, {
    /** Container name. */
    Name: string;
    /** Endpoint id. */
    EndpointID: string;
    /** `a.b.c.d/n`, empty when none. */
    IPv4Address: string;
    /** Interface in the container. */
    Interface: string;
    /** The veth's host end. */
    HostInterface: string;
    /** Published ports. */
    Ports: PortMapping[];
  }>;
}

/** A handle on one network of a root. */
export class Network {
  constructor(
    /** Its manager. */
    readonly manager: NetworkManager,
    /** Its record. */
    readonly record: NetworkRecord,
  ) {}

  /** Network id. */
  get id(): string {
    return this.record.Id;
  }

  /** Network name. */
  get name(): string {
    return this.record.Name;
  }

  /** Driver name. */
  get driver(): string {
    return this.record.Driver;
  }

  /** Its endpoints, one per connected container. */
  endpoints(): Promise<EndpointRecord[]> {
    return this.manager.endpoints(this.id);
  }

  /** Docker-style details with its containers. */
  async inspect(): Promise<NetworkInspect> {
    const r = this.record;
    const containers: NetworkInspect['Containers'] = {};
    for (const ep of await this.endpoints()) {
      containers[ep.ContainerId] = {
        Name: ep.ContainerName, EndpointID: ep.EndpointId, IPv4Address: ep.IPAddress === '' ? '' : `${ep.IPAddress}/${ep.PrefixLen}`,
        Interface: ep.Interface, HostInterface: ep.HostInterface, Ports: ep.Ports,
      };
    }
    return {
      Name: r.Name, Id: r.Id, Created: r.Created, Driver: r.Driver,
      IPAM: { Config: r.IPAM.Subnet === undefined ? [] : [{ Subnet: r.IPAM.Subnet, Gateway: r.IPAM.Gateway, ...(r.IPAM.IPRange === undefined ? {} : { IPRange: r.IPAM.IPRange }) }] },
      Options: r.Options, Labels: r.Labels, Containers: containers,
    };
  }

  /** Connects a container (see {@link NetworkManager.connect}). */
  connect(req: ConnectRequest): Promise<EndpointRecord> {
    return this.manager.connect(this.id, req);
  }

  /** Disconnects a container (see {@link NetworkManager.disconnect}). */
  disconnect(containerId: string): Promise<void> {
    return this.manager.disconnect(this.id, containerId);
  }

  /** Removes the network (see {@link NetworkManager.remove}). */
  remove(options: { force?: boolean } = {}): Promise<void> {
    return this.manager.remove(this.id, options);
  }
}

/** A container's endpoint with its network. */
export interface AttachedEndpoint {
  /** The network. */
  network: NetworkRecord;
  /** The endpoint. */
  endpoint: EndpointRecord;
}

/** The networks of one root. */
export class NetworkManager {
  private readonly drivers = new Map<string, NetworkDriver>();
  private readonly nft = new Nftables();

  private constructor(
    /** The state directory. */
    readonly dir: string,
    private readonly hostLockFile: string,
    bridge: BridgeDriverOptions | undefined,
  ) {
    for (const d of [new BridgeDriver(bridge), new NoneDriver(), new HostDriver()]) this.drivers.set(d.name, d);
  }

  /** Opens (creating) the state directory and the predefined `none` and `host` networks. */
  static async open(options: NetworkManagerOptions): Promise<NetworkManager> {
    const m = new NetworkManager(path.resolve(options.dir), options.hostLock ?? HOST_LOCK, options.bridge);
    await mkdir(m.networksDir, { recursive: true, mode: 0o700 });
    await m.locked(async () => {
      const recs = await m.records();
      for (const name of ['none', 'host']) {
        if (!recs.some((r) => r.Name === name)) {
          await m.writeRecord({ Id: randomBytes(32).toString('hex'), Name: name, Driver: name, Created: new Date().toISOString(), IPAM: {}, Options: {}, Labels: {}, Predefined: true });
        }
      }
    });
    return m;
  }

  /** Adds a driver (a third party's); an existing name is replaced. */
  registerDriver(driver: NetworkDriver): void {
    this.drivers.set(driver.name, driver);
  }

  /** The driver called `name`; NetworkError ENODRIVER when none is. */
  driver(name: string): NetworkDriver {
    const d = this.drivers.get(name);
    if (d === undefined) throw new NetworkError(`driver: no network driver named ${JSON.stringify(name)} (have ${[...this.drivers.keys()].join(', ')})`, 'ENODRIVER', 'driver');
    return d;
  }

  private get networksDir(): string {
    return path.join(this.dir, 'networks');
  }

  private netDir(id: string): string {
    return path.join(this.networksDir, id);
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    return withFileLock(path.join(this.dir, 'lock'), true, fn);
  }

  private async writeRecord(rec: NetworkRecord): Promise<void> {
    await mkdir(path.join(this.netDir(rec.Id), 'endpoints'), { recursive: true, mode: 0o700 });
    await writeJsonAtomic(path.join(this.netDir(rec.Id), 'network.json'), rec);
  }

  private async records(): Promise<NetworkRecord[]> {
    const out: NetworkRecord[] = [];
    for (const id of namesIn(this.networksDir)) {
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      const rec = await readJsonIfExists<NetworkRecord>(path.join(this.netDir(id), 'network.json'));
      if (rec !== undefined) out.push(rec);
    }
    return out.sort((a, b) => compareStrings(a.Created, b.Created));
  }

  /** The record named (or with the id or unique id prefix) `nameOrId`; `bridge` is the default network. */
  private async find(nameOrId: string, known?: NetworkRecord[]): Promise<NetworkRecord | undefined> {
    const recs = known ?? (await this.records());
    if (nameOrId === DEFAULT_NETWORK) return recs.find((r) => r.Default === true);
    const byName = recs.find((r) => r.Name === nameOrId);
    if (byName !== undefined) return byName;
    if (/^[0-9a-f]{1,64}$/.test(nameOrId)) {
      const matches = recs.filter((r) => r.Id.startsWith(nameOrId));
      if (matches.length === 1) return matches[0];
    }
    return undefined;
  }

  private async mustFind(nameOrId: string): Promise<NetworkRecord> {
    const rec = await this.find(nameOrId);
    if (rec === undefined) throw new NetworkError(`no such network: ${nameOrId}`, 'ENOENT', nameOrId);
    return rec;
  }

  private context(rec: NetworkRecord | undefined, subnetsInUse: string[] = []): DriverContext {
    return {
      dir: rec === undefined ? this.networksDir : this.netDir(rec.Id),
      ...(rec?.IPAM.Subnet !== undefined ? { ipam: new Ipam(this.netDir(rec.Id), rec.IPAM.Subnet, rec.IPAM.Gateway!, rec.IPAM.IPRange) } : {}),
      nft: this.nft,
      subnetsInUse,
      hostLocked: (fn) => withFileLock(this.hostLockFile, true, fn),
    };
  }

  /** Whether containers on the network `nameOrId` (which need not exist yet if it is `bridge`) use the host's network namespace. */
  async usesHostNamespace(nameOrId: string): Promise<boolean> {
    if (nameOrId === DEFAULT_NETWORK) return false;
    return !this.driver((await this.mustFind(nameOrId)).Driver).ownNamespace;
  }

  /**
   * Creates a network. NetworkError EEXIST (name taken, or reserved: bridge, host, none,
   * default), EINVAL (bad name or option), EOVERLAP, EEXHAUSTED, ENODRIVER; on failure the
   * host's network is left as it was.
   */
  async create(name: string, options: CreateNetworkOptions = {}): Promise<Network> {
    if (!NAME_RE.test(name)) throw new NetworkError(`name: ${JSON.stringify(name)} is not a network name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)`, 'EINVAL', 'name');
    if (RESERVED.has(name)) throw new NetworkError(`name: ${name} is a predefined network`, 'EEXIST', 'name');
    return this.locked(() => this.createLocked(name, options, false));
  }

  private async createLocked(name: string, options: CreateNetworkOptions, isDefault: boolean): Promise<Network> {
    const driver = this.driver(options.driver ?? 'bridge');
    const recs = await this.records();
    if (recs.some((r) => r.Name === name && !(r.Default === true && !isDefault))) throw new NetworkError(`name: a network named ${name} exists already`, 'EEXIST', 'name');
    const id = randomBytes(32).toString('hex');
    const made = await driver.create(id, options, this.context(undefined, recs.flatMap((r) => (r.IPAM.Subnet === undefined ? [] : [r.IPAM.Subnet]))));
    const rec: NetworkRecord = {
      Id: id, Name: name, Driver: driver.name, Created: new Date().toISOString(), IPAM: made.IPAM, Options: made.Options, Labels: options.labels ?? {},
      ...(isDefault ? { Default: true } : {}),
    };
    try {
      await this.writeRecord(rec);
    } catch (err) {
      await driver.remove(rec, this.context(rec)).catch(() => undefined);
      await rm(this.netDir(id), { recursive: true, force: true });
      throw err;
    }
    return new Network(this, rec);
  }

  /** Every network, oldest first. */
  async list(): Promise<Network[]> {
    return (await this.records()).map((r) => new Network(this, r));
  }

  /** The network with this name, id or unique id prefix; NetworkError ENOENT. */
  async get(nameOrId: string): Promise<Network> {
    return new Network(this, await this.mustFind(nameOrId));
  }

  /** The endpoints of a network. */
  async endpoints(netId: string): Promise<EndpointRecord[]> {
    const dir = path.join(this.netDir(netId), 'endpoints');
    const out: EndpointRecord[] = [];
    for (const f of namesIn(dir)) {
      if (!f.endsWith('.json')) continue;
      const ep = await readStateFile<EndpointRecord>(path.join(dir, f)).catch(() => undefined);
      if (ep !== undefined) out.push(ep);
    }
    return out;
  }

  /** Every endpoint of container `containerId`, on every network. */
  async endpointsOf(containerId: string, known?: NetworkRecord[]): Promise<AttachedEndpoint[]> {
    const out: AttachedEndpoint[] = [];
    for (const rec of known ?? (await this.records())) {
      const ep = await readStateFile<EndpointRecord>(path.join(this.netDir(rec.Id), 'endpoints', `${containerId}.json`)).catch(() => undefined);
      if (ep !== undefined) out.push({ network: rec, endpoint: ep });
    }
    return out;
  }

  /**
   * Removes a network: its endpoints must be gone unless `force`, which disconnects them.
   * The predefined `none` and `host` cannot be removed. NetworkError EBUSY, ENOENT, EINVAL.
   */
  async remove(nameOrId: string, options: { force?: boolean } = {}): Promise<void> {
    await this.locked(async () => {
      const rec = await this.mustFind(nameOrId);
      if (rec.Predefined === true) throw new NetworkError(`network ${rec.Name} is predefined and cannot be removed`, 'EINVAL', rec.Name);
      const eps = await this.endpoints(rec.Id);
      if (eps.length > 0 && options.force !== true) {
        throw new NetworkError(`network ${rec.Name} has ${eps.length} container(s) attached (${eps.map((e) => e.ContainerName).join(', ')}); disconnect them or force`, 'EBUSY', rec.Name);
      }
      for (const ep of eps) await this.disconnectLocked(rec, ep);
      await this.removeLocked(rec);
    });
  }

  private async removeLocked(rec: NetworkRecord): Promise<void> {
    await this.driver(rec.Driver).remove(rec, this.context(rec));
    await rm(this.netDir(rec.Id), { recursive: true, force: true });
  }

  /**
   * Connects a container to a network (`bridge`: the default network, made if needed). Its
   * interface is `eth<n>` (the first free), and the first endpoint with a gateway gives the
   * default route. Peers' /etc/hosts learn its name. NetworkError EEXIST when it is connected
   * already; the driver's errors otherwise, with nothing left behind.
   */
  async connect(nameOrId: string, req: ConnectRequest): Promise<EndpointRecord> {
    return this.locked(async () => {
      const recs = await this.records();
      let rec = await this.find(nameOrId, recs);
      if (rec === undefined && nameOrId === DEFAULT_NETWORK) rec = (await this.createLocked(DEFAULT_NETWORK, {}, true)).record;
      if (rec === undefined) throw new NetworkError(`no such network: ${nameOrId}`, 'ENOENT', nameOrId);
      const net = rec;
      const driver = this.driver(net.Driver);
      const mine = await this.endpointsOf(req.containerId, recs);
      if (mine.some((m) => m.network.Id === net.Id)) throw new NetworkError(`container ${req.containerName} is already connected to ${net.Name}`, 'EEXIST', net.Name);
      const used = new Set(mine.map((m) => m.endpoint.Interface));
      let n = 0;
      while (used.has(`eth${n}`)) n++;
      const request: EndpointRequest = {
        containerId: req.containerId, containerName: req.containerName, hostname: req.hostname, aliases: req.aliases ?? [],
        netns: req.netns, ifname: `eth${n}`, defaultRoute: !mine.some((m) => m.endpoint.Gateway !== ''), ports: req.ports ?? [],
        ...(req.hostsPath === undefined ? {} : { hostsPath: req.hostsPath }),
      };
      try {
        const made = await driver.connect(net, request, this.context(net));
        const ep: EndpointRecord = {
          NetworkId: net.Id, EndpointId: randomBytes(32).toString('hex'), ContainerId: req.containerId, ContainerName: req.containerName,
          Hostname: req.hostname, Aliases: request.aliases, ...made, ...(req.hostsPath === undefined ? {} : { HostsPath: req.hostsPath }),
        };
        try {
          await writeStateFile(path.join(this.netDir(net.Id), 'endpoints', `${req.containerId}.json`), ep);
        } catch (err) {
          await driver.disconnect(net, ep, this.context(net)).catch(() => undefined);
          throw err;
        }
        await this.rewriteHosts(net.Id);
        return ep;
      } catch (err) {
        throw err;
      }
    });
  }

  /**
   * Reconnects container `containerId`, whose init was replaced by one with the new network
   * namespace `netns` (a restart by its monitor), to every network it has an endpoint on, under
   * the same lock as every other change. For each endpoint the driver undoes the old one (its
   * veth died with the old namespace; its port rules go, its address is freed) and connects the
   * new namespace with the same interface name, the same address (taken again at once: the lock
   * is held) and the same host ports; the default route goes, as on the first connects, through
   * the first endpoint (in interface order) with a gateway. Records keep their endpoint ids.
   * Should the address have been taken meanwhile, another is given and peers' /etc/hosts are
   * rewritten. Endpoints of drivers without a namespace of their own (`host`) are left alone.
   * On failure the error is thrown: endpoints reconnected so far stay, the failing one keeps its
   * record and (where it can) its address, so that a later reconnect tries again.
   */
  async reconnect(containerId: string, netns: number): Promise<EndpointRecord[]> {
    const ifIndex = (name: string): number => Number(/^eth(\d+)$/.exec(name)?.[1] ?? Infinity);
    return this.locked(async () => {
      const mine = (await this.endpointsOf(containerId)).sort((a, b) => ifIndex(a.endpoint.Interface) - ifIndex(b.endpoint.Interface));
      const out: EndpointRecord[] = [];
      let routed = false;
      for (const { network: net, endpoint: old } of mine) {
        const driver = this.driver(net.Driver);
        if (!driver.ownNamespace) {
          out.push(old);
          continue;
        }
        const ctx = this.context(net);
        const request: EndpointRequest = {
          containerId, containerName: old.ContainerName, hostname: old.Hostname, aliases: old.Aliases, netns,
          ifname: old.Interface, defaultRoute: !routed && old.Gateway !== '', ports: old.Ports,
          ...(old.HostsPath === undefined ? {} : { hostsPath: old.HostsPath }),
        };
        if (old.Gateway !== '') routed = true;
        await driver.disconnect(net, old, ctx);
        let ep: EndpointRecord;
        try {
          let made: Awaited<ReturnType<NetworkDriver['connect']>>;
          try {
            made = await driver.connect(net, old.IPAddress === '' ? request : { ...request, ipAddress: old.IPAddress }, ctx);
          } catch (err) {
            if (!(err instanceof NetworkError && err.code === 'EADDRINUSE' && err.path === 'ip')) throw err;
            made = await driver.connect(net, request, ctx); // its address went to another: any free one
          }
          ep = { ...old, ...made };
          try {
            await writeStateFile(path.join(this.netDir(net.Id), 'endpoints', `${containerId}.json`), ep);
          } catch (err) {
            await driver.disconnect(net, ep, ctx).catch(() => undefined);
            throw err;
          }
        } catch (err) {
          // Keep the old record truthful: its address reserved again (no one took it meanwhile: the lock is held).
          if (old.IPAddress !== '') await ctx.ipam?.allocate(containerId, old.IPAddress).catch(() => undefined);
          throw err;
        }
        if (ep.IPAddress !== old.IPAddress) await this.rewriteHosts(net.Id);
        out.push(ep);
      }
      return out;
    });
  }

  /** Disconnects a container from a network (NetworkError ENOENT when it is not connected). */
  async disconnect(nameOrId: string, containerId: string): Promise<void> {
    await this.locked(async () => {
      const rec = await this.mustFind(nameOrId);
      const ep = (await this.endpoints(rec.Id)).find((e) => e.ContainerId === containerId || e.ContainerName === containerId);
      if (ep === undefined) throw new NetworkError(`container ${containerId} is not connected to ${rec.Name}`, 'ENOENT', containerId);
      await this.disconnectLocked(rec, ep);
    });
  }

  /** Disconnects a container from every network (its removal). */
  async disconnectAll(containerId: string): Promise<void> {
    await this.locked(async () => {
      for (const { network, endpoint } of await this.endpointsOf(containerId)) await this.disconnectLocked(network, endpoint);
    });
  }

  private async disconnectLocked(rec: NetworkRecord, ep: EndpointRecord): Promise<void> {
    await this.driver(rec.Driver).disconnect(rec, ep, this.context(rec));
    await unlink(path.join(this.netDir(rec.Id), 'endpoints', `${ep.ContainerId}.json`)).catch(() => undefined);
    await this.rewriteHosts(rec.Id, ep.HostsPath === undefined ? undefined : { id: ep.ContainerId, hostsPath: ep.HostsPath });
  }

  /** Rewrites /etc/hosts of every container on network `netId` (and of the container `extra`, which may have left it). */
  private async rewriteHosts(netId: string, extra?: { id: string; hostsPath: string }): Promise<void> {
    if (extra === undefined && !(await this.endpoints(netId)).some((e) => e.HostsPath !== undefined)) return;
    const all = new Map<string, EndpointRecord[]>();
    for (const rec of await this.records()) all.set(rec.Id, await this.endpoints(rec.Id));
    const targets = new Map<string, string>();
    for (const ep of all.get(netId) ?? []) if (ep.HostsPath !== undefined) targets.set(ep.ContainerId, ep.HostsPath);
    if (extra !== undefined) targets.set(extra.id, extra.hostsPath);
    for (const [containerId, hostsPath] of targets) {
      const own: HostsEntry[] = [];
      const peers: HostsEntry[] = [];
      for (const eps of all.values()) {
        const me = eps.find((e) => e.ContainerId === containerId);
        if (me === undefined) continue;
        if (me.IPAddress !== '') own.push({ ip: me.IPAddress, names: [me.Hostname, me.ContainerName, ...me.Aliases] });
        for (const p of eps) if (p.ContainerId !== containerId && p.IPAddress !== '') peers.push({ ip: p.IPAddress, names: [p.ContainerName, p.Hostname, ...p.Aliases] });
      }
      await rewriteInPlace(hostsPath, hostsContent([...own, ...peers]));
    }
  }

  /**
   * Repairs what dead containers and crashes left: endpoints (addresses, port rules, records)
   * of containers `alive` rejects are released, addresses and port rules without an endpoint
   * are freed, and missing bridges are remade. Port rules can only be stale where an endpoint
   * or an address had to be released (an address is taken before a port is published and freed
   * after its rules are gone), so nftables is asked only then: an engine open, which runs this,
   * starts no `nft` on a healthy host.
   */
  async reconcile(alive: (containerId: string) => Promise<boolean>): Promise<void> {
    await this.locked(async () => {
      for (const rec of await this.records()) {
        const driver = this.drivers.get(rec.Driver);
        if (driver === undefined) continue;
        const ctx = this.context(rec);
        let eps = await this.endpoints(rec.Id);
        let released = false;
        for (const ep of eps) {
          if (!(await alive(ep.ContainerId))) {
            await this.disconnectLocked(rec, ep);
            released = true;
          }
        }
        eps = await this.endpoints(rec.Id);
        const kept = new Set(eps.map((e) => e.ContainerId));
        if (((await ctx.ipam?.releaseUnless((owner) => kept.has(owner))) ?? []).length > 0) released = true;
        await driver.restore?.(rec, ctx);
        if (released && rec.IPAM.Subnet !== undefined) {
          await ctx.hostLocked(async () => {
            const stale = (await this.nft.publishedPorts()).filter((p) => p.owner.startsWith(`${rec.Id.slice(0, 12)} `) && ![...kept].some((c) => p.owner.endsWith(` ${c.slice(0, 12)}`)));
            for (const s of new Set(stale.map((p) => p.owner.split(' ')[1]!))) await this.nft.removePorts(rec.Id, s);
          });
        }
      }
    });
  }
}
