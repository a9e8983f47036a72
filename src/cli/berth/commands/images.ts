/**
 * Image commands: `images`, `rmi`, `tag`, `import`, `history`.
 * @module
 */
import { createReadStream } from 'node:fs';
import { parseReference } from '../../../image/reference.js';
import { flag, list, str } from '../argv.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { ago, humanSize, shortId, table } from '../format.js';

/** `berth images`. */
const images: Command = {
  usage: 'images [OPTIONS] [REPOSITORY[:TAG]]',
  summary: 'List images',
  options: {
    all: { short: 'a', type: 'boolean', help: 'Show all images' },
    quiet: { short: 'q', type: 'boolean', help: 'Only show image IDs' },
    'no-trunc': { type: 'boolean', help: "Don't truncate output" },
    digests: { type: 'boolean', help: 'Show digests' },
  },
  async run(ctx, p) {
    const engine = await ctx.engine();
    const filter = p.positionals[0];
    const rows: string[][] = [];
    const ids: string[] = [];
    for (const img of await engine.images.list()) {
      const info = await img.inspect();
      const id = flag(p, 'no-trunc') ? img.id : shortId(img.id);
      const refs = (await engine.images.referencesTo(img.id)).filter((r) => r.digest === undefined);
      const names = refs.length > 0 ? refs.map((r) => ({ repo: familiarRepo(r.domain, r.path), tag: r.tag ?? '<none>' })) : [{ repo: '<none>', tag: '<none>' }];
      for (const n of names) {
        if (filter !== undefined && !matches(filter, n.repo, n.tag)) continue;
        if (!ids.includes(id)) ids.push(id);
        rows.push([n.repo, n.tag, ...(flag(p, 'digests') ? [info.RepoDigests[0]?.split('@')[1] ?? '<none>'] : []), id, ago(info.Created), humanSize(info.Size)]);
      }
    }
    if (flag(p, 'quiet')) {
      ctx.out(ids.map((i) => `${i}\n`).join(''));
      return 0;
    }
    ctx.out(table([['REPOSITORY', 'TAG', ...(flag(p, 'digests') ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'], ...rows]));
    return 0;
  },
};

/** The repository as `docker images` prints it (`busybox`, `user/app`, `localhost:5000/x`). */
function familiarRepo(domain: string, repoPath: string): string {
  if (domain !== 'docker.io') return `${domain}/${repoPath}`;
  return repoPath.startsWith('library/') ? repoPath.slice('library/'.length) : repoPath;
}

/** Whether `repo:tag` matches the `images` filter argument. */
function matches(filter: string, repo: string, tag: string): boolean {
  const [fRepo, fTag] = filter.includes(':') ? [filter.slice(0, filter.lastIndexOf(':')), filter.slice(filter.lastIndexOf(':') + 1)] : [filter, undefined];
  return repo === fRepo && (fTag === undefined || fTag === tag);
}

/** `berth rmi`. */
const rmi: Command = {
  usage: 'rmi [OPTIONS] IMAGE [IMAGE...]',
  summary: 'Remove one or more images',
  options: { force: { short: 'f', type: 'boolean', help: 'Force removal of the image' }, 'no-prune': { type: 'boolean', help: 'Do not delete untagged parents' } },
  async run(ctx, p) {
    if (p.positionals.length === 0) throw new UsageError('"rmi" requires at least 1 argument');
    const engine = await ctx.engine();
    let status = 0;
    for (const name of p.positionals) {
      try {
        const r = await engine.images.remove(name, { force: flag(p, 'force') });
        for (const u of r.untagged) ctx.out(`Untagged: ${u}\n`);
        for (const d of r.deleted) ctx.out(`Deleted: ${d}\n`);
      } catch (err) {
        ctx.err(`Error response from daemon: ${(err as Error).message}\n`);
        status = 1;
      }
    }
    return status;
  },
};

/** `berth tag`. */
const tag: Command = {
  usage: 'tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  options: {},
  async run(ctx, p) {
    if (p.positionals.length !== 2) throw new UsageError('"tag" requires exactly 2 arguments');
    await (await ctx.engine()).images.tag(p.positionals[0]!, p.positionals[1]!);
    return 0;
  },
};

/** `berth import`. */
const importCommand: Command = {
  usage: 'import [OPTIONS] file|- [REPOSITORY[:TAG]]',
  summary: 'Import the contents from a tarball to create a filesystem image',
  options: { change: { short: 'c', type: 'list', help: 'Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, WORKDIR, USER)' }, message: { short: 'm', type: 'string', help: 'Set commit message for imported image' } },
  async run(ctx, p) {
    const [file, ref] = p.positionals;
    if (file === undefined) throw new UsageError('"import" requires at least 1 argument');
    if (ref !== undefined) parseReference(ref);
    const engine = await ctx.engine();
    const source = file === '-' ? process.stdin : createReadStream(file);
    const message = str(p, 'message');
    const img = await engine.import(source, { ...(ref === undefined ? {} : { reference: ref }), ...(message === undefined ? {} : { comment: message }), config: applyChanges(list(p, 'change')) });
    ctx.out(`${img.id}\n`);
    return 0;
  },
};

/** Dockerfile instructions given to `import --change`, as an image run config. */
export function applyChanges(changes: readonly string[]): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  for (const c of changes) {
    const m = /^\s*(\w+)\s+(.*)$/s.exec(c);
    if (m === null) throw new UsageError(`invalid --change ${JSON.stringify(c)}`);
    const [, instr, rest] = m as unknown as [string, string, string];
    const value = (): string[] => (rest.trim().startsWith('[') ? (JSON.parse(rest) as string[]) : ['/bin/sh', '-c', rest]);
    switch (instr.toUpperCase()) {
      case 'CMD': config.Cmd = value(); break;
      case 'ENTRYPOINT': config.Entrypoint = value(); break;
      case 'ENV': config.Env = [...((config.Env as string[] | undefined) ?? []), rest.includes('=') ? rest.trim() : rest.trim().replace(/\s+/, '=')]; break;
      case 'WORKDIR': config.WorkingDir = rest.trim(); break;
      case 'USER': config.User = rest.trim(); break;
      default: throw new UsageError(`--change: ${instr} is not supported (CMD, ENTRYPOINT, ENV, WORKDIR, USER)`);
    }
  }
  return config;
}

/** `berth history`. */
const history: Command = {
  usage: 'history IMAGE',
  summary: 'Show the history of an image',
  options: { 'no-trunc': { type: 'boolean', help: "Don't truncate output" } },
  async run(ctx, p) {
    const name = p.positionals[0];
    if (name === undefined) throw new UsageError('"history" requires exactly 1 argument');
    const info = await (await (await ctx.engine()).images.get(name)).inspect();
    const rows = [...info.History].reverse().map((h) => [ago(h.created), (h.created_by ?? '').slice(0, flag(p, 'no-trunc') ? undefined : 45), h.comment ?? '']);
    ctx.out(table([['CREATED', 'CREATED BY', 'COMMENT'], ...rows]));
    return 0;
  },
};

/** The image commands by name. */
export const imageCommands: Record<string, Command> = { images, rmi, tag, import: importCommand, history };
