/**
 * Every error berth raises is a {@link BerthError}: a class to match on, a stable `code`, the
 * stage that failed and the path or name at fault, so that a user sees
 * `ENOENT: executable /bin/sh not found in rootfs /var/lib/berth/...` and not an exit code.
 * @module
 */

/** Fields every berth error carries besides its message. */
export interface BerthErrorDetails {
  /** Stable machine-readable code: an errno name (`ENOENT`) or a berth code (`EINVALIDSPEC`). */
  code: string;
  /** The step that failed, e.g. `mount`, `pivot_root`, `config`. */
  stage?: string;
  /** The path, field or name at fault. */
  path?: string;
  /** The errno number when the failure came from a system call. */
  errno?: number;
  /** The underlying error, if any. */
  cause?: unknown;
}

/** Base class of all berth errors. */
export class BerthError extends Error {
  /** Stable machine-readable code. */
  readonly code: string;
  /** The step that failed. */
  readonly stage: string | undefined;
  /** The path, field or name at fault. */
  readonly path: string | undefined;
  /** The errno number, when a system call failed. */
  readonly errno: number | undefined;

  constructor(message: string, details: BerthErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = details.code;
    this.stage = details.stage;
    this.path = details.path;
    this.errno = details.errno;
  }
}

/** A runtime-spec config (or other user input) is malformed or asks for what cannot be done. */
export class ConfigError extends BerthError {
  constructor(message: string, field: string, code = 'EINVALIDSPEC') {
    super(`${field}: ${message}`, { code, stage: 'config', path: field });
  }
}

/** A feature the spec asks for that this version of berth does not provide yet. */
export class UnsupportedError extends BerthError {
  constructor(message: string, field: string) {
    super(`${field}: ${message}`, { code: 'ENOTSUP', stage: 'config', path: field });
  }
}

/** Setting up the container failed inside the helper (a mount, pivot_root, setuid, ...). */
export class ContainerSetupError extends BerthError {}

/** The container does not exist, already exists, or is in the wrong state for the call. */
export class ContainerStateError extends BerthError {}

/** A native (addon) call failed. */
export class NativeError extends BerthError {}
