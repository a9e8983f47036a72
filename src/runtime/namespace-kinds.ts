/**
 * The eight Linux namespace kinds: their CLONE_NEW* flags, /proc/PID/ns file names, and the
 * order in which they are joined.
 * @module
 */
import type { LinuxNamespaceType } from './spec.js';

/** CLONE_NEW* flags. */
export const CLONE = {
  NEWTIME: 0x80,
  NEWNS: 0x20000,
  NEWCGROUP: 0x2000000,
  NEWUTS: 0x4000000,
  NEWIPC: 0x8000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
} as const;

/** What berth knows about one namespace kind. */
export interface NamespaceKind {
  /** The CLONE_NEW* flag. */
  flag: number;
  /** Name of its file under /proc/PID/ns. */
  procName: string;
}

/** Namespace kind (spec name) → flag and /proc name. */
export const NAMESPACE_KINDS: Readonly<Record<LinuxNamespaceType, NamespaceKind>> = Object.freeze({
  user: { flag: CLONE.NEWUSER, procName: 'user' },
  ipc: { flag: CLONE.NEWIPC, procName: 'ipc' },
  uts: { flag: CLONE.NEWUTS, procName: 'uts' },
  network: { flag: CLONE.NEWNET, procName: 'net' },
  pid: { flag: CLONE.NEWPID, procName: 'pid' },
  cgroup: { flag: CLONE.NEWCGROUP, procName: 'cgroup' },
  time: { flag: CLONE.NEWTIME, procName: 'time' },
  mount: { flag: CLONE.NEWNS, procName: 'mnt' },
});

/**
 * The order namespaces are joined in: user first (it grants the capabilities over the others
 * it owns), mount last (after it, host paths such as /proc/PID/ns/* no longer resolve as on the
 * host). The rest as runc: ipc, uts, net, pid, then cgroup and time.
 */
export const JOIN_ORDER: readonly LinuxNamespaceType[] = ['user', 'ipc', 'uts', 'network', 'pid', 'cgroup', 'time', 'mount'];

/** True for a known namespace type name. */
export function isNamespaceType(t: unknown): t is LinuxNamespaceType {
  return typeof t === 'string' && Object.prototype.hasOwnProperty.call(NAMESPACE_KINDS, t);
}

/** Sorts items by {@link JOIN_ORDER} of their namespace type (stable). */
export function sortForJoin<T extends { type: LinuxNamespaceType }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => JOIN_ORDER.indexOf(a.type) - JOIN_ORDER.indexOf(b.type));
}
