/**
 * Commands that look at or into containers: `ps`, `top`, `stats`, `exec`, `export`, `commit`.
 * @module
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { resolveImageUser } from '../../../engine/image-user.js';
import { flag, list, str } from '../argv.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { statusOfExit } from '../exit-status.js';
import { ago, humanSize, shortId, table, truncatedCommand } from '../format.js';
import { applyChanges } from './images.js';
import { pumpSession } from '../terminal-io.js';

/** `berth ps`. */
const ps: Command = {
  usage: 'ps [OPTIONS]',
  summary: 'List containers',
  options: {
    all: { short: 'a', type: 'boolean', help: 'Show all containers (default shows just running)' },
    quiet: { short: 'q', type: 'boolean', help: 'Only display container IDs' },
    'no-trunc': { type: 'boolean', help: "Don't truncate output" },
  },
  async run(ctx, p) {
    const engine = await ctx.engine();
    const rows: string[][] = [];
    for (const c of (await engine.containers()).reverse()) {
      const d = await c.describe();
      if (!flag(p, 'all') && d.state !== 'running' && d.state !== 'paused' && d.state !== 'restarting') continue;
      const id = flag(p, 'no-trunc') ? c.id : shortId(c.id);
      if (flag(p, 'quiet')) {
        rows.push([id]);
        continue;
      }
      const cmd = c.record.Spec.process?.args ?? [];
      rows.push([id, c.record.ImageRef, flag(p, 'no-trunc') ? `"${cmd.join(' ')}"` : truncatedCommand(cmd), ago(c.record.Created), d.text, (c.record.Options.publish ?? []).join(', '), c.name]);
    }
    if (flag(p, 'quiet')) ctx.out(rows.map((r) => `${r[0]}\n`).join(''));
    else ctx.out(table([['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'], ...rows]));
    return 0;
  },
};

/** `berth top`. */
const top: Command = {
  usage: 'top CONTAINER',
  summary: 'Display the running processes of a container',
  options: {},
  async run(ctx, p) {
    const name = p.positionals[0];
    if (name === undefined) throw new UsageError('"top" requires at least 1 argument');
    const c = await (await ctx.engine()).container(name);
    const rows = [['UID', 'PID', 'PPID', 'CMD']];
    for (const pid of await c.runtime.pids()) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? '';
        const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
        rows.push([uid, String(pid), ppid, cmd]);
      } catch {
        // exited meanwhile
      }
    }
    ctx.out(table(rows));
    return 0;
  },
};

/** `berth stats`. */
const stats: Command = {
  usage: 'stats [OPTIONS] [CONTAINER...]',
  summary: 'Display a live stream of container(s) resource usage statistics',
  options: { 'no-stream': { type: 'boolean', help: 'Disable streaming stats and only pull the first result' } },
  async run(ctx, p) {
    const engine = await ctx.engine();
    const targets = p.positionals.length > 0 ? await Promise.all(p.positionals.map((n) => engine.container(n))) : (await engine.containers()).filter((c) => c.runtime !== undefined);
    const sample = async (): Promise<string> => {
      const rows = [['CONTAINER ID', 'NAME', 'CPU TIME', 'MEM USAGE / LIMIT', 'PIDS']];
      for (const c of targets) {
        if ((await c.status()) !== 'running') continue;
        const s = await c.runtime.stats();
        const limit = s.memory.usage.limit > 0 && s.memory.usage.limit < 2 ** 62 ? humanSize(s.memory.usage.limit) : 'unlimited';
        rows.push([shortId(c.id), c.name, `${(s.cpu.usage.total / 1e9).toFixed(2)}s`, `${humanSize(s.memory.usage.usage)} / ${limit}`, String(s.pids.current)]);
      }
      return table(rows);
    };
    if (flag(p, 'no-stream')) {
      ctx.out(await sample());
      return 0;
    }
    for (;;) {
      ctx.out(`\x1b[2J\x1b[H${await sample()}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  },
};

/** `berth exec`. */
const exec: Command = {
  usage: 'exec [OPTIONS] CONTAINER COMMAND [ARG...]',
  summary: 'Execute a command in a running container',
  options: {
    interactive: { short: 'i', type: 'boolean', help: 'Keep STDIN open even if not attached' },
    tty: { short: 't', type: 'boolean', help: 'Allocate a pseudo-TTY' },
    detach: { short: 'd', type: 'boolean', help: 'Detached mode: run command in the background' },
    env: { short: 'e', type: 'list', help: 'Set environment variables' },
    user: { short: 'u', type: 'string', help: 'Username or UID (format: <name|uid>[:<group|gid>])' },
    workdir: { short: 'w', type: 'string', help: 'Working directory inside the container' },
  },
  stopAtPositional: true,
  async run(ctx, p) {
    const [name, ...args] = p.positionals;
    if (name === undefined || args.length === 0) throw new UsageError('"exec" requires at least 2 arguments');
    const engine = await ctx.engine();
    const c = await engine.container(name);
    if ((await c.status()) !== 'running') throw new UsageError(`container ${c.name} is not running`);
    const userSpec = str(p, 'user');
    const user = userSpec === undefined ? undefined : await resolveImageUser(userSpec, await engine.driver.layerDirs(c.record.Snapshot));
    const tty = flag(p, 'tty') && !flag(p, 'detach');
    if (tty && flag(p, 'interactive') && !process.stdin.isTTY) throw new UsageError('the input device is not a TTY');
    const proc = c.exec({
      args,
      env: [...(c.record.Spec.process?.env ?? []), ...list(p, 'env')],
      ...(str(p, 'workdir') === undefined ? {} : { cwd: str(p, 'workdir') }),
      ...(user === undefined ? {} : { user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids } }),
      ...(tty ? { terminal: true, ...(process.stdout.isTTY ? { consoleSize: { width: process.stdout.columns, height: process.stdout.rows } } : {}) } : {}),
      stdio: flag(p, 'detach') ? 'ignore' : [flag(p, 'interactive') ? 'inherit' : 'ignore', 'inherit', 'inherit'],
    });
    await proc.spawned;
    if (flag(p, 'detach')) return 0;
    const terminal = proc.terminal;
    if (terminal !== null) {
      const exited = Promise.resolve(proc).then((r) => statusOfExit(r));
      const end = await pumpSession(
        { stdin: flag(p, 'interactive') ? terminal : null, stdout: terminal, stderr: null, exited, resize: (cols, rows) => terminal.resize({ cols, rows }), close: () => terminal.destroy() },
        { tty: true, stdin: flag(p, 'interactive') },
      );
      return end.kind === 'exited' ? end.status : 0;
    }
    return statusOfExit(await proc);
  },
};

/** `berth export`. */
const exportCommand: Command = {
  usage: 'export [OPTIONS] CONTAINER',
  summary: "Export a container's filesystem as a tar archive",
  options: { output: { short: 'o', type: 'string', help: 'Write to a file, instead of STDOUT' } },
  async run(ctx, p) {
    const name = p.positionals[0];
    if (name === undefined) throw new UsageError('"export" requires exactly 1 argument');
    const out = str(p, 'output');
    if (out === undefined && process.stdout.isTTY) throw new UsageError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    await pipeline(await (await ctx.engine()).export(name), out === undefined ? process.stdout : createWriteStream(out));
    return 0;
  },
};

/** `berth commit`. */
const commit: Command = {
  usage: 'commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  summary: "Create a new image from a container's changes",
  options: {
    author: { short: 'a', type: 'string', help: 'Author' },
    message: { short: 'm', type: 'string', help: 'Commit message' },
    change: { short: 'c', type: 'list', help: 'Apply Dockerfile instruction to the created image' },
  },
  async run(ctx, p) {
    const [name, ref] = p.positionals;
    if (name === undefined) throw new UsageError('"commit" requires at least 1 argument');
    const changes = applyChanges(list(p, 'change'));
    const img = await (await ctx.engine()).commit(name, {
      ...(ref === undefined ? {} : { reference: ref }),
      ...(str(p, 'author') === undefined ? {} : { author: str(p, 'author') }),
      ...(str(p, 'message') === undefined ? {} : { comment: str(p, 'message') }),
      ...(Object.keys(changes).length > 0 ? { changes } : {}),
    });
    ctx.out(`${img.id}\n`);
    return 0;
  },
};

/** The container information commands by name. */
export const containerInfoCommands: Record<string, Command> = { ps, top, stats, exec, export: exportCommand, commit };
