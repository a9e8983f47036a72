/**
 * `berth-runtime`: a runc-compatible OCI runtime command line, a thin shell over
 * {@link Container} so that the library's behaviour and the command's are the same thing.
 * @module
 */
import { promises as fs, appendFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BerthError, ConfigError } from '../errors.js';
import { Container } from '../runtime/container.js';
import { eventsCommand, UPDATE_OPTIONS, updateResources } from './cgroup-commands.js';
import { SystemdCgroupError, systemdRunning } from '../cgroups/index.js';
import { features } from '../runtime/features.js';
import { makeRaw, restoreTerminal, type TerminalStream } from '../native/terminal.js';
import { defaultSpec } from '../runtime/spec.js';
import type { Process } from '../runtime/spec.js';

/** Global options given before the command. */
interface GlobalOptions {
  root: string | undefined;
  log: string | undefined;
  logFormat: string;
}

const USAGE = `usage: berth-runtime [--root DIR] [--log FILE] [--log-format text|json] COMMAND [ARGS]

commands:
  create [--bundle DIR] [--pid-file FILE] [--no-pivot] [--console-socket SOCK] ID
                                                         create a container (its process waits for start)
  start ID                                               run the user's program of a created container
  run [--bundle DIR] [--pid-file FILE] [--detach] ID         create, start, wait and delete
  state ID                                               print the OCI state JSON
  kill [--all] ID [SIGNAL]                               signal the container (default SIGTERM)
  delete [--force] ID                                    delete a stopped (or, with --force, any) container
  exec [--cwd DIR] [--env K=V]... [--user UID[:GID]] [--process FILE] [--detach] [--pid-file FILE] ID [ARGS...]
  list [--quiet] [--format table|json]                   list containers
  ps [--format table|json] ID                            list the container's host pids
  pause ID / resume ID                                   freeze / thaw every process of the container
  update [-r resources.json|-] [--memory B] [--memory-reservation B] [--memory-swap B] [--cpu-shares N]
         [--cpu-quota N] [--cpu-period N] [--cpuset-cpus L] [--cpuset-mems L] [--pids-limit N] [--blkio-weight N] ID
  events [--stats] [--interval 5s] ID                    print cgroup stats (one object with --stats) and OOM events
  features                                               print the OCI features JSON
  spec [--bundle DIR]                                    write a default config.json`;

/** Thrown for a bad command line; printed with the usage. */
class UsageError extends Error {}

/** Runs the command line `argv` (without node and script) and returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const { globals, command, rest } = splitGlobals(argv);
  try {
    return await dispatch(command, rest, globals);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (globals.log) {
      const line = globals.logFormat === 'json'
        ? JSON.stringify({ level: 'error', msg: message, time: new Date().toISOString() })
        : `time="${new Date().toISOString()}" level=error msg="${message}"`;
      try { appendFileSync(globals.log, `${line}\n`); } catch { /* the log is best effort */ }
    }
    process.stderr.write(`berth-runtime: ${message}\n`);
    if (err instanceof UsageError) process.stderr.write(`${USAGE}\n`);
    else if (!(err instanceof BerthError) && process.env.BERTH_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

/** Separates the global options (before the command) from the command and its arguments. */
function splitGlobals(argv: string[]): { globals: GlobalOptions; command: string | undefined; rest: string[] } {
  const globals: GlobalOptions = { root: undefined, log: undefined, logFormat: 'text' };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => inline ?? argv[++i] ?? '';
    if (flag === '--root') globals.root = value();
    else if (flag === '--log') globals.log = value();
    else if (flag === '--log-format') globals.logFormat = value();
    else if (flag === '--debug' || flag === '--systemd-cgroup=false') continue;
    else if (flag === '--systemd-cgroup') throw new SystemdCgroupError('--systemd-cgroup', systemdRunning());
    else break;
  }
  return { globals, command: argv[i], rest: argv.slice(i + 1) };
}

/** Parses a command's own options strictly. */
function parse<const O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The one container id a command takes. */
function oneId(positionals: string[], command: string): string {
  if (positionals.length < 1) throw new UsageError(`${command}: missing container id`);
  return positionals[0];
}

async function dispatch(command: string | undefined, args: string[], g: GlobalOptions): Promise<number> {
  const root = g.root;
  switch (command) {
    case 'create': {
      const { values, positionals } = parse(args, {
        bundle: { type: 'string', short: 'b' }, 'pid-file': { type: 'string' }, 'no-pivot': { type: 'boolean' },
        'console-socket': { type: 'string' }, 'no-new-keyring': { type: 'boolean' }, 'preserve-fds': { type: 'string' },
      });
      const consoleSocket = values['console-socket'] as string | undefined;
      const c = await Container.create({
        id: oneId(positionals, 'create'), bundle: values.bundle as string | undefined, root, stdio: 'inherit',
        pidFile: values['pid-file'] as string | undefined, noPivot: Boolean(values['no-pivot']),
        ...(consoleSocket ? { consoleSocket: path.resolve(consoleSocket) } : {}),
      });
      if (c.config.process?.terminal && !consoleSocket) {
        await c.delete({ force: true });
        throw new ConfigError('cannot allocate a terminal when the container outlives this command: use --console-socket', '--console-socket');
      }
      return 0;
    }
    case 'start': {
      const { positionals } = parse(args, {});
      await (await Container.load(oneId(positionals, 'start'), { root })).start();
      return 0;
    }
    case 'run': {
      const { values, positionals } = parse(args, {
        bundle: { type: 'string', short: 'b' }, 'pid-file': { type: 'string' }, detach: { type: 'boolean', short: 'd' },
        'no-pivot': { type: 'boolean' }, 'console-socket': { type: 'string' }, 'no-new-keyring': { type: 'boolean' },
      });
      const consoleSocket = values['console-socket'] as string | undefined;
      const c = await Container.create({
        id: oneId(positionals, 'run'), bundle: values.bundle as string | undefined, root, stdio: 'inherit',
        pidFile: values['pid-file'] as string | undefined, noPivot: Boolean(values['no-pivot']),
        ...(consoleSocket ? { consoleSocket: path.resolve(consoleSocket) } : {}),
      });
      const tty = c.config.process?.terminal && !consoleSocket ? c.process.terminal : null;
      if (tty && values.detach) {
        await c.delete({ force: true });
        throw new ConfigError('cannot allocate a terminal when the container outlives this command: use --console-socket', '--console-socket');
      }
      await c.start();
      if (values.detach) return 0;
      const unproxy = tty ? proxyTerminal(tty) : null;
      const result = await c.wait();
      await unproxy?.();
      await c.delete({ force: true });
      return result.exitCode ?? 255;
    }
    case 'state': {
      const { positionals } = parse(args, {});
      const state = await (await Container.load(oneId(positionals, 'state'), { root })).state();
      process.stdout.write(`${JSON.stringify(state, null, 2)}\n`);
      return 0;
    }
    case 'kill': {
      const { values, positionals } = parse(args, { all: { type: 'boolean', short: 'a' }, signal: { type: 'string', short: 's' } });
      const c = await Container.load(oneId(positionals, 'kill'), { root });
      await c.kill(positionals[1] ?? (values.signal as string | undefined) ?? 'SIGTERM', { all: Boolean(values.all) });
      return 0;
    }
    case 'delete': {
      const { values, positionals } = parse(args, { force: { type: 'boolean', short: 'f' } });
      await (await Container.load(oneId(positionals, 'delete'), { root })).delete({ force: Boolean(values.force) });
      return 0;
    }
    case 'exec':
      return execCommand(args, root);
    case 'list': {
      const { values } = parse(args, { quiet: { type: 'boolean', short: 'q' }, format: { type: 'string', short: 'f' } });
      const rows = await Promise.all((await Container.list({ root })).map(async (c) => ({ state: await c.state(), c })));
      if (values.quiet) {
        for (const r of rows) process.stdout.write(`${r.state.id}\n`);
      } else if (values.format === 'json') {
        process.stdout.write(`${JSON.stringify(rows.map((r) => ({ ...r.state, pid: r.state.pid ?? 0 })))}\n`);
      } else {
        process.stdout.write(table([['ID', 'PID', 'STATUS', 'BUNDLE'], ...rows.map((r) => [r.state.id, String(r.state.pid ?? 0), r.state.status, r.state.bundle])]));
      }
      return 0;
    }
    case 'ps': {
      const { values, positionals } = parse(args, { format: { type: 'string', short: 'f' } });
      const pids = await (await Container.load(oneId(positionals, 'ps'), { root })).pids();
      process.stdout.write(values.format === 'json' ? `${JSON.stringify(pids)}\n` : table([['PID'], ...pids.map((p) => [String(p)])]));
      return 0;
    }
    case 'pause':
    case 'resume': {
      const { positionals } = parse(args, {});
      const c = await Container.load(oneId(positionals, command), { root });
      await (command === 'pause' ? c.pause() : c.resume());
      return 0;
    }
    case 'update': {
      const { values, positionals } = parse(args, UPDATE_OPTIONS);
      const c = await Container.load(oneId(positionals, 'update'), { root });
      await c.update(await updateResources(values));
      return 0;
    }
    case 'events': {
      const { values, positionals } = parse(args, { stats: { type: 'boolean' }, interval: { type: 'string' } });
      const c = await Container.load(oneId(positionals, 'events'), { root });
      return eventsCommand(c, { stats: Boolean(values.stats), interval: values.interval as string | undefined });
    }
    case 'features':
      parse(args, {});
      process.stdout.write(`${JSON.stringify(features(), null, 2)}\n`);
      return 0;
    case 'spec': {
      const { values } = parse(args, { bundle: { type: 'string', short: 'b' }, rootless: { type: 'boolean' } });
      const file = path.join(path.resolve((values.bundle as string | undefined) ?? '.'), 'config.json');
      await fs.writeFile(file, `${JSON.stringify(defaultSpec(), null, 2)}\n`, { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
        throw new ConfigError(`${file}: ${err.code === 'EEXIST' ? 'already exists' : err.message}`, 'spec', err.code ?? 'EIO');
      });
      return 0;
    }
    case undefined:
      throw new UsageError('missing command');
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

/** `exec`: runs a process in a container; the status is the process's. */
async function execCommand(args: string[], root: string | undefined): Promise<number> {
  // Options end at the container id: what follows is the program's own command line.
  const withValue = new Set(['--cwd', '--env', '-e', '--user', '-u', '--process', '-p', '--pid-file', '--console-socket']);
  let end = 0;
  while (end < args.length && args[end].startsWith('-') && args[end] !== '--') end += withValue.has(args[end]) ? 2 : 1;
  const program = args.slice(end + (args[end] === '--' ? 1 : 0) + 1);
  const { values, positionals } = parse(args.slice(0, end + (args[end] === '--' ? 2 : 1)).filter((a) => a !== '--'), {
    cwd: { type: 'string' }, env: { type: 'string', short: 'e', multiple: true }, user: { type: 'string', short: 'u' },
    process: { type: 'string', short: 'p' }, detach: { type: 'boolean', short: 'd' }, 'pid-file': { type: 'string' },
    tty: { type: 'boolean', short: 't' }, 'console-socket': { type: 'string' },
  });
  const id = oneId(positionals, 'exec');
  let proc: Partial<Process> = {};
  if (values.process) {
    try {
      proc = JSON.parse(await fs.readFile(values.process as string, 'utf8')) as Process;
    } catch (err) {
      throw new ConfigError(`cannot read process file: ${(err as Error).message}`, '--process');
    }
  }
  const consoleSocket = values['console-socket'] as string | undefined;
  const terminal = Boolean(values.tty) || proc.terminal === true;
  if (terminal && values.detach && !consoleSocket) {
    throw new ConfigError('cannot allocate a terminal when the process outlives this command: use --console-socket', '--console-socket');
  }
  const argv = program.length > 0 ? program : proc.args;
  if (!argv || argv.length === 0) throw new UsageError('exec: missing the program to run');
  const c = await Container.load(id, { root });
  const base = proc.env ?? c.config.process?.env ?? [];
  const p = c.exec({
    args: argv,
    process: proc,
    env: values.env ? [...base, ...(values.env as string[])] : undefined,
    cwd: values.cwd as string | undefined,
    user: values.user ? parseUser(values.user as string) : undefined,
    stdio: 'inherit',
    terminal,
    ...(terminal && !proc.consoleSize && process.stdout.isTTY ? { consoleSize: { width: process.stdout.columns, height: process.stdout.rows } } : {}),
    ...(consoleSocket ? { consoleSocket: path.resolve(consoleSocket) } : {}),
  });
  await p.spawned;
  if (values['pid-file']) await fs.writeFile(values['pid-file'] as string, `${p.pid}`);
  if (values.detach) return 0;
  const unproxy = p.terminal ? proxyTerminal(p.terminal) : null;
  const result = await p.wait();
  await unproxy?.();
  return result.exitCode ?? 255;
}

/**
 * Joins a container's terminal to ours: our stdin (raw, when it is a terminal) to the master,
 * the master to our stdout, our window size kept in step. Returns the undo, which waits for the
 * last output.
 */
function proxyTerminal(t: TerminalStream): () => Promise<void> {
  const stdin = process.stdin;
  let saved: Buffer | null = null;
  if (stdin.isTTY) {
    try { saved = makeRaw(0); } catch { saved = null; }
  }
  const resize = (): void => { if (process.stdout.isTTY) t.resize({ cols: process.stdout.columns, rows: process.stdout.rows }); };
  resize();
  process.stdout.on('resize', resize);
  const onData = (d: Buffer): void => { t.write(d); };
  stdin.on('data', onData);
  const drained = new Promise<void>((resolve) => { t.on('end', resolve); t.on('close', resolve); });
  t.pipe(process.stdout, { end: false });
  return async () => {
    await drained;
    stdin.off('data', onData);
    stdin.pause();
    process.stdout.off('resize', resize);
    if (saved) restoreTerminal(0, saved);
  };
}

/** `UID[:GID]` → a user. */
function parseUser(text: string): { uid: number; gid: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  if (!m) throw new ConfigError(`expected UID[:GID] with numbers, got ${JSON.stringify(text)}`, '--user');
  return { uid: Number(m[1]), gid: Number(m[2] ?? 0) };
}

/** Left-aligned columns. */
function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] + 3))).join('')).join('\n') + '\n';
}
