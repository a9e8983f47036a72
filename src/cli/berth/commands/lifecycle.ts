/**
 * Container lifecycle commands: `create`, `run`, `start`, `stop`, `kill`, `restart`, `rm`,
 * `pause`, `unpause`.
 * @module
 */
import type { EngineContainer } from '../../../engine/engine-container.js';
import type { MonitorAttachOptions } from '../../../runtime/monitor.js';
import { existsSync } from 'node:fs';
import { signalNumber } from '../../../runtime/process.js';
import { flag, str } from '../argv.js';
import type { CliContext, Command } from '../command.js';
import { UsageError } from '../errors.js';
import { statusOfExit } from '../exit-status.js';
import { RUN_OPTIONS, runRequest, type RunRequest } from '../run-options.js';
import type { CreateContainerOptions } from '../../../engine/engine.js';
import { pumpSession } from '../terminal-io.js';
import { waitMonitorGone } from '../../../engine/detached.js';
import { ImageError } from '../../../image/errors.js';
import { familiarString, isImageIdLike, normalizeReference } from '../../../image/reference.js';
import { pullWithProgress } from './registry.js';

/** Runs `fn` on each named container, printing each name on success (as Docker does); status 1 if any failed. */
async function eachContainer(ctx: CliContext, names: readonly string[], fn: (c: EngineContainer) => Promise<void>): Promise<number> {
  if (names.length === 0) throw new UsageError('requires at least 1 argument (a container)');
  const engine = await ctx.engine();
  let status = 0;
  for (const name of names) {
    try {
      await fn(await engine.container(name));
      ctx.out(`${name}\n`);
    } catch (err) {
      ctx.err(`Error response from daemon: ${(err as Error).message}\n`);
      status = 1;
    }
  }
  return status;
}

/** Makes sure the image is here, pulling it as `docker run` does when it is not. */
async function ensureImage(ctx: CliContext, image: string): Promise<void> {
  const engine = await ctx.engine();
  try {
    await engine.images.get(image);
  } catch (err) {
    if (!(err instanceof ImageError && err.code === 'ENOENT') || isImageIdLike(image)) throw err;
    ctx.err(`Unable to find image '${familiarString(normalizeReference(image))}' locally\n`);
    await pullWithProgress(ctx, image, { stream: process.stderr });
  }
}

/**
 * Runs an attached session to a container until it exits (status), is detached from (0), or is
 * lost (125). With `removes` (`run --rm`), this process removes the container after its exit,
 * which its monitor leaves to it while the session is open (see {@link MonitorAttachOptions.removes}).
 */
async function attached(c: EngineContainer, opts: { tty: boolean; stdin: boolean; detachKeys?: string; start?: boolean; removes?: boolean }): Promise<number> {
  const session = await c.attach({ stdin: opts.stdin, stdout: true, stderr: true, removes: opts.removes === true });
  try {
    if (opts.start === true) await c.start();
    const end = await pumpSession(
      { stdin: session.stdin, stdout: session.stdout, stderr: session.stderr, exited: session.exited, resize: (cols, rows) => session.resize(cols, rows), close: () => session.close() },
      { tty: opts.tty, stdin: opts.stdin, ...(opts.detachKeys === undefined ? {} : { detachKeys: opts.detachKeys }), onSignal: (sig) => void c.kill(sig).catch(() => undefined) },
    );
    if (end.kind === 'detached') return 0;
    const status = end.kind === 'exited' ? end.status : statusOfExit(await c.wait());
    if (opts.removes === true) await removeAfterRun(c, session);
    return status;
  } finally {
    session.close();
  }
}

/** Removes a `run --rm` container after its exit; if that fails, leaves it to its monitor's cleanup (run once the session closes) and reports the error only if that fails too. */
async function removeAfterRun(c: EngineContainer, session: { close(): void }): Promise<void> {
  try {
    await c.remove({ force: true });
  } catch (err) {
    session.close();
    await waitMonitorGone(c.dir);
    if (existsSync(c.dir)) throw err;
  }
}

/** The engine options of `run`/`create`: every container runs under a monitor (logs, exit status, restarts, --rm). */
function createOptions(req: RunRequest): CreateContainerOptions {
  return {
    ...req.options,
    detach: true,
    tty: req.tty,
    interactive: req.interactive,
    autoRemove: req.autoRemove,
    ...(req.restart === undefined ? {} : { restart: req.restart }),
  };
}

/** The terminal size of this process's stdout, for a container's console. */
function consoleSize(): { cols: number; rows: number } | undefined {
  return process.stdout.isTTY ? { cols: process.stdout.columns, rows: process.stdout.rows } : undefined;
}

/** `berth create`. */
const create: Command = {
  usage: 'create [OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Create a new container',
  options: RUN_OPTIONS,
  stopAtPositional: true,
  async run(ctx, p) {
    const req = runRequest(p, ctx.settings.dns);
    await ensureImage(ctx, req.image);
    const c = await (await ctx.engine()).create(req.image, createOptions(req));
    ctx.out(`${c.id}\n`);
    return 0;
  },
};

/** `berth run`. */
const run: Command = {
  usage: 'run [OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Create and run a new container from an image',
  options: RUN_OPTIONS,
  stopAtPositional: true,
  async run(ctx, p) {
    const req = runRequest(p, ctx.settings.dns);
    if (req.tty && req.interactive && !req.detach && !process.stdin.isTTY) throw new UsageError('the input device is not a TTY');
    await ensureImage(ctx, req.image);
    const engine = await ctx.engine();
    const size = consoleSize();
    const c = await engine.create(req.image, { ...createOptions(req), ...(req.tty && size !== undefined ? { consoleSize: size } : {}) });
    if (req.detach) {
      await c.start();
      ctx.out(`${c.id}\n`);
      return 0;
    }
    return attached(c, { tty: req.tty, stdin: req.interactive, start: true, removes: req.autoRemove, ...(str(p, 'detach-keys') === undefined ? {} : { detachKeys: str(p, 'detach-keys') }) });
  },
};

/** `berth start`. */
const start: Command = {
  usage: 'start [OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Start one or more stopped containers',
  options: {
    attach: { short: 'a', type: 'boolean', help: 'Attach STDOUT/STDERR and forward signals' },
    interactive: { short: 'i', type: 'boolean', help: "Attach container's STDIN" },
    'detach-keys': { type: 'string', help: 'Override the key sequence for detaching a container' },
  },
  async run(ctx, p) {
    if (flag(p, 'attach') || flag(p, 'interactive')) {
      if (p.positionals.length !== 1) throw new UsageError('you cannot start and attach multiple containers at once');
      const c = await (await ctx.engine()).container(p.positionals[0]!);
      const keys = str(p, 'detach-keys');
      return attached(c, { tty: c.record.Options.tty === true, stdin: flag(p, 'interactive'), start: true, ...(keys === undefined ? {} : { detachKeys: keys }) });
    }
    return eachContainer(ctx, p.positionals, (c) => c.start());
  },
};

/** `berth attach`. */
const attach: Command = {
  usage: 'attach [OPTIONS] CONTAINER',
  summary: "Attach local standard input, output, and error streams to a running container",
  options: {
    'no-stdin': { type: 'boolean', help: 'Do not attach STDIN' },
    'detach-keys': { type: 'string', help: 'Override the key sequence for detaching a container' },
  },
  async run(ctx, p) {
    const name = p.positionals[0];
    if (name === undefined) throw new UsageError('"attach" requires exactly 1 argument');
    const c = await (await ctx.engine()).container(name);
    if ((await c.status()) !== 'running') throw new UsageError(`you cannot attach to a stopped container, start it first`);
    const o = c.record.Options;
    const keys = str(p, 'detach-keys');
    return attached(c, { tty: o.tty === true, stdin: o.interactive === true && !flag(p, 'no-stdin'), ...(keys === undefined ? {} : { detachKeys: keys }) });
  },
};

/** `berth logs`. */
const logs: Command = {
  usage: 'logs [OPTIONS] CONTAINER',
  summary: 'Fetch the logs of a container',
  options: {
    follow: { short: 'f', type: 'boolean', help: 'Follow log output' },
    tail: { short: 'n', type: 'string', help: 'Number of lines to show from the end of the logs (default "all")' },
    since: { type: 'string', help: 'Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)' },
    until: { type: 'string', help: 'Show logs before a timestamp or relative' },
    timestamps: { short: 't', type: 'boolean', help: 'Show timestamps' },
  },
  async run(ctx, p) {
    const name = p.positionals[0];
    if (name === undefined) throw new UsageError('"logs" requires exactly 1 argument');
    const c = await (await ctx.engine()).container(name);
    const tail = str(p, 'tail');
    if (tail !== undefined && tail !== 'all' && !/^[0-9]+$/.test(tail)) throw new UsageError(`invalid --tail ${JSON.stringify(tail)}: a number or "all"`);
    const since = str(p, 'since');
    const until = str(p, 'until');
    for await (const e of c.logs({
      follow: flag(p, 'follow'),
      ...(tail === undefined || tail === 'all' ? {} : { tail: Number(tail) }),
      ...(since === undefined ? {} : { since: relativeTime(since) }),
      ...(until === undefined ? {} : { until: relativeTime(until) }),
    })) {
      const text = flag(p, 'timestamps') ? `${e.time} ${e.log}` : e.log;
      if (e.stream === 'stderr') ctx.err(text);
      else ctx.out(text);
    }
    return 0;
  },
};

/** `42m`, `3h`, `10s` before now as a Date; anything else as given (RFC 3339 or Unix seconds). */
function relativeTime(text: string): Date | string {
  const m = /^([0-9]+(?:\.[0-9]+)?)(s|m|h)$/.exec(text);
  if (m === null) return text;
  const ms = Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'];
  return new Date(Date.now() - ms);
}

/** `berth stop`. */
const stop: Command = {
  usage: 'stop [OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Stop one or more running containers',
  options: { time: { short: 't', type: 'string', help: 'Seconds to wait before killing the container' }, signal: { short: 's', type: 'string', help: 'Signal to send to the container' } },
  async run(ctx, p) {
    const t = str(p, 'time');
    if (t !== undefined && !/^-?[0-9]+$/.test(t)) throw new UsageError(`invalid --time ${JSON.stringify(t)}: an integer number of seconds`);
    const sig = str(p, 'signal');
    return eachContainer(ctx, p.positionals, (c) => c.stop({ ...(t === undefined ? {} : { timeout: Number(t) }), ...(sig === undefined ? {} : { signal: sig as NodeJS.Signals }) }));
  },
};

/** `berth restart`. */
const restart: Command = {
  usage: 'restart [OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Restart one or more containers',
  options: { time: { short: 't', type: 'string', help: 'Seconds to wait before killing the container' } },
  async run(ctx, p) {
    const t = str(p, 'time');
    if (t !== undefined && !/^-?[0-9]+$/.test(t)) throw new UsageError(`invalid --time ${JSON.stringify(t)}: an integer number of seconds`);
    return eachContainer(ctx, p.positionals, (c) => c.restart(t === undefined ? {} : { timeout: Number(t) }));
  },
};

/** `berth kill`. */
const kill: Command = {
  usage: 'kill [OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Kill one or more running containers',
  options: { signal: { short: 's', type: 'string', help: 'Signal to send to the container (default KILL)' } },
  async run(ctx, p) {
    const sig = str(p, 'signal') ?? 'SIGKILL';
    const name = /^[0-9]+$/.test(sig) ? Number(sig) : sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`;
    signalNumber(name as NodeJS.Signals);
    return eachContainer(ctx, p.positionals, async (c) => {
      if ((await c.status()) !== 'running') throw new UsageError(`cannot kill container ${c.name}: it is not running`);
      await c.kill(name as NodeJS.Signals);
    });
  },
};

/** `berth rm`. */
const rm: Command = {
  usage: 'rm [OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Remove one or more containers',
  options: { force: { short: 'f', type: 'boolean', help: 'Force the removal of a running container (uses SIGKILL)' }, volumes: { short: 'v', type: 'boolean', help: 'Remove anonymous volumes associated with the container' } },
  async run(ctx, p) {
    return eachContainer(ctx, p.positionals, async (c) => {
      await c.remove({ force: flag(p, 'force') });
      if (flag(p, 'volumes')) {
        const engine = await ctx.engine();
        for (const m of c.record.Options.mounts ?? []) if (m.type === 'volume' && m.source.startsWith('anon-')) await engine.volumes.remove(m.source);
      }
    });
  },
};

/** `berth pause` / `berth unpause`. */
function freezeCommand(pause: boolean): Command {
  return {
    usage: `${pause ? 'pause' : 'unpause'} CONTAINER [CONTAINER...]`,
    summary: pause ? 'Pause all processes within one or more containers' : 'Unpause all processes within one or more containers',
    options: {},
    async run(ctx, p) {
      return eachContainer(ctx, p.positionals, (c) => (pause ? c.runtime.pause() : c.runtime.resume()));
    },
  };
}

/** The lifecycle commands by name. */
export const lifecycleCommands: Record<string, Command> = { create, run, start, attach, logs, stop, restart, kill, rm, pause: freezeCommand(true), unpause: freezeCommand(false) };
