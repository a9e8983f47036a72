/**
 * Loading on first use. A CommonJS package or Node builtin that only some operations need
 * (tar, compression, HTTP, UDP) is required when one of them first runs, not when the module
 * naming it is imported: `berth run` of a local image then never loads what `berth pull` and
 * `berth save` use, which is about a third of the CLI's start-up.
 * @module
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** A function returning the module `id`, required on its first call (`lazyRequire<typeof import('tar-stream')>('tar-stream')`). */
export function lazyRequire<T>(id: string): () => T {
  let mod: T | undefined;
  return () => (mod ??= require(id) as T);
}
