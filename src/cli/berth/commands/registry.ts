/**
 * Registry commands: `pull`, `push`, `search`, `login`, `logout`.
 * @module
 */
import { readFileSync } from 'node:fs';
import { pull as enginePull, push as enginePush, search as engineSearch } from '../../../engine/registry.js';
import { familiarString, normalizeReference } from '../../../image/reference.js';
import { login as registryLogin, logout as registryLogout } from '../../../registry/login.js';
import { flag, str } from '../argv.js';
import type { CliContext, Command } from '../command.js';
import { UsageError } from '../errors.js';
import { table } from '../format.js';
import { ProgressView } from '../progress.js';
import { registryOptions } from '../registry-options.js';

const PULL_STATUS: Record<string, string> = {
  waiting: 'Waiting',
  exists: 'Already exists',
  downloading: 'Downloading',
  downloaded: 'Download complete',
  extracting: 'Extracting',
  done: 'Pull complete',
};

/** Pulls `name` with progress on stdout, as `docker pull` prints it. */
export async function pullWithProgress(ctx: CliContext, name: string, options: { platform?: string; quiet?: boolean; stream?: NodeJS.WritableStream & { isTTY?: boolean } } = {}): Promise<void> {
  const engine = await ctx.engine();
  const ref = normalizeReference(name);
  const view = new ProgressView(options.stream ?? process.stdout);
  if (!options.quiet) view.line(`${ref.tag ?? ref.digest ?? 'latest'}: Pulling from ${ref.domain === 'docker.io' ? ref.path : `${ref.domain}/${ref.path}`}`);
  const r = await enginePull(engine, name, {
    registry: registryOptions(ctx.settings),
    ...(options.platform === undefined ? {} : { platform: options.platform }),
    onProgress: (e) => {
      if (options.quiet || e.type !== 'layer') return;
      const status = PULL_STATUS[e.state] ?? e.state;
      view.update(e.digest.slice(7, 19), e.state === 'downloading' ? { status, current: e.current, total: e.total } : { status });
    },
  });
  if (options.quiet) {
    ctx.out(`${r.reference}\n`);
    return;
  }
  view.line(`Digest: ${r.manifestDigest}`);
  view.line(`Status: Downloaded newer image for ${familiarString(normalizeReference(r.reference))}`);
  view.line(r.reference);
}

/** `berth pull`. */
const pull: Command = {
  usage: 'pull [OPTIONS] NAME[:TAG|@DIGEST]',
  summary: 'Download an image from a registry',
  options: { platform: { type: 'string', help: 'Set platform if server is multi-platform capable' }, quiet: { short: 'q', type: 'boolean', help: 'Suppress verbose output' } },
  async run(ctx, p) {
    const name = p.positionals[0];
    if (name === undefined) throw new UsageError('"pull" requires exactly 1 argument');
    const platform = str(p, 'platform');
    await pullWithProgress(ctx, name, { ...(platform === undefined ? {} : { platform }), quiet: flag(p, 'quiet') });
    return 0;
  },
};

/** `berth push`. */
const push: Command = {
  usage: 'push [OPTIONS] NAME[:TAG]',
  summary: 'Upload an image to a registry',
  options: { quiet: { short: 'q', type: 'boolean', help: 'Suppress verbose output' } },
  async run(ctx, p) {
    const name = p.positionals[0];
    if (name === undefined) throw new UsageError('"push" requires exactly 1 argument');
    const ref = normalizeReference(name);
    const view = new ProgressView(process.stdout);
    const quiet = flag(p, 'quiet');
    if (!quiet) view.line(`The push refers to repository [${ref.domain}/${ref.path}]`);
    const r = await enginePush(await ctx.engine(), name, {
      registry: registryOptions(ctx.settings),
      onProgress: (e) => {
        if (quiet || e.type !== 'blob') return;
        const status = e.state === 'uploading' ? 'Pushing' : e.state === 'waiting' ? 'Waiting' : e.state === 'preparing' ? 'Preparing' : e.state === 'exists' ? 'Layer already exists' : e.state === 'mounted' ? 'Mounted from another repository' : 'Pushed';
        view.update(e.digest === undefined ? `layer ${e.index}` : e.digest.slice(7, 19), e.state === 'uploading' ? { status, current: e.current, total: e.total } : { status });
      },
    });
    if (!quiet) view.line(`${ref.tag ?? 'latest'}: digest: ${r.digest} size: ${r.size}`);
    return 0;
  },
};

/** `berth search`. */
const search: Command = {
  usage: 'search [OPTIONS] TERM',
  summary: 'Search a registry for images (TERM may start with a registry host: 127.0.0.1:5000/app)',
  options: { limit: { type: 'string', help: 'Max number of search results' }, 'no-trunc': { type: 'boolean', help: "Don't truncate output" } },
  async run(ctx, p) {
    const term = p.positionals[0];
    if (term === undefined) throw new UsageError('"search" requires exactly 1 argument');
    const limitText = str(p, 'limit');
    if (limitText !== undefined && !/^[1-9][0-9]*$/.test(limitText)) throw new UsageError(`invalid --limit ${JSON.stringify(limitText)}: a positive integer`);
    const results = await engineSearch(term, { registry: registryOptions(ctx.settings), ...(limitText === undefined ? {} : { limit: Number(limitText) }) });
    const cut = (s: string): string => (flag(p, 'no-trunc') || s.length <= 45 ? s : `${s.slice(0, 44)}…`);
    ctx.out(table([['NAME', 'DESCRIPTION', 'STARS', 'OFFICIAL'], ...results.map((r) => [r.name, cut(r.description), String(r.star_count), r.is_official ? '[OK]' : ''])]));
    return 0;
  },
};

/** `berth login`. */
const login: Command = {
  usage: 'login [OPTIONS] [SERVER]',
  summary: 'Log in to a registry (credentials are kept in the docker config file)',
  options: {
    username: { short: 'u', type: 'string', help: 'Username' },
    password: { short: 'p', type: 'string', help: 'Password' },
    'password-stdin': { type: 'boolean', help: 'Take the password from stdin' },
  },
  async run(ctx, p) {
    const server = p.positionals[0] ?? 'docker.io';
    const username = str(p, 'username');
    if (username === undefined) throw new UsageError('login needs --username (interactive prompts are not supported)');
    let password = str(p, 'password');
    if (flag(p, 'password-stdin')) {
      if (password !== undefined) throw new UsageError('--password and --password-stdin are mutually exclusive');
      password = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
    }
    if (password === undefined) throw new UsageError('login needs --password or --password-stdin');
    if (str(p, 'password') !== undefined) ctx.err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    await registryLogin(server, { username, password }, { client: registryOptions(ctx.settings) });
    ctx.out('Login Succeeded\n');
    return 0;
  },
};

/** `berth logout`. */
const logout: Command = {
  usage: 'logout [SERVER]',
  summary: 'Log out from a registry',
  options: {},
  async run(ctx, p) {
    const server = p.positionals[0] ?? 'docker.io';
    const removed = await registryLogout(server);
    ctx.out(removed ? `Removing login credentials for ${server}\n` : `Not logged in to ${server}\n`);
    return 0;
  },
};

/** The registry commands by name. */
export const registryCommands: Record<string, Command> = { pull, push, search, login, logout };
