/**
 * The `none` driver: the container keeps a network namespace of its own with only `lo`
 * (brought up), and no route out.
 * @module
 */
import type { CreateNetworkOptions, DriverContext, EndpointRecord, EndpointRequest, NetworkDriver, NetworkRecord } from './driver.js';
import { NetworkError } from './errors.js';
import { loopbackUp } from './netlink.js';

/** Containers on a `none` network have only a loopback interface. */
export class NoneDriver implements NetworkDriver {
  /** `none`. */
  readonly name = 'none';
  /** Containers get a namespace of their own. */
  readonly ownNamespace = true;

  /** Nothing to make; refuses addressing options. */
  async create(_id: string, options: CreateNetworkOptions): Promise<Pick<NetworkRecord, 'IPAM' | 'Options'>> {
    for (const f of ['subnet', 'gateway', 'ipRange'] as const) {
      if (options[f] !== undefined) throw new NetworkError(`${f}: the none driver has no addresses`, 'EINVAL', f);
    }
    return { IPAM: {}, Options: {} };
  }

  /** Nothing to remove. */
  async remove(): Promise<void> {}

  /** Brings lo up in the container's namespace. */
  async connect(_net: NetworkRecord, req: EndpointRequest, _ctx: DriverContext): ReturnType<NetworkDriver['connect']> {
    if (req.ports.length > 0) throw new NetworkError('publish: a container on the none network has no ports to publish', 'EINVAL', 'publish');
    if (req.netns !== null) await loopbackUp(req.netns);
    return { IPAddress: '', PrefixLen: 0, Gateway: '', Interface: 'lo', HostInterface: '', Ports: [] };
  }

  /** Nothing to undo. */
  async disconnect(_net: NetworkRecord, _ep: EndpointRecord): Promise<void> {}
}
