/**
 * Errors of the graph drivers.
 * @module
 */
import { BerthError } from '../errors.js';

/** A snapshot operation failed: unknown or existing key (`ENOENT`, `EEXIST`), wrong kind (`EINVALIDKIND`), children present (`EBUSY`), an unusable driver (`ENOTSUP`). `path` names the snapshot or directory. */
export class GraphDriverError extends BerthError {
  constructor(message: string, code: string, key?: string, cause?: unknown) {
    super(key === undefined ? message : `snapshot ${key}: ${message}`, { code, stage: 'graphdriver', path: key, cause });
  }
}
