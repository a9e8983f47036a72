/**
 * Exit statuses as Docker's: the container's own status when it ran; 125 when berth itself
 * failed (bad flags, no such image, a setup error); 126 when the command could not be invoked
 * (not executable); 127 when it was not found.
 * @module
 */
import { BerthError } from '../../errors.js';
import { signalNumber } from '../../runtime/process.js';

/** berth itself failed. */
export const EXIT_BERTH = 125;
/** The command was found but could not be invoked. */
export const EXIT_CANNOT_INVOKE = 126;
/** The command was not found. */
export const EXIT_NOT_FOUND = 127;

/** The exit status for an error. */
export function exitStatusOf(err: unknown): number {
  if (err instanceof BerthError && err.stage === 'executable') return err.code === 'ENOENT' ? EXIT_NOT_FOUND : EXIT_CANNOT_INVOKE;
  return EXIT_BERTH;
}

/** A container's exit as a shell status: its code, or 128 + the signal number. */
export function statusOfExit(r: { exitCode: number | null; signal: NodeJS.Signals | null }): number {
  if (r.exitCode !== null) return r.exitCode;
  if (r.signal !== null) return 128 + signalNumber(r.signal);
  return 0;
}
