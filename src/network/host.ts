/**
 * The `host` driver: the container joins the host's network namespace and sees the host's
 * interfaces, addresses and routes; berth makes nothing.
 * @module
 */
import type { CreateNetworkOptions, DriverContext, EndpointRecord, EndpointRequest, NetworkDriver, NetworkRecord } from './driver.js';
import { NetworkError } from './errors.js';

/** Containers on a `host` network use the host's network stack. */
export class HostDriver implements NetworkDriver {
  /** `host`. */
  readonly name = 'host';
  /** Containers use the host's namespace. */
  readonly ownNamespace = false;

  /** Nothing to make; refuses addressing options. */
  async create(_id: string, options: CreateNetworkOptions): Promise<Pick<NetworkRecord, 'IPAM' | 'Options'>> {
    for (const f of ['subnet', 'gateway', 'ipRange'] as const) {
      if (options[f] !== undefined) throw new NetworkError(`${f}: the host driver has no addresses of its own`, 'EINVAL', f);
    }
    return { IPAM: {}, Options: {} };
  }

  /** Nothing to remove. */
  async remove(): Promise<void> {}

  /** Nothing to do: ports a process binds are the host's own (publishing is refused). */
  async connect(_net: NetworkRecord, req: EndpointRequest, _ctx: DriverContext): ReturnType<NetworkDriver['connect']> {
    if (req.ports.length > 0) throw new NetworkError('publish: a container on the host network binds host ports itself; nothing to publish', 'EINVAL', 'publish');
    return { IPAddress: '', PrefixLen: 0, Gateway: '', Interface: '', HostInterface: '', Ports: [] };
  }

  /** Nothing to undo. */
  async disconnect(_net: NetworkRecord, _ep: EndpointRecord): Promise<void> {}
}
