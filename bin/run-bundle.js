// Runs a bundled command line (dist/cli/NAME.bundle.cjs, made by scripts/bundle-cli.mjs) with a
// V8 code cache: compiling the ~800 KB bundle and the functions a command calls is most of a
// CLI's start-up after Node's own. The cache lives beside the bundle, one file per command
// (dist/cli/NAME.bundle.cjs.cache/COMMAND), written after the first successful run (status 0)
// of that command that finds none, or one V8 rejects (another Node, another bundle): atomically,
// and not at all where the package is read-only. V8 checks a cache against the source and its own version and flags,
// and compiles afresh when it does not match, so a cache can make a run slower, never different.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');

/**
 * Runs `dist/cli/<name>.bundle.cjs`'s main(argv) and sets the exit status. `valueFlags` are the
 * global options that take a value, to find the command (a wrong guess only costs speed).
 */
module.exports = function runBundle(name, valueFlags) {
  const file = path.join(__dirname, '..', 'dist', 'cli', `${name}.bundle.cjs`);
  const argv = process.argv.slice(2);
  const command = argv.find((a, i) => !a.startsWith('-') && !(i > 0 && valueFlags.includes(argv[i - 1]))) ?? '-';
  const cacheFile = path.join(`${file}.cache`, /^[a-z][a-z0-9-]*$/.test(command) ? command : '-');
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    // none yet
  }
  const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file, cachedData });
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
  if (cachedData === undefined || script.cachedDataRejected) {
    process.once('beforeExit', () => {
      if (process.exitCode !== 0) return; // a typo is no command worth a cache
      try {
        fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
        const temp = `${cacheFile}.${process.pid}.tmp`;
        fs.writeFileSync(temp, script.createCachedData());
        fs.renameSync(temp, cacheFile);
      } catch {
        // a read-only install: no cache, the same behaviour
      }
    });
  }
  mod.exports.main(argv).then((status) => { process.exitCode = status; }, (err) => {
    process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 125;
  });
};
