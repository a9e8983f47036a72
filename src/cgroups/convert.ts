/**
 * The unit conversions between the OCI resources (shaped after cgroup v1) and cgroup v2 files,
 * as runc and crun make them.
 * @module
 */
import { ConfigError } from '../errors.js';

/**
 * cpu.shares [2, 262144] → cpu.weight [1, 10000]: `1 + ((shares - 2) * 9999) / 262142`
 * (integer division), the linear map of runc ≤ 1.2 and crun. 0 means unset (returns 0).
 */
export function cpuSharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  const s = Math.min(Math.max(shares, 2), 262144);
  return 1 + Math.floor(((s - 2) * 9999) / 262142);
}

/** cpu.weight [1, 10000] → the cpu.shares it came from (the inverse of {@link cpuSharesToWeight}, rounded up). */
export function cpuWeightToShares(weight: number): number {
  if (weight === 0) return 0;
  return 2 + Math.ceil(((weight - 1) * 262142) / 9999);
}

/** blkio.weight [10, 1000] → io.weight [1, 10000]: `1 + (weight - 10) * 9999 / 990`. 0 means unset. */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/**
 * OCI memory.swap (v1 memsw: memory + swap) → v2 memory.swap.max (swap alone): `swap - limit`.
 * -1 passes through (unlimited); 0 means unset; memory unlimited with swap unset means both
 * unlimited. Returns null when memory.swap.max is to be left alone.
 */
export function memorySwapToV2(swap: number | undefined, limit: number | undefined, field = 'linux.resources.memory.swap'): number | null {
  const s = swap ?? 0;
  const m = limit ?? 0;
  if (m === -1 && s === 0) return -1;
  if (s === -1) return -1;
  if (s === 0) return null;
  if (m === -1) return s;
  if (m === 0) throw new ConfigError('cannot set a swap limit without a memory limit on cgroup v2 (swap counts memory plus swap)', field);
  if (s < m) throw new ConfigError(`${s} is below memory.limit ${m}: swap is the limit of memory plus swap`, field);
  return s - m;
}

/** A limit as a v2 file wants it: -1 → `max`. */
export function v2Limit(n: number): string {
  return n < 0 ? 'max' : String(n);
}

/** A v1 limit value: -1 passes as -1 (the kernel's "unlimited"). */
export function v1Limit(n: number): string {
  return String(n);
}

