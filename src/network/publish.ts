/**
 * Published ports: `docker run -p` syntax parsed into {@link PortMapping}s, and the check that a
 * host port is free (no socket of the host holds it).
 * @module
 */
import net from 'node:net';
import { NetworkError } from './errors.js';
import { parseIp } from './ipv4.js';
import { lazyRequire } from '../util/lazy-require.js';

const dgram = lazyRequire<typeof import('node:dgram')>('node:dgram');

/** One published port: `hostIp:hostPort -> containerPort/protocol`. */
export interface PortMapping {
  /** Host address it is reachable on; `0.0.0.0` for every local address. */
  hostIp: string;
  /** Host port, 1..65535. */
  hostPort: number;
  /** Port in the container. */
  containerPort: number;
  /** `tcp` or `udp`. */
  protocol: 'tcp' | 'udp';
}

function port(text: string, field: string, what: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new NetworkError(`${field}: ${what} ${JSON.stringify(text)} is not a port (1..65535)`, 'EINVAL', field);
  }
  return Number(text);
}

/**
 * Parses `[hostIp:][hostPort:]containerPort[/tcp|/udp]` (`8080:80`, `127.0.0.1:8080:80/udp`);
 * a missing host port is 0 (an ephemeral port is picked when the mapping is made).
 * NetworkError EINVAL naming `field` for a bad address, port or protocol.
 */
export function parsePublish(spec: string, field = 'publish'): PortMapping {
  const slash = spec.lastIndexOf('/');
  const proto = slash < 0 ? 'tcp' : spec.slice(slash + 1);
  if (proto !== 'tcp' && proto !== 'udp') throw new NetworkError(`${field}: protocol ${JSON.stringify(proto)} is not tcp or udp`, 'EINVAL', field);
  const parts = (slash < 0 ? spec : spec.slice(0, slash)).split(':');
  if (parts.length > 3 || parts.length === 0) throw new NetworkError(`${field}: ${JSON.stringify(spec)} is not [hostIp:][hostPort:]containerPort[/proto]`, 'EINVAL', field);
  const containerPort = port(parts[parts.length - 1]!, field, 'container port');
  const hostPortText = parts.length >= 2 ? parts[parts.length - 2]! : '';
  const hostPort = hostPortText === '' ? 0 : port(hostPortText, field, 'host port');
  const hostIp = parts.length === 3 && parts[0] !== '' ? parts[0]! : '0.0.0.0';
  parseIp(hostIp, field);
  return { hostIp, hostPort, containerPort, protocol: proto };
}

/** `hostIp:hostPort:containerPort/protocol`. */
export function formatPublish(m: PortMapping): string {
  return `${m.hostIp}:${m.hostPort}:${m.containerPort}/${m.protocol}`;
}

/**
 * Binds `hostIp:hostPort` for an instant to learn whether a host socket holds it (port 0: an
 * ephemeral one, returned). NetworkError EADDRINUSE naming `field` when taken.
 */
export async function probeHostPort(m: PortMapping, field: string): Promise<number> {
  try {
    if (m.protocol === 'udp') {
      const s = dgram().createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind({ address: m.hostIp, port: m.hostPort, exclusive: true }, () => resolve());
      });
      const p = s.address().port;
      await new Promise<void>((resolve) => s.close(() => resolve()));
      return p;
    }
    const srv = net.createServer();
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen({ host: m.hostIp, port: m.hostPort, exclusive: true }, () => resolve());
    });
    const p = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    return p;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new NetworkError(`${field}: host port ${m.hostIp}:${m.hostPort}/${m.protocol} is already in use`, 'EADDRINUSE', field, err);
    if (code === 'EADDRNOTAVAIL') throw new NetworkError(`${field}: ${m.hostIp} is not an address of this host`, 'EINVAL', field, err);
    throw err;
  }
}
