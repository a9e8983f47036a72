/**
 * Docker-style command-line options: short flags that cluster (`-it`, `-dit`), values attached
 * or separate (`-eK=V`, `-e K=V`, `--name=x`, `--name x`), repeatable options, and for
 * commands such as `run` and `exec` the options end at the first positional (the image or
 * container), so that the command's own flags (`sh -c ...`) are left alone.
 * @module
 */
import { UsageError } from './errors.js';

/** One option a command accepts. */
export interface OptionSpec {
  /** The one-letter form, without `-`. */
  short?: string;
  /** `boolean` flags take no value; `string` options take one; `list` options may repeat. */
  type: 'boolean' | 'string' | 'list';
  /** Help text. */
  help?: string;
}

/** The options of a command by long name (without `--`). */
export type OptionSpecs = Record<string, OptionSpec>;

/** Parsed options and positionals. */
export interface ParsedArgs {
  /** Booleans, strings and lists by long name. */
  values: Record<string, boolean | string | string[] | undefined>;
  /** Positionals, and everything after the first one when parsing stops there. */
  positionals: string[];
}

/** Parses `args` against `specs`; with `stopAtPositional`, everything from the first positional on is positional. */
export function parseOptions(args: readonly string[], specs: OptionSpecs, stopAtPositional = false): ParsedArgs {
  const values: ParsedArgs['values'] = {};
  const positionals: string[] = [];
  const byShort = new Map(Object.entries(specs).filter(([, s]) => s.short !== undefined).map(([name, s]) => [s.short!, name]));
  const set = (name: string, value: string | boolean): void => {
    const spec = specs[name]!;
    if (spec.type === 'list') values[name] = [...((values[name] as string[] | undefined) ?? []), String(value)];
    else values[name] = value;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const spec = specs[name];
      if (spec === undefined) throw new UsageError(`unknown flag: --${name}`);
      if (spec.type === 'boolean') {
        if (eq < 0) set(name, true);
        else if (a.slice(eq + 1) === 'true' || a.slice(eq + 1) === 'false') set(name, a.slice(eq + 1) === 'true');
        else throw new UsageError(`invalid value for --${name}: ${a.slice(eq + 1)} (true or false)`);
      } else if (eq >= 0) set(name, a.slice(eq + 1));
      else if (i + 1 < args.length) set(name, args[++i]!);
      else throw new UsageError(`flag needs an argument: --${name}`);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const letter = a[j]!;
        const name = byShort.get(letter);
        if (name === undefined) throw new UsageError(`unknown shorthand flag: '${letter}' in ${a}`);
        if (specs[name]!.type === 'boolean') {
          set(name, true);
          continue;
        }
        const rest = a.slice(j + 1);
        if (rest !== '') set(name, rest.startsWith('=') ? rest.slice(1) : rest);
        else if (i + 1 < args.length) set(name, args[++i]!);
        else throw new UsageError(`flag needs an argument: '${letter}' in ${a}`);
        break;
      }
      continue;
    }
    if (stopAtPositional) {
      positionals.push(...args.slice(i));
      break;
    }
    positionals.push(a);
  }
  return { values, positionals };
}

/** A string option's value. */
export function str(p: ParsedArgs, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A boolean option's value. */
export function flag(p: ParsedArgs, name: string): boolean {
  return p.values[name] === true;
}

/** A list option's values. */
export function list(p: ParsedArgs, name: string): string[] {
  const v = p.values[name];
  return Array.isArray(v) ? v : [];
}
