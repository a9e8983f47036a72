/**
 * How the engine gives a container its network. Before the runtime creates the container:
 * the `publish` and `dns` options are checked, the spec joins the host's network namespace
 * when the network's driver says so (`host`), and /etc/hostname, /etc/hosts and
 * /etc/resolv.conf are written in the container's directory and bind-mounted over the
 * image's. After the runtime has created it (its init waits for `start()`, so nothing of the
 * user's runs yet): the init's network namespace is opened and the container is connected to
 * its network, which makes the veth, address and route inside that namespace (see
 * `src/network/index.ts`). Removing the container disconnects it from every network.
 *
 * A detached container restarted by its monitor runs in a new init with a new, empty network
 * namespace; {@link reconnectNetworks} (run by the monitor's restart hook,
 * `detached-restart.ts`, before the new init may start the program) gives it its endpoints
 * again.
 * @module
 */
import { openSync, closeSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as native from '../native/index.js';
import { hostsContent, resolvConfContent } from '../network/etc-files.js';
import { NetworkError } from '../network/errors.js';
import type { NetworkManager } from '../network/manager.js';
import type { EndpointRecord } from '../network/driver.js';
import { loopbackUp } from '../network/netlink.js';
import { parsePublish, type PortMapping } from '../network/publish.js';
import type { Container } from '../runtime/container.js';
import type { Spec } from '../runtime/spec.js';

/** The network options of a container (a subset of `docker run`'s). */
export interface NetworkOptions {
  /** The network to connect to: `bridge` (default: the default bridge network), `none`, `host`, or a network's name or id. */
  network?: string;
  /** Ports to publish, `[hostIp:][hostPort:]containerPort[/tcp|udp]` (`8080:80`, `127.0.0.1:8053:53/udp`). */
  publish?: string[];
  /** DNS servers for /etc/resolv.conf (default: the host's). */
  dns?: string[];
  /** DNS search domains (default: the host's). */
  dnsSearch?: string[];
  /** More names peers on its networks resolve to it. */
  networkAliases?: string[];
}

/** What {@link prepareNetwork} decided, for {@link connectNetwork}. */
export interface PreparedNetwork {
  /** The network's name or id. */
  network: string;
  /** The parsed published ports. */
  ports: PortMapping[];
  /** Whether the container uses the host's network namespace. */
  hostNamespace: boolean;
  /** The container's /etc/hosts on the host. */
  hostsPath: string;
}

/**
 * Checks the options, shapes the spec (namespace, bind mounts) and writes the container's
 * /etc files into `dir`. NetworkError EINVAL naming the field, ENOENT for an unknown network.
 */
export async function prepareNetwork(networks: NetworkManager, spec: Spec, options: NetworkOptions, dir: string): Promise<PreparedNetwork> {
  const network = options.network ?? 'bridge';
  const ports = (options.publish ?? []).map((p, i) => parsePublish(p, `publish[${i}]`));
  const hostNamespace = await networks.usesHostNamespace(network);
  if (hostNamespace) {
    if (ports.length > 0) throw new NetworkError('publish: a container on the host network binds host ports itself; nothing to publish', 'EINVAL', 'publish');
    spec.linux!.namespaces = (spec.linux!.namespaces ?? []).filter((n) => n.type !== 'network');
  } else {
    // As Docker does in a network namespace of the container's own: any user may bind ports
    // below 1024 and open ICMP echo sockets (ping without CAP_NET_RAW).
    spec.linux!.sysctl = { 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647', ...spec.linux!.sysctl };
  }
  const hostname = spec.hostname ?? '';
  const files = {
    hostname: `${hostname}\n`,
    hosts: hostsContent(hostNamespace ? [{ ip: '127.0.1.1', names: [hostname] }] : []),
    'resolv.conf': resolvConfContent({
      ...(options.dns === undefined ? {} : { dns: options.dns }),
      ...(options.dnsSearch === undefined ? {} : { dnsSearch: options.dnsSearch }),
      keepLoopback: hostNamespace,
    }),
  };
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, name), content, { mode: 0o644 });
  const binds = Object.keys(files).map((name) => ({ destination: `/etc/${name}`, type: 'bind', source: path.join(dir, name), options: ['rbind', spec.root?.readonly === true ? 'ro' : 'rw', 'rprivate'] }));
  spec.mounts = [...(spec.mounts ?? []), ...binds];
  return { network, ports, hostNamespace, hostsPath: path.join(dir, 'hosts') };
}

/**
 * Opens the network namespace of a created (or running) container's init: its pid is pinned
 * by a pidfd, the namespace file opened, and the pidfd checked to be still alive afterwards,
 * so the fd cannot be another process's namespace. The caller closes it.
 */
export function openNetns(runtime: Container): number {
  return openNetnsOf(runtime.pid);
}

/** {@link openNetns} of the process `pid`. */
export function openNetnsOf(pid: number): number {
  const pidfd = native.pidfdOpen(pid);
  try {
    const fd = openSync(`/proc/${pid}/ns/net`, 'r');
    try {
      native.pidfdSendSignal(pidfd, 0);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return fd;
  } finally {
    native.closeFd(pidfd);
  }
}

/** Connects a created container to its network (nothing left behind on failure). */
export async function connectNetwork(
  networks: NetworkManager,
  prepared: PreparedNetwork,
  c: { id: string; name: string; hostname: string; aliases?: string[]; runtime: Container },
): Promise<void> {
  const netns = prepared.hostNamespace ? null : openNetns(c.runtime);
  try {
    await networks.connect(prepared.network, {
      containerId: c.id, containerName: c.name, hostname: c.hostname, aliases: c.aliases ?? [], netns, ports: prepared.ports, hostsPath: prepared.hostsPath,
    });
  } finally {
    if (netns !== null) closeSync(netns);
  }
}

/**
 * Reconnects a restarted container (its new init is `pid`, created and not yet started) to the
 * networks it has endpoints on, keeping addresses and host ports (see
 * {@link NetworkManager.reconnect}); with no endpoint (all disconnected) its `lo` is still
 * brought up, as the `none` network does.
 */
export async function reconnectNetworks(networks: NetworkManager, containerId: string, pid: number): Promise<EndpointRecord[]> {
  const netns = openNetnsOf(pid);
  try {
    const eps = await networks.reconnect(containerId, netns);
    if (eps.length === 0) await loopbackUp(netns);
    return eps;
  } finally {
    closeSync(netns);
  }
}
