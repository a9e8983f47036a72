/**
 * Where berth is installed, for the files it finds beside its code (the native build, the
 * scripts its monitor runs, package.json). Resolved from this file's own place, which is as deep
 * under the package in src/ (tests), in dist/ and in the CLI's bundle (dist/cli/*.bundle.js);
 * everything else asks here instead of resolving paths from its own module.
 * @module
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root directory (with a trailing separator). */
export const PACKAGE_DIR = fileURLToPath(new URL('../../', import.meta.url));

/** A path under the package's root. */
export function packagePath(...parts: string[]): string {
  return path.join(PACKAGE_DIR, ...parts);
}
