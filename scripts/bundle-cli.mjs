// Bundles each command line (bin/berth, bin/berth-runtime) from dist/ into one CommonJS file,
// dist/cli/<name>.bundle.cjs, after `tsc`. Node 20 loads ~120 small ES modules noticeably slower
// than one file of the same code, and an ES module cannot use a V8 code cache there: bin/ runs
// these bundles through bin/run-bundle.js, which keeps one (see there). Together that takes
// `berth run` from ~130 ms of start-up to ~60 on top of Node's own. Packages in node_modules and
// Node's builtins stay outside. The bundle sits as deep under the package as dist/util/, so
// src/util/package-dir.ts finds the package root from either.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rollup } from 'rollup';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entries = { berth: 'dist/cli/berth/main.js', 'berth-runtime': 'dist/cli/runtime.js' };

for (const [name, entry] of Object.entries(entries)) {
  const bundle = await rollup({
    input: path.join(root, entry),
    external: (id) => !id.startsWith('.') && !path.isAbsolute(id),
    onwarn: (w) => {
      throw new Error(`bundling ${entry}: ${w.message}`);
    },
  });
  const file = path.join(root, 'dist/cli', `${name}.bundle.cjs`);
  // import() of a builtin becomes require(): a vm.Script has no dynamic-import hook.
  await bundle.write({ file, format: 'cjs', sourcemap: true, dynamicImportInCjs: false, exports: 'named' });
  await bundle.close();
  await rm(`${file}.cache`, { recursive: true, force: true }); // code caches of the old source
}
