/**
 * IP address management for one network: the addresses of its range handed out to containers,
 * persisted in `ipam.json` (written atomically; see `state-file.ts` for why without fsync) and changed only under a flock on `ipam.lock`,
 * so several processes can allocate from one network at once without ever giving out an
 * address twice. Addresses are handed out in order after the last one given (so a freed
 * address is not reused at once) and never the network, broadcast or gateway address.
 * @module
 */
import path from 'node:path';
import { withFileLock } from '../util/file-lock.js';
import { NetworkError } from './errors.js';
import { readStateFile, writeStateFile } from './state-file.js';
import { contains, formatCidr, formatIp, lastOf, parseCidr, parseIp, type Cidr } from './ipv4.js';

interface IpamState {
  /** Last address handed out (number). */
  last: number;
  /** Address → owner (container id). */
  allocated: Record<string, string>;
}

/** The address allocator of one network. */
export class Ipam {
  private readonly subnet: Cidr;
  private readonly range: Cidr;
  private readonly gateway: number;

  /** An allocator for `subnet` (addresses from `range`, default the subnet), state in `dir`. */
  constructor(
    /** The directory holding `ipam.json` and `ipam.lock`. */
    readonly dir: string,
    subnet: string,
    gateway: string,
    range?: string,
  ) {
    this.subnet = parseCidr(subnet, 'subnet');
    this.range = range === undefined ? this.subnet : parseCidr(range, 'ipRange');
    this.gateway = parseIp(gateway, 'gateway');
  }

  private get file(): string {
    return path.join(this.dir, 'ipam.json');
  }

  private async locked<T>(fn: (s: IpamState) => Promise<T> | T, write: boolean | ((out: T) => boolean)): Promise<T> {
    return withFileLock(path.join(this.dir, 'ipam.lock'), true, async () => {
      const state = (await readStateFile<IpamState>(this.file)) ?? { last: 0, allocated: {} };
      const out = await fn(state);
      if (typeof write === 'function' ? write(out) : write) await writeStateFile(this.file, state);
      return out;
    });
  }

  /** Whether `ip` may be handed out. */
  private usable(ip: number): boolean {
    return ip !== this.subnet.base && ip !== lastOf(this.subnet) && ip !== this.gateway && contains(this.range, ip);
  }

  /**
   * Gives `owner` an address (the one it holds already, if any; `requested` if given and
   * free). NetworkError EEXHAUSTED when the range is full, EADDRINUSE when `requested` is taken.
   */
  async allocate(owner: string, requested?: string): Promise<string> {
    return this.locked((s) => {
      const held = Object.entries(s.allocated).find(([, o]) => o === owner);
      if (held !== undefined) return held[0];
      if (requested !== undefined) {
        const ip = parseIp(requested, 'ip');
        if (!this.usable(ip)) throw new NetworkError(`ip: ${requested} is not an assignable address of ${formatCidr(this.range)}`, 'EINVAL', 'ip');
        if (s.allocated[requested] !== undefined) throw new NetworkError(`ip: ${requested} is already in use`, 'EADDRINUSE', 'ip');
        s.allocated[requested] = owner;
        return requested;
      }
      const first = this.range.base;
      const size = lastOf(this.range) - first + 1;
      const start = s.last >= first && s.last <= lastOf(this.range) ? s.last - first + 1 : 0;
      for (let i = 0; i < size; i++) {
        const ip = first + ((start + i) % size);
        const text = formatIp(ip);
        if (this.usable(ip) && s.allocated[text] === undefined) {
          s.allocated[text] = owner;
          s.last = ip;
          return text;
        }
      }
      throw new NetworkError(`no free address left in ${formatCidr(this.range)}`, 'EEXHAUSTED', 'ipRange');
    }, true);
  }

  /** Frees the address of `owner` (none held: no-op). */
  async release(owner: string): Promise<void> {
    await this.locked((s) => {
      for (const [ip, o] of Object.entries(s.allocated)) if (o === owner) delete s.allocated[ip];
    }, true);
  }

  /** Address → owner, as persisted now. */
  async allocations(): Promise<Record<string, string>> {
    return this.locked((s) => ({ ...s.allocated }), false);
  }

  /** Frees every address whose owner `keep` rejects; returns the owners freed. */
  async releaseUnless(keep: (owner: string) => boolean): Promise<string[]> {
    return this.locked((s) => {
      const freed: string[] = [];
      for (const [ip, o] of Object.entries(s.allocated)) {
        if (!keep(o)) {
          delete s.allocated[ip];
          freed.push(o);
        }
      }
      return freed;
    }, (freed) => freed.length > 0);
  }
}
