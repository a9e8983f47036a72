/**
 * Resource limits: RLIMIT_* names and numbers, the host's limits from /proc/self/limits, and the
 * policy for limits the host cannot grant.
 *
 * Without CAP_SYS_RESOURCE no process can raise a hard limit above its own, and the helper
 * inherits this process's limits. A limit above the host's hard limit is therefore either an
 * error naming the limit (`strict`, the default: the user asked for something that cannot be
 * met) or lowered to the host's hard limit (`clamp`: for defaults such as `defaultSpec()`'s
 * RLIMIT_NOFILE, where "as much as allowed" is what was meant). RLIMIT_NOFILE is also capped by
 * fs.nr_open, which binds even with CAP_SYS_RESOURCE.
 * @module
 */
import { ConfigError } from '../errors.js';
import { CAP_SYS_RESOURCE, hasCapability } from './capabilities.js';
import type { HostFacts } from './host-facts.js';
import type { POSIXRlimit } from './spec.js';

/** RLIMIT_* name → resource number (asm-generic, as on x86-64 and arm64). */
export const RLIMITS: Readonly<Record<string, number>> = Object.freeze({
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
});

/** RLIM_INFINITY. */
export const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;

/** What to do with an rlimit above what the host allows: refuse it, or lower it to the host's hard limit. */
export type RlimitPolicy = 'strict' | 'clamp';

/** A soft/hard pair (RLIM_INFINITY for unlimited). */
export interface HostLimit {
  /** Soft limit. */
  soft: bigint;
  /** Hard limit. */
  hard: bigint;
}

/** An rlimit ready for CFG_RLIMIT. */
export interface ResolvedRlimit {
  /** The RLIMIT_* name. */
  type: string;
  /** The resource number. */
  resource: number;
  /** Soft limit to set. */
  soft: bigint;
  /** Hard limit to set. */
  hard: bigint;
  /** The request was lowered to what the host allows (policy `clamp`). */
  clamped: boolean;
}

/** Resource number of an RLIMIT_* name, or undefined. */
export function rlimitResource(type: string): number | undefined {
  return Object.prototype.hasOwnProperty.call(RLIMITS, type) ? RLIMITS[type] : undefined;
}

/** The "Max ..." row names of /proc/self/limits, by resource number. */
const PROC_LIMIT_ROWS: Readonly<Record<string, number>> = {
  'Max cpu time': 0,
  'Max file size': 1,
  'Max data size': 2,
  'Max stack size': 3,
  'Max core file size': 4,
  'Max resident set': 5,
  'Max processes': 6,
  'Max open files': 7,
  'Max locked memory': 8,
  'Max address space': 9,
  'Max file locks': 10,
  'Max pending signals': 11,
  'Max msgqueue size': 12,
  'Max nice priority': 13,
  'Max realtime priority': 14,
  'Max realtime timeout': 15,
};

function parseLimitValue(s: string): bigint | undefined {
  if (s === 'unlimited') return RLIM_INFINITY;
  return /^\d+$/.test(s) ? BigInt(s) : undefined;
}

/** Parses /proc/self/limits ("unlimited" → RLIM_INFINITY) into limits by resource number. */
export function parseProcLimits(text: string): Map<number, HostLimit> {
  const out = new Map<number, HostLimit>();
  for (const line of text.split('\n')) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const resource = PROC_LIMIT_ROWS[m[1]!];
    const soft = parseLimitValue(m[2]!);
    const hard = parseLimitValue(m[3]!);
    if (resource !== undefined && soft !== undefined && hard !== undefined) out.set(resource, { soft, hard });
  }
  return out;
}

/** A spec rlimit value as u64; 2^64-1 or more (JSON cannot spell it exactly) means unlimited. */
export function rlimitValue(v: number | bigint): bigint {
  const b = typeof v === 'bigint' ? v : BigInt(Math.trunc(v));
  return b >= RLIM_INFINITY ? RLIM_INFINITY : b;
}

/** Words a limit for messages. */
export function formatLimit(v: bigint): string {
  return v === RLIM_INFINITY ? 'unlimited' : v.toString();
}

/**
 * Turns (validated) spec rlimits into what the helper sets, applying `policy` to limits above
 * the host's hard limit when this process lacks CAP_SYS_RESOURCE (and to RLIMIT_NOFILE above
 * fs.nr_open always). `field` is the JSON path of the list, for errors.
 */
export function resolveRlimits(
  rlimits: readonly POSIXRlimit[] | undefined,
  facts: HostFacts,
  policy: RlimitPolicy,
  field = 'process.rlimits',
): ResolvedRlimit[] {
  const canRaise = hasCapability(facts.capEff, CAP_SYS_RESOURCE);
  return (rlimits ?? []).map((r, i) => {
    const resource = rlimitResource(r.type);
    if (resource === undefined) throw new ConfigError(`unknown rlimit type ${JSON.stringify(r.type)}`, `${field}[${i}].type`);
    let soft = rlimitValue(r.soft);
    let hard = rlimitValue(r.hard);
    let clamped = false;
    const ceilings: Array<[bigint, string]> = [];
    const host = facts.limits.get(resource);
    if (!canRaise && host) {
      ceilings.push([host.hard, `exceeds the host's hard limit ${formatLimit(host.hard)}, and raising it needs CAP_SYS_RESOURCE`]);
    }
    if (resource === RLIMITS.RLIMIT_NOFILE && facts.nrOpen !== undefined) {
      ceilings.push([facts.nrOpen, `exceeds fs.nr_open (${facts.nrOpen}), the kernel's ceiling for open files`]);
    }
    for (const [ceiling, why] of ceilings) {
      if (hard <= ceiling) continue;
      if (policy === 'strict') {
        throw new ConfigError(`hard limit ${formatLimit(hard)} ${why}`, `${field}[${i}] (${r.type})`);
      }
      hard = ceiling;
      if (soft > hard) soft = hard;
      clamped = true;
    }
    return { type: r.type, resource, soft, hard, clamped };
  });
}
