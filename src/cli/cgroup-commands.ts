/**
 * The cgroup commands of `berth-runtime` as runc has them: `update` (flags or `-r
 * resources.json`) and `events` (`--stats` prints one stats object; without it, stats every
 * interval and OOM notices as JSON lines until the container stops).
 * @module
 */
import { promises as fs } from 'node:fs';
import { toRuncStats, type LinuxResources } from '../cgroups/index.js';
import { ConfigError } from '../errors.js';
import type { Container } from '../runtime/container.js';

/** The options of `update`. */
export const UPDATE_OPTIONS = {
  resources: { type: 'string', short: 'r' },
  memory: { type: 'string', short: 'm' },
  'memory-reservation': { type: 'string' },
  'memory-swap': { type: 'string' },
  'cpu-shares': { type: 'string' },
  'cpu-quota': { type: 'string' },
  'cpu-period': { type: 'string' },
  'cpu-rt-period': { type: 'string' },
  'cpu-rt-runtime': { type: 'string' },
  'cpu-idle': { type: 'string' },
  'cpuset-cpus': { type: 'string' },
  'cpuset-mems': { type: 'string' },
  'pids-limit': { type: 'string' },
  'blkio-weight': { type: 'string' },
} as const;

/** `64m`, `1G`, `512k`, `1048576` or `-1` → bytes. */
export function parseBytes(text: string, flag: string): number {
  const m = /^(-1|\d+)([kmgt]?)b?$/i.exec(text.trim());
  if (!m) throw new ConfigError(`expected a size in bytes (with an optional k, m, g or t suffix), got ${JSON.stringify(text)}`, flag);
  const n = Number(m[1]);
  const exp = ['', 'k', 'm', 'g', 't'].indexOf(m[2]!.toLowerCase());
  return n < 0 ? n : n * 1024 ** exp;
}

function parseInteger(text: string, flag: string): number {
  if (!/^-?\d+$/.test(text.trim())) throw new ConfigError(`expected an integer, got ${JSON.stringify(text)}`, flag);
  return Number(text);
}

/** The resources an `update` command line asks for (`-r FILE` or `-r -` for stdin, then flags on top). */
export async function updateResources(values: Partial<Record<keyof typeof UPDATE_OPTIONS, string | boolean | undefined>>): Promise<LinuxResources> {
  let r: LinuxResources = {};
  const file = values.resources;
  if (typeof file === 'string') {
    try {
      r = JSON.parse(file === '-' ? await readStdin() : await fs.readFile(file, 'utf8')) as LinuxResources;
    } catch (err) {
      throw new ConfigError(`cannot read resources ${file}: ${(err as Error).message}`, '--resources');
    }
  }
  const str = (k: keyof typeof UPDATE_OPTIONS): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const memory = { ...r.memory };
  const cpu = { ...r.cpu };
  const setIf = <T extends object>(target: T, key: keyof T, flag: keyof typeof UPDATE_OPTIONS, parse: (t: string, f: string) => unknown): void => {
    const v = str(flag);
    if (v !== undefined) (target as Record<keyof T, unknown>)[key] = parse(v, `--${flag}`);
  };
  setIf(memory, 'limit', 'memory', parseBytes);
  setIf(memory, 'reservation', 'memory-reservation', parseBytes);
  setIf(memory, 'swap', 'memory-swap', parseBytes);
  setIf(cpu, 'shares', 'cpu-shares', parseInteger);
  setIf(cpu, 'quota', 'cpu-quota', parseInteger);
  setIf(cpu, 'period', 'cpu-period', parseInteger);
  setIf(cpu, 'realtimePeriod', 'cpu-rt-period', parseInteger);
  setIf(cpu, 'realtimeRuntime', 'cpu-rt-runtime', parseInteger);
  setIf(cpu, 'idle', 'cpu-idle', parseInteger);
  setIf(cpu, 'cpus', 'cpuset-cpus', (t) => t);
  setIf(cpu, 'mems', 'cpuset-mems', (t) => t);
  if (Object.keys(memory).length > 0) r.memory = memory;
  if (Object.keys(cpu).length > 0) r.cpu = cpu;
  const pids = str('pids-limit');
  if (pids !== undefined) r.pids = { limit: parseInteger(pids, '--pids-limit') };
  const weight = str('blkio-weight');
  if (weight !== undefined) r.blockIO = { ...r.blockIO, weight: parseInteger(weight, '--blkio-weight') };
  return r;
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += chunk.toString();
  return text;
}

/** `5s`, `500ms`, `1m` → milliseconds. */
function parseInterval(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new ConfigError(`expected a duration like 5s, got ${JSON.stringify(text)}`, '--interval');
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
}

/** `events`: one stats object with `--stats`; else a stream of stats and OOM events. */
export async function eventsCommand(c: Container, options: { stats: boolean; interval?: string }): Promise<number> {
  const print = (type: string, data: unknown): void => { process.stdout.write(`${JSON.stringify({ type, id: c.id, data })}\n`); };
  if (options.stats) {
    print('stats', toRuncStats(await c.stats()));
    return 0;
  }
  const every = parseInterval(options.interval ?? '5s');
  const watch = c.cgroup?.watchOom(() => print('oom', {})) ?? null;
  try {
    while ((await c.status()) !== 'stopped') {
      print('stats', toRuncStats(await c.stats()));
      await new Promise((r) => setTimeout(r, every));
    }
  } finally {
    watch?.close();
  }
  return 0;
}
