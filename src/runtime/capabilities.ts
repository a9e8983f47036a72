/**
 * Linux capability names and bit numbers (linux/capability.h), and the five-set masks the init
 * helper applies.
 * @module
 */

/** Capability name → bit number, CAP_CHOWN (0) to CAP_CHECKPOINT_RESTORE (40). */
export const CAPABILITIES: Readonly<Record<string, number>> = Object.freeze({
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
});

/** All capability names berth knows, in bit order. */
export const CAPABILITY_NAMES: string[] = Object.keys(CAPABILITIES);

/** Bit number of CAP_SYS_RESOURCE (needed to raise a hard rlimit). */
export const CAP_SYS_RESOURCE = 24;

/** The five capability sets, in the order CFG_CAPABILITIES carries them. */
export const CAPABILITY_SETS = ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const;

/** One of the five capability sets. */
export type CapabilitySet = (typeof CAPABILITY_SETS)[number];

/** Bit number of a capability name, or undefined when berth does not know it. */
export function capabilityBit(name: string): number | undefined {
  return Object.prototype.hasOwnProperty.call(CAPABILITIES, name) ? CAPABILITIES[name] : undefined;
}

/** The mask of a list of (known) capability names; throws a RangeError on an unknown one. */
export function capabilityMask(names: readonly string[] | undefined): bigint {
  let mask = 0n;
  for (const name of names ?? []) {
    const bit = capabilityBit(name);
    if (bit === undefined) throw new RangeError(`unknown capability ${JSON.stringify(name)}`);
    mask |= 1n << BigInt(bit);
  }
  return mask;
}

/** The names of the bits set in a mask (unknown bits as `CAP_<n>`). */
export function capabilityNames(mask: bigint): string[] {
  const out: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    if ((mask >> BigInt(bit)) & 1n) out.push(CAPABILITY_NAMES[bit] ?? `CAP_${bit}`);
  }
  return out;
}

/** True when a mask (e.g. CapEff of /proc/self/status) holds the capability bit. */
export function hasCapability(mask: bigint, bit: number): boolean {
  return ((mask >> BigInt(bit)) & 1n) === 1n;
}
