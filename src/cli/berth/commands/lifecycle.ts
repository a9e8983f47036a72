/**
 * Container lifecycle commands: `create`, `run`, `start`, `stop`, `kill`, `restart`, `rm`,
 * `pause`, `unpause`.
 * @module
 */
import type { EngineContainer } from '../../../engine/engine-container.js';
import { signalNumber } from '../../../runtime/process.js';
import { flag, str } from '../argv.js';
import type { CliContext, Command } from '../command.js';
import { UsageError } from '../errors.js';
import { statusOfExit } from '../exit-status.js';
import { RUN_OPTIONS, runRequest } from '../run-options.js';
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

/** Waits for a foreground container, passing this process's SIGINT/SIGTERM/SIGHUP on to it (Docker's sig-proxy). */
async function waitForeground(c: EngineContainer): Promise<number> {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;
  const forward = (sig: NodeJS.Signals): void => void c.kill(sig).catch(() => undefined);
  for (const s of signals) process.on(s, forward);
  try {
    return statusOfExit(await c.wait(), signalNumber);
  } finally {
    for (const s of signals) process.off(s, forward);
  }
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
    const c = await (await ctx.engine()).create(req.image, req.options);
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
    await ensureImage(ctx, req.image);
    const engine = await ctx.engine();
    const c = await engine.create(req.image, { ...req.options, stdio: [req.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'] });
    try {
      await c.start();
    } catch (err) {
      await c.remove({ force: true }).catch(() => undefined);
      throw err;
    }
    const status = await waitForeground(c);
    if (req.autoRemove) await c.remove({ force: true });
    return status;
  },
};

/** `berth start`. */
const start: Command = {
  usage: 'start [OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Start one or more stopped containers',
  options: { attach: { short: 'a', type: 'boolean', help: 'Attach STDOUT/STDERR and forward signals' }, interactive: { short: 'i', type: 'boolean', help: "Attach container's STDIN" } },
  async run(ctx, p) {
    return eachContainer(ctx, p.positionals, (c) => c.start());
  },
};

/** `berth stop`. */
const stop: Command = {
  usage: 'stop [OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Stop one or more running containers',
  options: { time: { short: 't', type: 'string', help: 'Seconds to wait before killing the container' }, signal: { short: 's', type: 'string', help: 'Signal to send to the container' } },
  async run(ctx, p) {
    const t = str(p, 'time');
    if (t !== undefined && !/^-?[0-9]+$/.test(t)) throw new UsageError(`invalid --time ${JSON.stringify(t)}: an integer number of seconds`);
    const seconds = t === undefined ? 10 : Number(t);
    return eachContainer(ctx, p.positionals, (c) => stopContainer(c, seconds, str(p, 'signal')));
  },
};

/** Sends the stop signal, waits up to `seconds` (negative: forever), then SIGKILL. */
export async function stopContainer(c: EngineContainer, seconds: number, signal?: string): Promise<void> {
  if ((await c.status()) !== 'running') return;
  await c.kill(signal ?? 'SIGTERM');
  const exited = c.wait().then(() => true);
  const timedOut = seconds < 0 ? new Promise<boolean>(() => undefined) : new Promise<boolean>((r) => setTimeout(() => r(false), seconds * 1000).unref());
  if (!(await Promise.race([exited, timedOut]))) {
    await c.kill('SIGKILL').catch(() => undefined);
    await exited;
  }
}

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
export const lifecycleCommands: Record<string, Command> = { create, run, start, stop, kill, rm, pause: freezeCommand(true), unpause: freezeCommand(false) };
