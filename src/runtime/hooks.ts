/**
 * OCI lifecycle hooks run from the runtime's side: each gets the container's state JSON on
 * stdin, runs with its own args/env, and must end (within its timeout) with status 0.
 * @module
 */
import { spawn } from 'node:child_process';
import { BerthError } from '../errors.js';
import type { Hook, State } from './spec.js';

/** A hook that failed to run, timed out, or exited non-zero. */
export class HookError extends BerthError {}

/**
 * Runs `hooks` one after another. By default the first failure throws a HookError naming the
 * hook; with `warnOnly` (poststart, poststop: the spec says the lifecycle goes on) each failure
 * is emitted as a process warning and the remaining hooks still run.
 */
export async function runHooks(kind: string, hooks: Hook[] | undefined, state: State, options: { warnOnly?: boolean } = {}): Promise<void> {
  for (const [i, hook] of (hooks ?? []).entries()) {
    try {
      await runHook(`hooks.${kind}[${i}]`, kind, hook, state);
    } catch (err) {
      if (!options.warnOnly) throw err;
      process.emitWarning((err as Error).message, { code: (err as HookError).code, type: 'HookWarning' });
    }
  }
}

/** Runs one hook with the state on its stdin. */
function runHook(field: string, kind: string, hook: Hook, state: State): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const [argv0, ...rest] = hook.args && hook.args.length > 0 ? hook.args : [hook.path];
    const child = spawn(hook.path, rest, {
      argv0,
      env: Object.fromEntries((hook.env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
      stdio: ['pipe', 'ignore', 'pipe'],
      timeout: hook.timeout !== undefined ? hook.timeout * 1000 : undefined,
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.stdin.on('error', () => undefined); // a hook need not read its stdin
    child.stdin.end(JSON.stringify(state));
    child.on('error', (err: NodeJS.ErrnoException) => reject(new HookError(
      `${err.code ?? 'EHOOK'}: ${field} (${hook.path}) could not run: ${err.message}`,
      { code: err.code ?? 'EHOOK', stage: kind, path: hook.path, cause: err })));
    child.on('exit', (code, signal) => {
      if (code === 0) return resolve();
      const why = signal ? `was killed by ${signal}${hook.timeout !== undefined ? ` (timeout ${hook.timeout}s)` : ''}` : `exited with ${code}`;
      reject(new HookError(`EHOOK: ${field} (${hook.path}) ${why}${stderr ? `: ${stderr.trim()}` : ''}`,
        { code: 'EHOOK', stage: kind, path: hook.path }));
    });
  });
}
