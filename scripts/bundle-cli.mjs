// Bundles each command line (bin/berth, bin/berth-runtime) from dist/ into one ES module,
// dist/cli/<name>.bundle.js, after `tsc`. Node 20 loads ~120 small ES modules noticeably slower
// than one file of the same code (resolution, a file read and a module record each): for
// `berth run` the bundle takes ~50 ms off a ~130 ms start. Packages in node_modules and Node's
// builtins stay outside. The bundle sits as deep under the package as dist/util/, so
// src/util/package-dir.ts finds the package root from either.
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
  await bundle.write({ file: path.join(root, 'dist/cli', `${name}.bundle.js`), format: 'es', sourcemap: true });
  await bundle.close();
}
