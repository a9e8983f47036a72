/**
 * Errors of the engine.
 * @module
 */
import { BerthError } from '../errors.js';

/** An engine operation failed: no such container (`ENOENT`), a name in use (`EEXIST`), a container in the wrong state (`ESTATE`), a user that does not resolve (`ENOUSER`). `path` names the container or field. */
export class EngineError extends BerthError {
  constructor(message: string, code: string, subject?: string, cause?: unknown) {
    super(message, { code, stage: 'engine', path: subject, cause });
  }
}
