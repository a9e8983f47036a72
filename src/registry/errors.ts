/**
 * Errors of the registry client. Every failure talking to a registry is a {@link RegistryError}
 * with a stable `code` and the registry, repository and digest at fault.
 * @module
 */
import { BerthError } from '../errors.js';

/** What a {@link RegistryError} names besides its message. */
export interface RegistryErrorDetails {
  /** The registry host (`127.0.0.1:5000`, `registry-1.docker.io`). */
  registry?: string;
  /** The repository path (`library/busybox`). */
  repository?: string;
  /** The manifest or blob digest at fault. */
  digest?: string;
  /** The HTTP status the registry answered, when it answered. */
  status?: number;
  /** The Distribution error code of the answer (`MANIFEST_UNKNOWN`, `DENIED`, ...). */
  registryCode?: string;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * A registry operation failed. `code` says why:
 * - `ENOTFOUND` the registry's host name does not resolve; `ECONNREFUSED`, `ECONNRESET`,
 *   `ETIMEDOUT`, `ETLS` (certificate not trusted, or TLS spoken to a plain-HTTP server) — the
 *   connection failed;
 * - `EUNAUTHORIZED` (no or wrong credentials), `EDENIED` (authenticated but not allowed);
 * - `ENOENT` no such repository, tag, manifest or blob;
 * - `EDIGEST` content does not match its digest (nothing of it is kept); `EINVALIDDIGEST` a
 *   manifest names a malformed or unsupported digest; `ESIZE` a blob is not the size its
 *   descriptor says;
 * - `ETOOLARGE` a manifest, config or answer larger than the client accepts;
 * - `EUNSUPPORTEDMEDIATYPE` a manifest, config or layer of a media type berth does not read;
 *   `EINVALIDMANIFEST` a manifest or config that does not parse or does not agree with itself;
 * - `ENOPLATFORM` an index lists no image for the platform asked for;
 * - `EINSECURE` plain HTTP would be needed for a registry not named insecure;
 * - `ETOOMANYREQUESTS` the registry kept answering 429; `EHTTP` any other unexpected answer;
 * - `EABORTED` the caller's AbortSignal fired.
 */
export class RegistryError extends BerthError {
  /** The registry host. */
  readonly registry: string | undefined;
  /** The repository path. */
  readonly repository: string | undefined;
  /** The digest at fault. */
  readonly digest: string | undefined;
  /** The HTTP status, when the registry answered. */
  readonly status: number | undefined;
  /** The Distribution error code of the answer. */
  readonly registryCode: string | undefined;

  constructor(message: string, code: string, details: RegistryErrorDetails = {}) {
    const where = [details.registry, details.repository].filter((x) => x !== undefined).join('/');
    super(message, { code, stage: 'registry', path: details.digest ?? (where === '' ? undefined : where), cause: details.cause });
    this.registry = details.registry;
    this.repository = details.repository;
    this.digest = details.digest;
    this.status = details.status;
    this.registryCode = details.registryCode;
  }
}

/** Whether `err` is an abort (the caller's signal, or an error that wraps it). */
export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted === true) return true;
  return err instanceof RegistryError && err.code === 'EABORTED';
}

/** Throws RegistryError `EABORTED` when `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, details: RegistryErrorDetails = {}): void {
  if (signal?.aborted === true) throw new RegistryError('operation aborted', 'EABORTED', { ...details, cause: signal.reason });
}
