// Runs the `berth` command line from tests, its output into files (containers it starts may
// inherit it and outlive the command).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, promises as fs } from 'node:fs';
import path from 'node:path';

/** `bin/berth`. */
export const BERTH_BIN = path.resolve('bin/berth');

/** What one run of the command gave. */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * A runner of `berth <leading args> ...args`; `setup()` is read at each call (the test's
 * scratch directory for the output files, the leading arguments, extra environment).
 */
export function berthRunner(setup: () => { dir: string; args: string[]; env?: NodeJS.ProcessEnv }): (...args: string[]) => Promise<CommandResult> {
  let calls = 0;
  return async (...args) => {
    const { dir, args: leading, env } = setup();
    const out = path.join(dir, `out-${calls}`);
    const err = path.join(dir, `err-${calls++}`);
    const [o, e] = [openSync(out, 'w'), openSync(err, 'w')];
    try {
      const child = spawn(BERTH_BIN, [...leading, ...args], { stdio: ['ignore', o, e], env: { ...process.env, ...env } });
      const [code] = (await once(child, 'exit')) as [number | null];
      return { code, stdout: await fs.readFile(out, 'utf8'), stderr: await fs.readFile(err, 'utf8') };
    } finally {
      closeSync(o);
      closeSync(e);
    }
  };
}
