/**
 * Errors of the cgroups layer. Bad input is a {@link ConfigError} naming the field
 * (`linux.resources.memory.limit`); a value the kernel refuses is a {@link CgroupLimitError}
 * (also a ConfigError) naming the field and the file; anything else the kernel reports is a
 * {@link CgroupError} with the errno name as its code and the file as its path.
 * @module
 */
import { BerthError, ConfigError, UnsupportedError } from '../errors.js';

/** A cgroup file or directory operation failed (not because of the value written). */
export class CgroupError extends BerthError {
  constructor(message: string, details: { code: string; path?: string; errno?: number; cause?: unknown }) {
    super(message, { ...details, stage: 'cgroup' });
  }
}

/** The kernel refused a value (EINVAL, EBUSY, ERANGE...): names the resource field and the cgroup file. */
export class CgroupLimitError extends ConfigError {
  /** The cgroup file the value was written to. */
  readonly file: string;

  constructor(message: string, field: string, file: string, code: string) {
    super(message, field, code);
    this.file = file;
  }
}

/** The systemd cgroup driver was asked for; berth only has the cgroupfs driver without systemd. */
export class SystemdCgroupError extends UnsupportedError {
  constructor(field = 'cgroupDriver', systemdRunning = false) {
    super(systemdRunning
      ? 'the systemd cgroup driver is not implemented by berth: use the cgroupfs driver'
      : 'the systemd cgroup driver needs systemd running as init (PID 1) with its D-Bus API, and this host does not run systemd: use the cgroupfs driver', field);
  }
}

/** errno name of a Node fs error, or EIO. */
export function errnoCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : 'EIO';
}
