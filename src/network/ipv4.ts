/**
 * IPv4 addresses and CIDR prefixes as 32-bit numbers: parsing with errors that name the field,
 * containment and overlap.
 * @module
 */
import { NetworkError } from './errors.js';

/** An IPv4 network: its first address and prefix length. */
export interface Cidr {
  /** The network address as an unsigned 32-bit number. */
  base: number;
  /** Prefix length, 0..32. */
  prefix: number;
}

/** Parses a dotted quad; NetworkError EINVAL naming `field` otherwise. */
export function parseIp(text: string, field: string): number {
  const parts = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (parts === null || parts.slice(1).some((p) => Number(p) > 255)) {
    throw new NetworkError(`${field}: ${JSON.stringify(text)} is not an IPv4 address`, 'EINVAL', field);
  }
  return parts.slice(1).reduce((acc, p) => acc * 256 + Number(p), 0);
}

/** Formats a 32-bit number as a dotted quad. */
export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** The netmask of a prefix length as a number. */
export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `a.b.c.d/n`; the host bits must be zero. NetworkError EINVAL naming `field`. */
export function parseCidr(text: string, field: string): Cidr {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (m === null || Number(m[2]) > 32) throw new NetworkError(`${field}: ${JSON.stringify(text)} is not an IPv4 CIDR (a.b.c.d/n)`, 'EINVAL', field);
  const addr = parseIp(m[1]!, field);
  const prefix = Number(m[2]);
  if (((addr & ~maskOf(prefix)) >>> 0) !== 0) {
    throw new NetworkError(`${field}: ${text} has host bits set (the network is ${formatIp((addr & maskOf(prefix)) >>> 0)}/${prefix})`, 'EINVAL', field);
  }
  return { base: addr, prefix };
}

/** `a.b.c.d/n`. */
export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

/** The last address of a network (its broadcast address). */
export function lastOf(c: Cidr): number {
  return (c.base | ~maskOf(c.prefix)) >>> 0;
}

/** Whether `ip` lies in `c`. */
export function contains(c: Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefix)) >>> 0) === c.base;
}

/** Whether two networks share any address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & maskOf(p)) >>> 0) === ((b.base & maskOf(p)) >>> 0);
}
