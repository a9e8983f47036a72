/**
 * The files that make a container's name resolution: `/etc/hostname`, `/etc/hosts` (localhost,
 * the container itself, and every container on its networks by name, hostname and alias) and
 * `/etc/resolv.conf` (the host's resolvers, or the DNS servers, search domains and options
 * given). They live in the container's directory on the host and are bind-mounted over the
 * image's; /etc/hosts is rewritten in place (same inode, so the bind mount sees it) as peers
 * join and leave.
 * @module
 */
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { NetworkError } from './errors.js';
import { parseIp } from './ipv4.js';

/** One /etc/hosts line: an address and its names. */
export interface HostsEntry {
  /** IPv4 address. */
  ip: string;
  /** Names. */
  names: string[];
}

const LOCALHOST = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'ff00::0\tip6-mcastprefix', 'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters'];

/** /etc/hosts content: localhost lines, then `entries` (the container's own first), one per address. */
export function hostsContent(entries: readonly HostsEntry[]): string {
  const lines = [...LOCALHOST];
  const seen = new Set<string>();
  for (const e of entries) {
    const names = [...new Set(e.names.filter((n) => n !== ''))];
    const key = `${e.ip} ${names.join(' ')}`;
    if (names.length === 0 || seen.has(key)) continue;
    seen.add(key);
    lines.push(`${e.ip}\t${names.join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

/** Options of {@link resolvConfContent}. */
export interface ResolvOptions {
  /** Nameservers (default: the host's). */
  dns?: string[];
  /** Search domains (default: the host's). */
  dnsSearch?: string[];
  /** resolv.conf options (default: the host's). */
  dnsOptions?: string[];
  /** Keep loopback nameservers (a container on the host's network can reach them). */
  keepLoopback?: boolean;
}

/** The host's /etc/resolv.conf parsed into nameservers, search domains and options. */
export function hostResolvConf(file = '/etc/resolv.conf'): { nameservers: string[]; search: string[]; options: string[] } {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // no resolv.conf: no resolvers
  }
  const out = { nameservers: [] as string[], search: [] as string[], options: [] as string[] };
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'nameserver' && f[1] !== undefined) out.nameservers.push(f[1]);
    else if ((f[0] === 'search' || f[0] === 'domain') && f.length > 1) out.search = f.slice(1);
    else if (f[0] === 'options' && f.length > 1) out.options.push(...f.slice(1));
  }
  return out;
}

/**
 * /etc/resolv.conf content: the given DNS servers, search domains and options, or the host's.
 * Loopback nameservers of the host (a local stub resolver) are dropped unless `keepLoopback`,
 * since a container in its own namespace cannot reach them. NetworkError EINVAL naming
 * `dns[i]` for a server that is not an IPv4 address.
 */
export function resolvConfContent(o: ResolvOptions = {}): string {
  const host = hostResolvConf();
  (o.dns ?? []).forEach((d, i) => parseIp(d, `dns[${i}]`));
  for (const [i, s] of (o.dnsSearch ?? []).entries()) {
    if (!/^[A-Za-z0-9.-]+$/.test(s)) throw new NetworkError(`dnsSearch[${i}]: ${JSON.stringify(s)} is not a domain`, 'EINVAL', `dnsSearch[${i}]`);
  }
  const servers = (o.dns ?? host.nameservers).filter((s) => o.keepLoopback === true || o.dns !== undefined || !s.startsWith('127.'));
  const search = o.dnsSearch ?? host.search;
  const options = o.dnsOptions ?? host.options;
  const lines = servers.map((s) => `nameserver ${s}`);
  if (search.length > 0) lines.push(`search ${search.join(' ')}`);
  if (options.length > 0) lines.push(`options ${options.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** Rewrites `file` in place (same inode: a bind mount of it sees the new content). */
export async function rewriteInPlace(file: string, content: string): Promise<void> {
  const fh = await open(file, 'r+').catch(async (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (fh === undefined) return; // the container is gone
  try {
    const buf = Buffer.from(content);
    await fh.write(buf, 0, buf.length, 0);
    await fh.truncate(buf.length);
  } finally {
    await fh.close();
  }
}
