/**
 * The contract between the network manager and a network driver, and the records both keep.
 * A driver is a strategy object: the manager owns names, persistence, locks, /etc/hosts and
 * the container side of the bookkeeping; the driver makes and removes the kernel state of a
 * network (`create`/`remove`) and of one container's endpoint on it (`connect`/`disconnect`).
 * A third party can implement {@link NetworkDriver} and register it with
 * {@link NetworkManager.registerDriver}.
 * @module
 */
import type { Ipam } from './ipam.js';
import type { Nftables } from './nftables.js';
import type { PortMapping } from './publish.js';

/** Options of {@link NetworkManager.create}. */
export interface CreateNetworkOptions {
  /** Driver name: `bridge` (default), `none`, `host`, or one registered. */
  driver?: string;
  /** IPv4 subnet `a.b.c.d/n` (default: a free one from the private pool that overlaps no host route). */
  subnet?: string;
  /** Gateway, inside the subnet (default: its first address). */
  gateway?: string;
  /** The sub-range containers get addresses from (default: the whole subnet). */
  ipRange?: string;
  /** MTU of the bridge and the veths (default 1500). */
  mtu?: number;
  /** Name of the Linux bridge (default `berth` + 10 hex digits of the id). */
  bridgeName?: string;
  /** Labels recorded with the network. */
  labels?: Record<string, string>;
}

/** What the manager records of a network (`<root>/network/networks/<id>/network.json`; Docker's field names). */
export interface NetworkRecord {
  /** 64 hex digits. */
  Id: string;
  /** Unique name in the root. */
  Name: string;
  /** Driver name. */
  Driver: string;
  /** When it was created (ISO 8601). */
  Created: string;
  /** Address management: subnet, gateway and range (bridge only). */
  IPAM: {
    /** `a.b.c.d/n`. */
    Subnet?: string;
    /** The host's address on the network. */
    Gateway?: string;
    /** The range containers get addresses from. */
    IPRange?: string;
  };
  /** Driver options (bridge: `bridge` name, `mtu`). */
  Options: Record<string, string>;
  /** Labels. */
  Labels: Record<string, string>;
  /** The default network (`bridge`), made on first use and kept until removed. */
  Default?: boolean;
  /** A network every root has (`none`, `host`): never removed. */
  Predefined?: boolean;
}

/** What a container asks of a network when it connects. */
export interface EndpointRequest {
  /** Container id. */
  containerId: string;
  /** Container name (resolvable by peers). */
  containerName: string;
  /** Its hostname (resolvable by peers). */
  hostname: string;
  /** More names peers resolve to it. */
  aliases: string[];
  /** An fd of the container's network namespace; null when it uses the host's. */
  netns: number | null;
  /** Interface name inside the container (`eth0`, `eth1`, ...). */
  ifname: string;
  /** Whether this endpoint's gateway becomes the container's default route. */
  defaultRoute: boolean;
  /** Ports to publish on the host. */
  ports: PortMapping[];
  /** The container's /etc/hosts on the host (rewritten as peers come and go), if any. */
  hostsPath?: string;
  /** The address to give it (a reconnect after a restart keeps its address); default: the next free one. NetworkError EADDRINUSE (path `ip`) when another holds it. */
  ipAddress?: string;
}

/** A container's endpoint on a network (`<network dir>/endpoints/<container id>.json`). */
export interface EndpointRecord {
  /** The network's id. */
  NetworkId: string;
  /** 64 hex digits. */
  EndpointId: string;
  /** Container id. */
  ContainerId: string;
  /** Container name. */
  ContainerName: string;
  /** Container hostname. */
  Hostname: string;
  /** More names. */
  Aliases: string[];
  /** Its IPv4 address (empty on `none` and `host`). */
  IPAddress: string;
  /** Prefix length of the subnet. */
  PrefixLen: number;
  /** Its gateway. */
  Gateway: string;
  /** Interface name in the container. */
  Interface: string;
  /** The veth's host end (bridge), empty otherwise. */
  HostInterface: string;
  /** Published ports, with the host ports actually taken. */
  Ports: PortMapping[];
  /** The container's /etc/hosts on the host. */
  HostsPath?: string;
}

/** What a driver is given: the network's state directory, its IPAM, the host-wide lock and the nftables table. */
export interface DriverContext {
  /** The network's state directory. */
  dir: string;
  /** The network's address allocator (networks with a subnet; absent while the network is being made). */
  ipam?: Ipam;
  /** berth's nftables table. */
  nft: Nftables;
  /** Subnets of the root's other networks (a new one must not overlap them). */
  subnetsInUse: string[];
  /** Runs `fn` holding the host-wide network lock (subnet choice, bridge names, the nft table). */
  hostLocked<T>(fn: () => Promise<T>): Promise<T>;
}

/** A network driver (strategy class). */
export interface NetworkDriver {
  /** Its name (`bridge`, `none`, `host`). */
  readonly name: string;
  /** False when containers on it use the host's network namespace (the `host` driver). */
  readonly ownNamespace: boolean;
  /** Checks the options and makes the network's kernel state; returns what to record. Leaves nothing behind when it throws. */
  create(id: string, options: CreateNetworkOptions, ctx: DriverContext): Promise<Pick<NetworkRecord, 'IPAM' | 'Options'>>;
  /** Removes the network's kernel state (no endpoint is left). */
  remove(net: NetworkRecord, ctx: DriverContext): Promise<void>;
  /** Remakes missing kernel state of a recorded network (after a reboot); optional. */
  restore?(net: NetworkRecord, ctx: DriverContext): Promise<void>;
  /** Gives a container an endpoint; leaves nothing behind when it throws. */
  connect(net: NetworkRecord, req: EndpointRequest, ctx: DriverContext): Promise<Omit<EndpointRecord, 'NetworkId' | 'EndpointId' | 'ContainerId' | 'ContainerName' | 'Hostname' | 'Aliases' | 'HostsPath'>>;
  /** Takes an endpoint away (the container may be gone already); idempotent. */
  disconnect(net: NetworkRecord, ep: EndpointRecord, ctx: DriverContext): Promise<void>;
}
