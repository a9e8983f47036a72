/**
 * The systemd cgroup driver (runc's `--systemd-cgroup`): it asks systemd over D-Bus to make a
 * transient scope and set its properties. These machines do not run systemd, so the driver
 * refuses with a {@link SystemdCgroupError} that says so; nothing is created.
 * @module
 */
import fs from 'node:fs';
import { SystemdCgroupError } from './errors.js';

/** True when systemd is PID 1 (the test systemd itself uses: /run/systemd/system exists). */
export function systemdRunning(): boolean {
  return fs.existsSync('/run/systemd/system');
}

/** The systemd driver: throws when asked to manage anything, naming why. */
export class SystemdManager {
  /** `field` names the option that asked for the driver (`--systemd-cgroup`, `cgroupDriver`). */
  constructor(field = 'cgroupDriver') {
    throw new SystemdCgroupError(field, systemdRunning());
  }
}
