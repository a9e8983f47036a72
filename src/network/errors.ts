/**
 * Errors of the network layer.
 * @module
 */
import { BerthError } from '../errors.js';

/**
 * A network operation failed. `code` says why: `EOVERLAP` (a subnet overlaps another network or
 * a host route), `EEXHAUSTED` (no address left in the range, or no free default subnet),
 * `EADDRINUSE` (a host port or an address is taken), `EEXIST` (a network name is taken),
 * `ENOENT` (no such network or endpoint), `EBUSY` (a network still has containers),
 * `EINVAL` (a malformed value), `ENODRIVER` (no such driver), or the errno name of a failed
 * kernel call. `path` names the field or value at fault (`subnet`, `gateway`, `publish[0]`).
 */
export class NetworkError extends BerthError {
  constructor(message: string, code: string, field?: string, cause?: unknown) {
    super(message, { code, stage: 'network', path: field, cause });
  }
}
