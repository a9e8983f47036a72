/**
 * `save` and `load`: `docker save` / `docker load` tarballs.
 * @module
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { loadArchive } from '../../../image/archive/load.js';
import { saveArchive } from '../../../image/archive/save.js';
import { flag, str } from '../argv.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { shortId } from '../format.js';
import { ProgressView } from '../progress.js';

/** `berth save`. */
const save: Command = {
  usage: 'save [OPTIONS] IMAGE [IMAGE...]',
  summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  options: { output: { short: 'o', type: 'string', help: 'Write to a file, instead of STDOUT' } },
  async run(ctx, p) {
    if (p.positionals.length === 0) throw new UsageError('"save" requires at least 1 argument');
    const out = str(p, 'output');
    if (out === undefined && process.stdout.isTTY) throw new UsageError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    const engine = await ctx.engine();
    const target = out === undefined ? process.stdout : createWriteStream(out);
    await saveArchive(engine.images, p.positionals, target);
    return 0;
  },
};

/** `berth load`. */
const load: Command = {
  usage: 'load [OPTIONS]',
  summary: 'Load an image from a tar archive or STDIN',
  options: { input: { short: 'i', type: 'string', help: 'Read from tar archive file, instead of STDIN' }, quiet: { short: 'q', type: 'boolean', help: 'Suppress the load output' } },
  async run(ctx, p) {
    const input = str(p, 'input');
    if (input === undefined && process.stdin.isTTY) throw new UsageError('requested load from stdin, but stdin is empty');
    const engine = await ctx.engine();
    const view = new ProgressView(process.stdout);
    const quiet = flag(p, 'quiet');
    const r = await loadArchive(engine.images, input ?? createReadStream('/dev/stdin'), {
      onProgress: (e) => {
        if (quiet || e.stage !== 'layer') return;
        view.update(shortId(e.diffID), { status: 'Loading layer', current: e.index + 1, total: e.count });
      },
    });
    if (!quiet) {
      for (const ref of r.references) view.line(`Loaded image: ${ref}`);
      for (const img of r.images) if (!r.references.length) view.line(`Loaded image ID: ${img.id}`);
    }
    return 0;
  },
};

/** The archive commands by name. */
export const archiveCommands: Record<string, Command> = { save, load };
