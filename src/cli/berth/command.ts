/**
 * What a CLI command is, and the context it runs in: the settings, the engine (opened on first
 * use, so `berth version` needs no root), and the output streams.
 * @module
 */
import type { Engine } from '../../engine/engine.js';
import type { OptionSpecs, ParsedArgs } from './argv.js';
import type { Settings } from './settings.js';

/** What every command gets. */
export interface CliContext {
  /** Global settings. */
  settings: Settings;
  /** The engine of the root, opened once on first use. */
  engine(): Promise<Engine>;
  /** Writes to standard output. */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
}

/** One `berth` command. */
export interface Command {
  /** Usage after `berth ` (`run [OPTIONS] IMAGE [COMMAND] [ARG...]`). */
  usage: string;
  /** One line saying what it does. */
  summary: string;
  /** Its options. */
  options: OptionSpecs;
  /** Options end at the first positional (commands that run another command). */
  stopAtPositional?: boolean;
  /** Runs it; resolves to the exit status. */
  run(ctx: CliContext, args: ParsedArgs): Promise<number>;
}

/** The usage text of a command. */
export function usageText(c: Command): string {
  const lines = [`Usage:  berth ${c.usage}`, '', c.summary];
  const opts = Object.entries(c.options);
  if (opts.length > 0) {
    lines.push('', 'Options:');
    for (const [long, spec] of opts) {
      const flagText = `${spec.short ? `-${spec.short}, ` : '    '}--${long}${spec.type === 'boolean' ? '' : ` ${spec.type === 'list' ? 'list' : 'string'}`}`;
      lines.push(`  ${flagText.padEnd(32)}${spec.help ?? ''}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
