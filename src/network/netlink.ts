/**
 * The network layer's use of the addon's rtnetlink: bridges, veth pairs whose container end is
 * made directly inside the container's network namespace, addresses and routes, and dumps.
 * Every call runs on a libuv worker thread; the container side goes through a netlink socket
 * opened inside the container's namespace (see {@link native.netlink}). Failures become
 * {@link NetworkError}s carrying the errno name and the link at fault.
 * @module
 */
import { NativeError } from '../errors.js';
import * as native from '../native/index.js';
import type { NetlinkAddr, NetlinkLink, NetlinkOp, NetlinkRoute } from '../native/index.js';
import { NetworkError } from './errors.js';

async function run(nsFd: number, ops: NetlinkOp[]): Promise<unknown[]> {
  try {
    return await native.netlink(nsFd, ops);
  } catch (err) {
    if (err instanceof NativeError) throw new NetworkError(`netlink: ${err.message}`, err.code, err.path, err);
    throw err;
  }
}

/** Makes a bridge with the gateway address on it, up. */
export async function createBridge(name: string, mtu: number, gateway: string, prefix: number): Promise<void> {
  await run(-1, [
    { op: 'bridgeAdd', name, mtu },
    { op: 'addrAdd', name, address: gateway, prefix },
    { op: 'linkSet', name, up: true },
  ]);
}

/** Deletes a link of this namespace (absent: fine). */
export async function deleteLink(name: string): Promise<void> {
  await run(-1, [{ op: 'linkDel', name, missingOk: true }]);
}

/** What {@link addVethEndpoint} makes. */
export interface VethEndpoint {
  /** The host end's name (enslaved to `bridge`, hairpin on, up). */
  hostIf: string;
  /** The container end's name, made inside `netns`. */
  peerIf: string;
  /** The container end's MAC address (default: the kernel's random one). */
  peerMac?: string;
  /** An fd of the container's network namespace. */
  netns: number;
  /** The bridge. */
  bridge: string;
  /** MTU of both ends. */
  mtu: number;
  /** The container's address. */
  address: string;
  /** Its prefix length. */
  prefix: number;
  /** Default route via this gateway, if given. */
  gateway?: string;
}

/**
 * One worker-thread job: the veth pair with its peer born inside the container's namespace
 * (so the host end can only ever exist paired with it, and dies with that namespace), the host
 * end on the bridge with hairpin and up; then inside the namespace lo up, the address, the
 * link up and the default route.
 */
export async function addVethEndpoint(e: VethEndpoint): Promise<void> {
  const ops: NetlinkOp[] = [
    { op: 'vethAdd', name: e.hostIf, peer: e.peerIf, peerNetns: e.netns, master: e.bridge, mtu: e.mtu, ...(e.peerMac === undefined ? {} : { peerMac: e.peerMac }) },
    { op: 'hairpin', name: e.hostIf, on: true },
    { op: 'linkSet', name: e.hostIf, up: true },
    { op: 'linkSet', ns: true, name: 'lo', up: true },
    { op: 'addrAdd', ns: true, name: e.peerIf, address: e.address, prefix: e.prefix },
    { op: 'linkSet', ns: true, name: e.peerIf, up: true },
  ];
  if (e.gateway !== undefined) ops.push({ op: 'routeAdd', ns: true, gateway: e.gateway });
  await run(e.netns, ops);
}

/** Brings lo up inside a namespace. */
export async function loopbackUp(netns: number): Promise<void> {
  await run(netns, [{ op: 'linkSet', ns: true, name: 'lo', up: true }]);
}

/** The links of a namespace (-1: this process's). */
export async function listLinks(netns = -1): Promise<NetlinkLink[]> {
  return (await run(netns, [{ op: 'links', ns: netns >= 0 }]))[0] as NetlinkLink[];
}

/** The IPv4 addresses of a namespace (-1: this process's). */
export async function listAddrs(netns = -1): Promise<NetlinkAddr[]> {
  return (await run(netns, [{ op: 'addrs', ns: netns >= 0 }]))[0] as NetlinkAddr[];
}

/** The IPv4 routes of a namespace, every table (-1: this process's). */
export async function listRoutes(netns = -1): Promise<NetlinkRoute[]> {
  return (await run(netns, [{ op: 'routes', ns: netns >= 0 }]))[0] as NetlinkRoute[];
}
