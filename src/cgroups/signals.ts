/**
 * Signal names to numbers, for the cgroup layer's kill and signal calls.
 * @module
 */
import os from 'node:os';
import { ConfigError } from '../errors.js';

/** `SIGKILL`, `KILL` or 9 → 9; anything else is a ConfigError. */
export function signalNumberOf(signal: NodeJS.Signals | string | number): number {
  if (typeof signal === 'number') {
    if (Number.isInteger(signal) && signal > 0 && signal <= 64) return signal;
  } else {
    const name = (signal.toUpperCase().startsWith('SIG') ? signal.toUpperCase() : `SIG${signal.toUpperCase()}`) as NodeJS.Signals;
    const n = os.constants.signals[name];
    if (n !== undefined) return n;
  }
  throw new ConfigError(`unknown signal ${JSON.stringify(signal)}`, 'signal');
}
