/**
 * `berth`: the Docker-like command line, a thin layer over the engine: each command parses its
 * flags as Docker does and calls the library. Errors are one line on stderr and an exit status
 * as Docker's (125 berth's own, 126/127 the command's, else the container's own status).
 * @module
 */
import { BerthError } from '../../errors.js';
import { Engine } from '../../engine/engine.js';
import { parseOptions } from './argv.js';
import { usageText, type CliContext, type Command } from './command.js';
import { archiveCommands } from './commands/archives.js';
import { networkCommands } from './commands/network.js';
import { registryCommands } from './commands/registry.js';
import { containerInfoCommands } from './commands/container-info.js';
import { imageCommands } from './commands/images.js';
import { lifecycleCommands } from './commands/lifecycle.js';
import { berthVersion, systemCommands } from './commands/system.js';
import { UsageError } from './errors.js';
import { EXIT_BERTH, exitStatusOf } from './exit-status.js';
import { readSettings } from './settings.js';

/** Every command by name. */
export const COMMANDS: Record<string, Command> = {
  ...systemCommands,
  ...imageCommands,
  ...lifecycleCommands,
  ...containerInfoCommands,
  ...archiveCommands,
  ...registryCommands,
  ...networkCommands,
};

/** The top-level help. */
function help(): string {
  const names = Object.keys(COMMANDS).sort();
  const width = Math.max(...names.map((n) => n.length)) + 3;
  return [
    'Usage:  berth [OPTIONS] COMMAND',
    '',
    'Run containers from images, without a daemon.',
    '',
    'Global options:',
    '  --root, --data-root, -g DIR   Root of images, containers and volumes (default /var/lib/berth)',
    '  -s, --storage-driver NAME     overlay2, vfs or btrfs (default: detected)',
    '  --dns IP                      DNS server for containers (repeatable)',
    '  --registry-mirror URL         Registry mirror tried before Docker Hub (repeatable)',
    '  --insecure-registry HOST      Registry reached over plain HTTP (repeatable)',
    '  --config FILE                 Settings file with daemon.json keys (default /etc/berth/config.json)',
    '  -D, --debug                   Print stack traces of unexpected errors',
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(width)}${COMMANDS[n]!.summary}`),
    '',
    "Run 'berth COMMAND --help' for more information on a command.",
    '',
  ].join('\n');
}

/** Runs the command line `argv` (without node and script) and resolves to the exit status. */
export async function main(argv: string[]): Promise<number> {
  let debug = false;
  let commandName: string | undefined;
  try {
    const { settings, command, args } = readSettings(argv);
    debug = settings.debug;
    commandName = command;
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      process.stdout.write(help());
      return command === undefined ? 1 : 0;
    }
    if (command === '--version' || command === '-v') {
      process.stdout.write(`berth version ${berthVersion()}\n`);
      return 0;
    }
    const cmd = COMMANDS[command];
    if (cmd === undefined) throw new UsageError(`'${command}' is not a berth command.\nSee 'berth --help'`);
    if (args.includes('--help') && (!cmd.stopAtPositional || args.indexOf('--help') < firstPositional(args))) {
      process.stdout.write(usageText(cmd));
      return 0;
    }
    let engine: Promise<Engine> | undefined;
    const ctx: CliContext = {
      settings,
      engine: () => (engine ??= Engine.open({ root: settings.root, ...(settings.storageDriver === undefined ? {} : { storageDriver: settings.storageDriver }) })),
      out: (t) => process.stdout.write(t),
      err: (t) => process.stderr.write(t),
    };
    return await cmd.run(ctx, parseOptions(args, cmd.options, cmd.stopAtPositional ?? false));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`berth: ${message}\n`);
    if (err instanceof UsageError && commandName !== undefined && commandName in COMMANDS) process.stderr.write(`See 'berth ${commandName} --help'.\n`);
    if (debug && !(err instanceof BerthError) && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return err instanceof BerthError ? exitStatusOf(err) : EXIT_BERTH;
  }
}

/** Index of the first argument that is not an option (a rough cut for `--help` detection). */
function firstPositional(args: readonly string[]): number {
  const i = args.findIndex((a) => !a.startsWith('-'));
  return i < 0 ? args.length : i;
}
