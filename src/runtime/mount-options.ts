/**
 * Mount options of the runtime spec turned into mount(2) flags, with runc's table: flags set or
 * cleared by name, propagation kinds, and everything else passed to the filesystem as data.
 * @module
 */

/** MS_* mount flags (linux/mount.h). */
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOSYMFOLLOW: 0x100,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  MOVE: 0x2000,
  REC: 0x4000,
  SILENT: 0x8000,
  POSIXACL: 0x10000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  I_VERSION: 0x800000,
  STRICTATIME: 0x1000000,
  LAZYTIME: 0x2000000,
} as const;

/** Option name → [clears the flag?, flag]; runc's `mountFlags` table. */
export const MOUNT_FLAG_OPTIONS: Readonly<Record<string, readonly [boolean, number]>> = Object.freeze({
  async: [true, MS.SYNCHRONOUS],
  atime: [true, MS.NOATIME],
  bind: [false, MS.BIND],
  defaults: [false, 0],
  dev: [true, MS.NODEV],
  diratime: [true, MS.NODIRATIME],
  dirsync: [false, MS.DIRSYNC],
  exec: [true, MS.NOEXEC],
  iversion: [false, MS.I_VERSION],
  lazytime: [false, MS.LAZYTIME],
  loud: [true, MS.SILENT],
  mand: [false, MS.MANDLOCK],
  noatime: [false, MS.NOATIME],
  nodev: [false, MS.NODEV],
  nodiratime: [false, MS.NODIRATIME],
  noexec: [false, MS.NOEXEC],
  noiversion: [true, MS.I_VERSION],
  nolazytime: [true, MS.LAZYTIME],
  nomand: [true, MS.MANDLOCK],
  norelatime: [true, MS.RELATIME],
  nostrictatime: [true, MS.STRICTATIME],
  nosuid: [false, MS.NOSUID],
  nosymfollow: [false, MS.NOSYMFOLLOW],
  rbind: [false, MS.BIND | MS.REC],
  relatime: [false, MS.RELATIME],
  remount: [false, MS.REMOUNT],
  ro: [false, MS.RDONLY],
  rw: [true, MS.RDONLY],
  silent: [false, MS.SILENT],
  strictatime: [false, MS.STRICTATIME],
  suid: [true, MS.NOSUID],
  sync: [false, MS.SYNCHRONOUS],
  symfollow: [true, MS.NOSYMFOLLOW],
});

/** Propagation option name → flags; runc's `mountPropagationMapping`. */
export const PROPAGATION_OPTIONS: Readonly<Record<string, number>> = Object.freeze({
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
});

/** Options accepted and dropped (runc's extension `tmpcopyup`: copy-up into a tmpfs is not done). */
export const IGNORED_OPTIONS: ReadonlySet<string> = new Set(['tmpcopyup']);

/**
 * Options berth refuses for now: the recursive mount_setattr(2) attributes (`rro`, `rnosuid`,
 * ...) and id-mapped mounts, which the helper protocol cannot express yet.
 */
export const UNSUPPORTED_OPTIONS: ReadonlySet<string> = new Set([
  'rro', 'rrw', 'rnosuid', 'rsuid', 'rnodev', 'rdev', 'rnoexec', 'rexec', 'rnodiratime', 'rdiratime', 'rrelatime',
  'rnorelatime', 'rnoatime', 'ratime', 'rstrictatime', 'rnostrictatime', 'rnosymfollow', 'rsymfollow', 'idmap', 'ridmap',
]);

/** Every option name with a meaning to berth (for the OCI features document). */
export const MOUNT_OPTION_NAMES: string[] = [
  ...Object.keys(MOUNT_FLAG_OPTIONS),
  ...Object.keys(PROPAGATION_OPTIONS),
  ...IGNORED_OPTIONS,
].sort();

/** Propagation flag values accepted for `linux.rootfsPropagation`. */
export const ROOTFS_PROPAGATION = PROPAGATION_OPTIONS;

/** Options parsed into mount(2) terms. */
export interface ParsedMountOptions {
  /** MS_* flags to set (including MS_BIND / MS_REC for bind and rbind). */
  flags: number;
  /** Propagation flags given, in order (each is applied with its own mount(2) call by runc; berth keeps the last). */
  propagation: number[];
  /** Filesystem-specific options, in order. */
  data: string[];
  /** `bind` or `rbind` was given. */
  bind: boolean;
  /** `rbind` was given (recursive bind). */
  recursive: boolean;
  /** Options from {@link UNSUPPORTED_OPTIONS} that were given. */
  unsupported: string[];
}

/** Parses mount options like runc's parseMountOptions: later options override earlier ones. */
export function parseMountOptions(options: readonly string[] | undefined): ParsedMountOptions {
  let flags = 0;
  const propagation: number[] = [];
  const data: string[] = [];
  const unsupported: string[] = [];
  for (const o of options ?? []) {
    const f = Object.prototype.hasOwnProperty.call(MOUNT_FLAG_OPTIONS, o) ? MOUNT_FLAG_OPTIONS[o] : undefined;
    if (f) {
      if (f[1] === 0) continue;
      flags = f[0] ? flags & ~f[1] : flags | f[1];
    } else if (Object.prototype.hasOwnProperty.call(PROPAGATION_OPTIONS, o)) {
      propagation.push(PROPAGATION_OPTIONS[o]!);
    } else if (IGNORED_OPTIONS.has(o)) {
      continue;
    } else if (UNSUPPORTED_OPTIONS.has(o)) {
      unsupported.push(o);
    } else {
      data.push(o);
    }
  }
  const bind = (flags & MS.BIND) !== 0;
  return { flags, propagation, data, bind, recursive: bind && (flags & MS.REC) !== 0, unsupported };
}

/** The flags a bind mount must be remounted with (MS_BIND|MS_REMOUNT added by the helper): all but BIND, REC, REMOUNT. */
export function bindRemountFlags(flags: number): number {
  return flags & ~(MS.BIND | MS.REC | MS.REMOUNT);
}
