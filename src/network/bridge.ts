/**
 * The `bridge` driver: a Linux bridge per network holding the gateway address; each container
 * gets a veth pair whose host end is on the bridge (hairpin on) and whose other end is made
 * directly inside the container's network namespace as `eth0` (then `eth1`, ...) with its
 * address (and a MAC derived from it) and the default route via the gateway. Addresses come from the network's
 * {@link Ipam}; masquerade, isolation and published ports are rules in berth's nftables table.
 * The bridge forwards (and routes 127.0.0.0/8 to published ports) through its own per-device
 * sysctls, so the host's other interfaces are untouched unless `ipForward` asks for the global
 * `net.ipv4.ip_forward`, which traffic to the world outside the host needs (then berth turns
 * it off again with the host's last berth network, when it was berth that turned it on).
 * A host-wide registry (`/run/berth-network/bridges`) maps each bridge to its network's record,
 * so a bridge whose root was deleted without removing its networks is collected by the next
 * network operation on the host.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { namesIn } from '../util/atomic-file.js';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { processAlive } from '../util/process-alive.js';
import type { CreateNetworkOptions, DriverContext, EndpointRecord, EndpointRequest, NetworkDriver, NetworkRecord } from './driver.js';
import { NetworkError } from './errors.js';
import { contains, formatCidr, formatIp, lastOf, overlaps, parseCidr, parseIp, type Cidr } from './ipv4.js';
import { addVethEndpoint, createBridge, deleteLink, listLinks, listRoutes } from './netlink.js';
import { formatPublish, probeHostPort, type PortMapping } from './publish.js';
import { readStateFile } from './state-file.js';

/** Options of {@link BridgeDriver}. */
export interface BridgeDriverOptions {
  /** Turn on `net.ipv4.ip_forward` when a network is made, so containers reach beyond the host (default true, as Docker); berth turns it off again when the host's last berth network goes, if it was berth that turned it on. */
  ipForward?: boolean;
  /** Subnets default networks are picked from, in order (default 172.17.0.0/16 … 172.31.0.0/16, then 192.168.0.0/20 … 192.168.240.0/20). */
  pool?: string[];
}

/** Docker's default address pools. */
function defaultPool(): string[] {
  const out: string[] = [];
  for (let b = 17; b <= 31; b++) out.push(`172.${b}.0.0/16`);
  for (let c = 0; c < 256; c += 16) out.push(`192.168.${c}.0/20`);
  return out;
}

const DEFAULT_MTU = 1500;

/** Host-wide registry of berth's bridges: `<bridge>.json` names the network record that owns it. */
const REGISTRY = '/run/berth-network/bridges';

interface RegistryEntry {
  /** The owning network's record file. */
  record: string;
  /** The network id. */
  id: string;
  /** The creating process and when, so a network being made is not taken for an orphan. */
  pid: number;
  created: number;
}

/** Present while berth has turned `net.ipv4.ip_forward` on (it turns it off with the host's last berth network). */
const IP_FORWARD_MARK = '/run/berth-network/ip_forward-set';

async function setSysctl(key: string, value: string): Promise<void> {
  await writeFile(`/proc/sys/${key.replaceAll('.', '/')}`, value);
}

/** Routes of the host's main table that a network must not overlap (the default route aside). */
async function hostRouteCidrs(): Promise<Cidr[]> {
  return (await listRoutes()).filter((r) => r.table === 254 && r.prefix > 0 && r.type === 1).map((r) => ({ base: parseIp(r.dst, 'route'), prefix: r.prefix }));
}

/**
 * The container end's MAC address, derived from its IPv4 address as Docker's bridge did
 * (`02:42:` and the four bytes; locally administered, unicast). An endpoint remade with the
 * same address (a restarted container, whose new namespace gets a new veth) so keeps its MAC,
 * and the neighbour caches of the host and of peers, which map the address to it, stay right;
 * with a random MAC they would send to the old one until their entries expire (seconds).
 */
function macOf(ip: string): string {
  return ['02', '42', ...ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');
}

/** The bridge driver. */
export class BridgeDriver implements NetworkDriver {
  /** `bridge`. */
  readonly name = 'bridge';
  /** Containers get a namespace of their own. */
  readonly ownNamespace = true;
  private readonly ipForward: boolean;
  private readonly pool: string[];

  constructor(options: BridgeDriverOptions = {}) {
    this.ipForward = options.ipForward ?? true;
    this.pool = options.pool ?? defaultPool();
  }

  /**
   * Checks subnet, gateway, range and MTU, picks a free subnet when none is given, and makes the
   * bridge (address, up, forwarding) and the network's nftables rules. NetworkError EOVERLAP,
   * EINVAL, EEXHAUSTED or EEXIST naming the field; on failure nothing is left.
   */
  async create(id: string, options: CreateNetworkOptions, ctx: DriverContext): Promise<Pick<NetworkRecord, 'IPAM' | 'Options'>> {
    const mtu = options.mtu ?? DEFAULT_MTU;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new NetworkError(`mtu: ${mtu} is not an MTU (68..65535)`, 'EINVAL', 'mtu');
    const bridge = options.bridgeName ?? `berth${id.slice(0, 10)}`;
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridge)) throw new NetworkError(`bridgeName: ${JSON.stringify(bridge)} is not an interface name (1..15 of [A-Za-z0-9_.-])`, 'EINVAL', 'bridgeName');
    const given = options.subnet === undefined ? undefined : parseCidr(options.subnet, 'subnet');
    if (given !== undefined && given.prefix > 30) throw new NetworkError(`subnet: ${options.subnet} is too small (at most /30)`, 'EINVAL', 'subnet');
    if (given === undefined && (options.gateway !== undefined || options.ipRange !== undefined)) {
      throw new NetworkError(`${options.gateway !== undefined ? 'gateway' : 'ipRange'}: needs a subnet`, 'EINVAL', options.gateway !== undefined ? 'gateway' : 'ipRange');
    }
    const check = (subnet: Cidr): { gateway: string; range?: string } => {
      let gw = subnet.base + 1;
      if (options.gateway !== undefined) {
        gw = parseIp(options.gateway, 'gateway');
        if (!contains(subnet, gw) || gw === subnet.base || gw === lastOf(subnet)) {
          throw new NetworkError(`gateway: ${options.gateway} is not a host address of ${formatCidr(subnet)}`, 'EINVAL', 'gateway');
        }
      }
      let range: string | undefined;
      if (options.ipRange !== undefined) {
        const r = parseCidr(options.ipRange, 'ipRange');
        if (r.prefix < subnet.prefix || !contains(subnet, r.base)) throw new NetworkError(`ipRange: ${options.ipRange} is not inside ${formatCidr(subnet)}`, 'EINVAL', 'ipRange');
        range = formatCidr(r);
      }
      return { gateway: formatIp(gw), ...(range === undefined ? {} : { range }) };
    };
    if (given !== undefined) check(given);
    return ctx.hostLocked(async () => {
      await this.collectOrphans(ctx);
      const taken = [...(await hostRouteCidrs()), ...ctx.subnetsInUse.map((s) => parseCidr(s, 'subnet'))];
      let subnet: Cidr;
      if (given !== undefined) {
        const clash = taken.find((t) => overlaps(t, given));
        if (clash !== undefined) throw new NetworkError(`subnet: ${formatCidr(given)} overlaps ${formatCidr(clash)}, a network or route this host has`, 'EOVERLAP', 'subnet');
        subnet = given;
      } else {
        const free = this.pool.map((p) => parseCidr(p, 'pool')).find((p) => !taken.some((t) => overlaps(t, p)));
        if (free === undefined) throw new NetworkError('subnet: every subnet of the default pool overlaps a network or route this host has; give one', 'EEXHAUSTED', 'subnet');
        subnet = free;
      }
      const { gateway, range } = check(subnet);
      if ((await listLinks()).some((l) => l.name === bridge)) throw new NetworkError(`bridgeName: an interface named ${bridge} exists already`, 'EEXIST', 'bridgeName');
      const net: Pick<NetworkRecord, 'IPAM' | 'Options'> = {
        IPAM: { Subnet: formatCidr(subnet), Gateway: gateway, ...(range === undefined ? {} : { IPRange: range }) },
        Options: { bridge, mtu: String(mtu) },
      };
      await this.register(bridge, id, path.join(ctx.dir, id, 'network.json'));
      await this.makeKernelState(id, net, ctx, false).catch(async (err: unknown) => {
        await this.removeKernelState(id, bridge, ctx).catch(() => undefined);
        throw err;
      });
      return net;
    });
  }

  /**
   * Bridge, address, sysctls and nftables rules (caller holds the host lock). The rules are made
   * before the bridge (they name it, whether it exists or not), so a bridge on the host implies
   * its rules: restoring a network whose bridge is there asks nftables nothing, which keeps
   * {@link NetworkManager.reconcile}, run by every engine open, from starting `nft`.
   */
  private async makeKernelState(id: string, net: Pick<NetworkRecord, 'IPAM' | 'Options'>, ctx: DriverContext, restoring: boolean): Promise<void> {
    const bridge = net.Options.bridge!;
    const subnet = parseCidr(net.IPAM.Subnet!, 'subnet');
    if (!(await listLinks()).some((l) => l.name === bridge)) {
      if (!restoring || !(await ctx.nft.hasNetwork(id))) await ctx.nft.addNetwork(id, bridge, formatCidr(subnet));
      await createBridge(bridge, Number(net.Options.mtu ?? DEFAULT_MTU), net.IPAM.Gateway!, subnet.prefix);
      await setSysctl(`net/ipv4/conf/${bridge}/forwarding`, '1');
      await setSysctl(`net/ipv4/conf/${bridge}/route_localnet`, '1');
    }
    if (this.ipForward && readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() !== '1') {
      await mkdir(path.dirname(IP_FORWARD_MARK), { recursive: true, mode: 0o700 });
      await writeFile(IP_FORWARD_MARK, `${process.pid}\n`);
      await setSysctl('net/ipv4/ip_forward', '1');
    }
  }

  /** Records that `bridge` belongs to the network whose record is `record`. */
  private async register(bridge: string, id: string, record: string): Promise<void> {
    const file = path.join(REGISTRY, `${bridge}.json`);
    const known = await readStateFile<Partial<RegistryEntry>>(file).catch(() => undefined);
    if (known?.record === record && known.id === id) return; // restored before: nothing to say
    await mkdir(REGISTRY, { recursive: true, mode: 0o700 });
    const entry: RegistryEntry = { record, id, pid: process.pid, created: Date.now() };
    await writeFile(file, JSON.stringify(entry));
  }

  /**
   * Removes bridges (and their nftables rules) whose network record is gone — a root deleted
   * without removing its networks — once their root's network directory is gone, or their
   * creator is dead, or a minute has passed (a network being made has no record yet). Caller
   * holds the host lock.
   */
  async collectOrphans(ctx: DriverContext): Promise<string[]> {
    const gone: string[] = [];
    for (const f of namesIn(REGISTRY)) {
      if (!f.endsWith('.json')) continue;
      const entry = (await readStateFile<Partial<RegistryEntry>>(path.join(REGISTRY, f)).catch(() => undefined)) ?? {};
      if (entry.record === undefined || entry.id === undefined) continue;
      if (await stat(entry.record).then(() => true, () => false)) continue;
      const rootGone = !(await stat(path.dirname(path.dirname(entry.record))).then(() => true, () => false));
      if (!rootGone && processAlive(entry.pid ?? 0) && Date.now() - (entry.created ?? 0) < 60_000) continue;
      const bridge = f.slice(0, -'.json'.length);
      await this.removeKernelState(entry.id, bridge, ctx);
      gone.push(bridge);
    }
    return gone;
  }

  private async removeKernelState(id: string, bridge: string, ctx: DriverContext): Promise<void> {
    await deleteLink(bridge);
    await rm(path.join(REGISTRY, `${bridge}.json`), { force: true });
    if (await ctx.nft.removeNetwork(id)) {
      // The last berth network of this host is gone: give back the ip_forward berth turned on.
      if (await stat(IP_FORWARD_MARK).then(() => true, () => false)) {
        await setSysctl('net/ipv4/ip_forward', '0');
        await rm(IP_FORWARD_MARK, { force: true });
      }
    }
  }

  /** Deletes the bridge and the network's rules (the table too, with the last network). */
  async remove(net: NetworkRecord, ctx: DriverContext): Promise<void> {
    await ctx.hostLocked(() => this.removeKernelState(net.Id, net.Options.bridge!, ctx));
  }

  /** Remakes the bridge and rules when they are missing (after a reboot). */
  async restore(net: NetworkRecord, ctx: DriverContext): Promise<void> {
    await ctx.hostLocked(async () => {
      await this.collectOrphans(ctx);
      await this.register(net.Options.bridge!, net.Id, path.join(ctx.dir, 'network.json'));
      await this.makeKernelState(net.Id, net, ctx, true);
    });
  }

  /**
   * Allocates an address, makes the veth pair (container end inside its namespace, with address
   * and, when asked, the default route), and publishes the ports. NetworkError EEXHAUSTED,
   * EADDRINUSE or EINVAL naming the field; on failure nothing is left.
   */
  async connect(net: NetworkRecord, req: EndpointRequest, ctx: DriverContext): ReturnType<NetworkDriver['connect']> {
    if (req.netns === null) throw new NetworkError('a bridge endpoint needs the container\'s network namespace', 'EINVAL', 'netns');
    const subnet = parseCidr(net.IPAM.Subnet!, 'subnet');
    const ip = await ctx.ipam!.allocate(req.containerId, req.ipAddress);
    const hostIf = `vberth${randomBytes(5).toString('hex').slice(0, 9)}`;
    let ports: PortMapping[] = [];
    try {
      await addVethEndpoint({
        hostIf, peerIf: req.ifname, netns: req.netns, bridge: net.Options.bridge!, mtu: Number(net.Options.mtu ?? DEFAULT_MTU), peerMac: macOf(ip),
        address: ip, prefix: subnet.prefix, ...(req.defaultRoute ? { gateway: net.IPAM.Gateway! } : {}),
      });
      if (req.ports.length > 0) ports = await ctx.hostLocked(() => this.publish(net, req, ip, ctx));
    } catch (err) {
      await deleteLink(hostIf).catch(() => undefined);
      await ctx.ipam!.release(req.containerId).catch(() => undefined);
      throw err;
    }
    return { IPAddress: ip, PrefixLen: subnet.prefix, Gateway: net.IPAM.Gateway!, Interface: req.ifname, HostInterface: hostIf, Ports: ports };
  }

  /** Checks the host ports (free of host sockets and of other berth mappings) and adds the DNAT rules (host lock held). */
  private async publish(net: NetworkRecord, req: EndpointRequest, ip: string, ctx: DriverContext): Promise<PortMapping[]> {
    // Publishing asks nftables anyway, so it repairs what an engine open no longer looks for: the
    // network's own rules, should a firewall reload have flushed them, and port rules of this
    // network whose container has no endpoint (a crash between the two), which would hold their
    // host ports for good.
    const rules = await ctx.nft.rules();
    if (!(await ctx.nft.hasNetwork(net.Id, rules))) await ctx.nft.addNetwork(net.Id, net.Options.bridge!, formatCidr(parseCidr(net.IPAM.Subnet!, 'subnet')));
    const live = new Set(namesIn(path.join(ctx.dir, 'endpoints')).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, 12)));
    const ports = await ctx.nft.publishedPorts(rules);
    const stale = new Set(ports.filter((p) => p.owner.startsWith(`${net.Id.slice(0, 12)} `)).map((p) => p.owner.split(' ')[1]!).filter((c) => !live.has(c) && c !== req.containerId.slice(0, 12)));
    for (const c of stale) await ctx.nft.removePorts(net.Id, c);
    const existing = ports.filter((p) => !stale.has(p.owner.split(' ')[1]!) || !p.owner.startsWith(`${net.Id.slice(0, 12)} `));
    const clash = (p: PortMapping, q: { protocol: string; hostIp: string; hostPort: number }): boolean =>
      p.protocol === q.protocol && p.hostPort === q.hostPort && (p.hostIp === q.hostIp || p.hostIp === '0.0.0.0' || q.hostIp === '0.0.0.0');
    const out: PortMapping[] = [];
    for (const [i, p] of req.ports.entries()) {
      const field = `publish[${i}]`;
      const mapping = { ...p, hostPort: await probeHostPort(p, field) };
      if (existing.some((q) => clash(mapping, q)) || out.some((q) => clash(mapping, q))) {
        throw new NetworkError(`${field}: host port ${formatPublish(mapping)} is already published`, 'EADDRINUSE', field);
      }
      out.push(mapping);
    }
    await ctx.nft.addPorts(net.Id, req.containerId, ip, out);
    return out;
  }

  /** Deletes the veth (gone already if the container's namespace died), the port rules, and frees the address. */
  async disconnect(net: NetworkRecord, ep: EndpointRecord, ctx: DriverContext): Promise<void> {
    if (ep.HostInterface !== '') await deleteLink(ep.HostInterface);
    if (ep.Ports.length > 0) await ctx.hostLocked(() => ctx.nft.removePorts(net.Id, ep.ContainerId));
    await ctx.ipam!.release(ep.ContainerId);
  }
}
