/**
 * Errors of the `berth` command line itself.
 * @module
 */
import { BerthError } from '../../errors.js';

/** A bad command line: unknown flag, missing argument, bad value (exit status 125, like Docker's). */
export class UsageError extends BerthError {
  constructor(message: string) {
    super(message, { code: 'EUSAGE', stage: 'cli' });
  }
}
