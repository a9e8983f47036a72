/**
 * `version`, `info` and `inspect`.
 * @module
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { EngineError } from '../../../engine/errors.js';
import { ImageError } from '../../../image/errors.js';
import { hostCgroupLayout } from '../../../runtime/host-facts.js';
import { str } from '../argv.js';
import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { packagePath } from '../../../util/package-dir.js';

/** berth's version, from its package.json. */
export function berthVersion(): string {
  return (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;
}

/** `berth version`. */
const version: Command = {
  usage: 'version',
  summary: 'Show the berth version information',
  options: {},
  async run(ctx) {
    ctx.out(
      [
        'Client: berth',
        ` Version:           ${berthVersion()}`,
        ` Node.js version:   ${process.version}`,
        ` OS/Arch:           ${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
        '',
        'Engine: berth (library, no daemon)',
        ` Version:           ${berthVersion()}`,
        ` Kernel Version:    ${os.release()}`,
        ` OCI runtime:       berth (built in)`,
        '',
      ].join('\n'),
    );
    return 0;
  },
};

/** `berth info`. */
const info: Command = {
  usage: 'info',
  summary: 'Display system-wide information',
  options: {},
  async run(ctx) {
    const engine = await ctx.engine();
    const containers = await engine.containers();
    const states = await Promise.all(containers.map((c) => c.status()));
    const count = (s: string): number => states.filter((x) => x === s).length;
    const layout = hostCgroupLayout();
    ctx.out(
      [
        `Containers: ${containers.length}`,
        ` Running: ${count('running')}`,
        ` Paused: ${count('paused')}`,
        ` Stopped: ${containers.length - count('running') - count('paused')}`,
        `Images: ${(await engine.images.list()).length}`,
        `Server Version: ${berthVersion()}`,
        `Storage Driver: ${engine.driver.name}`,
        `Cgroup Version: ${layout.mode === 'v2' ? '2' : '1'}${layout.mode === 'hybrid' ? ' (hybrid)' : ''}`,
        'Cgroup Driver: cgroupfs',
        `Kernel Version: ${os.release()}`,
        `Operating System: ${osName()}`,
        `Architecture: ${os.machine()}`,
        `CPUs: ${os.cpus().length}`,
        `Total Memory: ${(os.totalmem() / 2 ** 30).toFixed(2)}GiB`,
        `Name: ${os.hostname()}`,
        `Berth Root Dir: ${engine.root}`,
        ...(ctx.settings.registryMirrors.length > 0 ? ['Registry Mirrors:', ...ctx.settings.registryMirrors.map((m) => ` ${m}`)] : []),
        ...(ctx.settings.insecureRegistries.length > 0 ? ['Insecure Registries:', ...ctx.settings.insecureRegistries.map((m) => ` ${m}`)] : []),
        '',
      ].join('\n'),
    );
    return 0;
  },
};

/** PRETTY_NAME of /etc/os-release. */
function osName(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os.type();
  } catch {
    return os.type();
  }
}

/** `berth inspect`: containers first, then images, as Docker resolves names. */
const inspect: Command = {
  usage: 'inspect [OPTIONS] NAME|ID [NAME|ID...]',
  summary: 'Return low-level information on berth objects',
  options: { type: { type: 'string', help: 'Return JSON for specified type (container, image)' }, format: { short: 'f', type: 'string', help: 'Print one field: {{.Path.To.Field}}' } },
  async run(ctx, p) {
    if (p.positionals.length === 0) throw new UsageError('"inspect" requires at least 1 argument');
    const engine = await ctx.engine();
    const type = str(p, 'type');
    if (type !== undefined && type !== 'container' && type !== 'image') throw new UsageError(`invalid --type ${JSON.stringify(type)} (container or image)`);
    const results: unknown[] = [];
    let status = 0;
    for (const name of p.positionals) {
      try {
        if (type !== 'image') {
          try {
            results.push(await (await engine.container(name)).inspect());
            continue;
          } catch (err) {
            if (!(err instanceof EngineError && err.code === 'ENOENT') || type === 'container') throw err;
          }
        }
        results.push(await (await engine.images.get(name)).inspect());
      } catch (err) {
        if (err instanceof ImageError && err.code === 'ENOENT') ctx.err(`Error: No such object: ${name}\n`);
        else ctx.err(`Error: ${(err as Error).message}\n`);
        status = 1;
      }
    }
    const format = str(p, 'format');
    if (format !== undefined) for (const r of results) ctx.out(`${formatField(r, format)}\n`);
    else ctx.out(`${JSON.stringify(results, null, 4)}\n`);
    return status;
  },
};

/** `{{.A.B}}` of a Go template, the one form `inspect -f` is mostly used with. */
function formatField(value: unknown, format: string): string {
  return format.replace(/\{\{\s*(?:json\s+)?\.([\w.]*)\s*\}\}/g, (_all, p: string) => {
    let v: unknown = value;
    for (const key of p.split('.').filter(Boolean)) v = (v as Record<string, unknown> | undefined)?.[key];
    return typeof v === 'string' ? v : JSON.stringify(v);
  });
}

/** The system commands by name. */
export const systemCommands: Record<string, Command> = { version, info, inspect };
