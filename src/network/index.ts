/**
 * Networks: the {@link NetworkManager} of a root with {@link Network} objects, the
 * {@link NetworkDriver} interface and the built-in `none`, `host` and `bridge` drivers.
 *
 * How a container's network namespace is made and configured: the runtime makes a new network
 * namespace for the container at create (the spec's `network` namespace entry), and its init
 * waits for `start()` before anything of the user's runs. Between create and start the engine
 * opens `/proc/<init pid>/ns/net` (checking through a pidfd that the init is still the one it
 * started) and hands the fd to the network manager. The bridge driver then, in one job on a
 * libuv worker thread, creates the veth pair with its container end made directly inside that
 * namespace (IFLA_NET_NS_FD on the peer), puts the host end on the bridge with hairpin and
 * brings it up, and — through a netlink socket opened inside the namespace — brings lo up,
 * renames nothing (the peer is born as `eth0`), sets the address, the link up and the default
 * route. The host end therefore only ever exists paired with a peer inside the container's
 * namespace, and dies with it: a crash cannot leak a veth. The `host` driver instead has the
 * runtime join the host's namespace (no `network` namespace entry), and `none` only brings lo
 * up. /etc/hosts, /etc/hostname and /etc/resolv.conf are files in the container's directory,
 * bind-mounted over the image's by the spec, and /etc/hosts is rewritten in place as peers
 * come and go.
 * @module
 */
export { BridgeDriver, type BridgeDriverOptions } from './bridge.js';
export type { CreateNetworkOptions, DriverContext, EndpointRecord, EndpointRequest, NetworkDriver, NetworkRecord } from './driver.js';
export { hostsContent, resolvConfContent, type HostsEntry, type ResolvOptions } from './etc-files.js';
export { NetworkError } from './errors.js';
export { HostDriver } from './host.js';
export { Ipam } from './ipam.js';
export { DEFAULT_NETWORK, HOST_LOCK, Network, NetworkManager, type AttachedEndpoint, type ConnectRequest, type NetworkInspect, type NetworkManagerOptions } from './manager.js';
export { Nftables, TABLE as NFT_TABLE, type NftRule, type PublishedPort } from './nftables.js';
export { NoneDriver } from './none.js';
export { parsePublish, formatPublish, type PortMapping } from './publish.js';
