/**
 * The options of `berth run` and `berth create`, parsed as Docker parses them, and turned into
 * the engine's {@link CreateContainerOptions}.
 * @module
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { CreateContainerOptions } from '../../engine/engine.js';
import type { MountOption } from '../../engine/host-config.js';
import type { LinuxSeccomp } from '../../runtime/spec.js';
import { flag, list, str, type OptionSpecs, type ParsedArgs } from './argv.js';
import { UsageError } from './errors.js';

/** The flags `run` and `create` take. */
export const RUN_OPTIONS: OptionSpecs = {
  interactive: { short: 'i', type: 'boolean', help: 'Keep STDIN open even if not attached' },
  tty: { short: 't', type: 'boolean', help: 'Allocate a pseudo-TTY' },
  detach: { short: 'd', type: 'boolean', help: 'Run container in background and print container ID' },
  name: { type: 'string', help: 'Assign a name to the container' },
  rm: { type: 'boolean', help: 'Automatically remove the container when it exits' },
  env: { short: 'e', type: 'list', help: 'Set environment variables' },
  'env-file': { type: 'list', help: 'Read in a file of environment variables' },
  volume: { short: 'v', type: 'list', help: 'Bind mount a volume' },
  mount: { type: 'list', help: 'Attach a filesystem mount to the container' },
  publish: { short: 'p', type: 'list', help: "Publish a container's port(s) to the host" },
  workdir: { short: 'w', type: 'string', help: 'Working directory inside the container' },
  user: { short: 'u', type: 'string', help: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  entrypoint: { type: 'string', help: 'Overwrite the default ENTRYPOINT of the image' },
  hostname: { short: 'h', type: 'string', help: 'Container host name' },
  network: { type: 'string', help: 'Connect a container to a network' },
  dns: { type: 'list', help: 'Set custom DNS servers' },
  memory: { short: 'm', type: 'string', help: 'Memory limit' },
  cpus: { type: 'string', help: 'Number of CPUs' },
  'pids-limit': { type: 'string', help: 'Tune container pids limit (set -1 for unlimited)' },
  'read-only': { type: 'boolean', help: "Mount the container's root filesystem as read only" },
  'cap-add': { type: 'list', help: 'Add Linux capabilities' },
  'cap-drop': { type: 'list', help: 'Drop Linux capabilities' },
  'security-opt': { type: 'list', help: 'Security options: seccomp=unconfined, seccomp=PROFILE.json (an OCI linux.seccomp object), no-new-privileges[=true|false]' },
  init: { type: 'boolean', help: 'Run an init inside the container that forwards signals and reaps processes' },
  restart: { type: 'string', help: 'Restart policy to apply when a container exits' },
  label: { short: 'l', type: 'list', help: 'Set meta data on a container' },
  'detach-keys': { type: 'string', help: 'Override the key sequence for detaching a container' },
};

/** What `run`/`create` were asked for. */
export interface RunRequest {
  /** The image. */
  image: string;
  /** Engine options. */
  options: CreateContainerOptions;
  /** -d */
  detach: boolean;
  /** -i */
  interactive: boolean;
  /** -t */
  tty: boolean;
  /** --rm */
  autoRemove: boolean;
  /** --restart */
  restart: string | undefined;
}

/** Parses a size: bytes, or a number with b, k, m, g (binary units), as Docker's `--memory`. */
export function parseSize(text: string, field: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([bkmgt]?)b?$/i.exec(text.trim());
  if (m === null) throw new UsageError(`invalid ${field} ${JSON.stringify(text)}: a number with an optional unit b, k, m or g`);
  const mult: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
  return Math.round(Number(m[1]) * mult[m[2]!.toLowerCase()]!);
}

/** `KEY=VALUE` lines of an env file (comments and blank lines skipped; a bare KEY takes this process's value). */
export function readEnvFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`open ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
  }
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    if (line.includes('=')) out.push(line);
    else if (process.env[line.trim()] !== undefined) out.push(`${line.trim()}=${process.env[line.trim()]}`);
  }
  return out;
}

/** One `-v` value: `/host:/ctr[:ro]`, `name:/ctr[:ro]`, or `/ctr` (an anonymous volume). */
export function parseVolume(text: string): MountOption {
  const parts = text.split(':');
  if (parts.length === 1) return { type: 'volume', source: `anon-${randomBytes(16).toString('hex')}`, target: parts[0]! };
  if (parts.length > 3) throw new UsageError(`invalid volume specification: ${JSON.stringify(text)}`);
  const [source, target, mode] = parts as [string, string, string | undefined];
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') throw new UsageError(`invalid mode ${JSON.stringify(mode)} in volume ${JSON.stringify(text)} (ro or rw)`);
  if (!target.startsWith('/')) throw new UsageError(`invalid volume specification: ${JSON.stringify(text)}: the container path must be absolute`);
  const type = source.startsWith('/') || source.startsWith('.') ? 'bind' : 'volume';
  return { type, source: type === 'bind' ? path.resolve(source) : source, target, readOnly: mode === 'ro' };
}

/** One `--mount` value: `type=bind|volume,source=...,target=...[,readonly]`. */
export function parseMount(text: string): MountOption {
  const kv = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    kv.set(eq < 0 ? part : part.slice(0, eq), eq < 0 ? 'true' : part.slice(eq + 1));
  }
  const type = kv.get('type') ?? 'volume';
  if (type !== 'bind' && type !== 'volume') throw new UsageError(`invalid mount type ${JSON.stringify(type)} in --mount ${JSON.stringify(text)} (bind or volume)`);
  const source = kv.get('source') ?? kv.get('src');
  const target = kv.get('target') ?? kv.get('destination') ?? kv.get('dst');
  if (target === undefined) throw new UsageError(`--mount ${JSON.stringify(text)}: target is required`);
  if (source === undefined && type === 'bind') throw new UsageError(`--mount ${JSON.stringify(text)}: source is required for a bind mount`);
  const ro = kv.get('readonly') ?? kv.get('ro');
  return {
    type,
    source: source ?? `anon-${randomBytes(16).toString('hex')}`,
    target,
    readOnly: ro === 'true' || ro === '1',
  };
}

/** A restart policy checked as Docker checks it. */
function checkRestart(policy: string | undefined, autoRemove: boolean): void {
  if (policy === undefined || policy === 'no') return;
  if (!/^(always|unless-stopped|on-failure(:[0-9]+)?)$/.test(policy)) throw new UsageError(`invalid restart policy ${JSON.stringify(policy)} (no, always, unless-stopped, on-failure[:max-retries])`);
  if (autoRemove) throw new UsageError('conflicting options: cannot combine --restart and --rm');
}

/** Turns parsed `run`/`create` arguments into a request. */
export function runRequest(p: ParsedArgs, globalDns: readonly string[]): RunRequest {
  const [image, ...cmd] = p.positionals;
  if (image === undefined) throw new UsageError('requires at least 1 argument (the image)');
  const autoRemove = flag(p, 'rm');
  const restart = str(p, 'restart');
  checkRestart(restart, autoRemove);
  const entrypoint = str(p, 'entrypoint');
  const memory = str(p, 'memory');
  const cpus = str(p, 'cpus');
  const pids = str(p, 'pids-limit');
  if (cpus !== undefined && !/^[0-9]*\.?[0-9]+$/.test(cpus)) throw new UsageError(`invalid --cpus ${JSON.stringify(cpus)}: a positive number`);
  if (pids !== undefined && !/^-?[0-9]+$/.test(pids)) throw new UsageError(`invalid --pids-limit ${JSON.stringify(pids)}: an integer`);
  const resources = {
    ...(memory === undefined ? {} : { memory: parseSize(memory, '--memory') }),
    ...(cpus === undefined ? {} : { cpus: Number(cpus) }),
    ...(pids === undefined ? {} : { pidsLimit: Number(pids) }),
  };
  const labels = Object.fromEntries(list(p, 'label').map((l) => (l.includes('=') ? [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] : [l, ''])));
  const options: CreateContainerOptions = {
    ...(cmd.length > 0 ? { cmd } : {}),
    ...(entrypoint === undefined ? {} : { entrypoint: entrypoint === '' ? [] : [entrypoint] }),
    env: [...list(p, 'env-file').flatMap(readEnvFile), ...list(p, 'env').map((e) => (e.includes('=') ? e : `${e}=${process.env[e] ?? ''}`))],
    ...(str(p, 'workdir') === undefined ? {} : { workdir: str(p, 'workdir') }),
    ...(str(p, 'user') === undefined ? {} : { user: str(p, 'user') }),
    ...(str(p, 'hostname') === undefined ? {} : { hostname: str(p, 'hostname') }),
    ...(str(p, 'name') === undefined ? {} : { name: str(p, 'name') }),
    readOnly: flag(p, 'read-only'),
    mounts: [...list(p, 'volume').map(parseVolume), ...list(p, 'mount').map(parseMount)],
    ...(Object.keys(resources).length > 0 ? { resources } : {}),
    capAdd: list(p, 'cap-add'),
    capDrop: list(p, 'cap-drop'),
    ...securityOptions(list(p, 'security-opt')),
    init: flag(p, 'init'),
    labels,
    publish: list(p, 'publish'),
    ...(str(p, 'network') === undefined ? {} : { network: str(p, 'network') }),
    ...(list(p, 'dns').length > 0 || globalDns.length > 0 ? { dns: list(p, 'dns').length > 0 ? list(p, 'dns') : [...globalDns] } : {}),
  };
  return {
    image,
    options,
    detach: flag(p, 'detach'),
    interactive: flag(p, 'interactive'),
    tty: flag(p, 'tty'),
    autoRemove,
    restart,
  };
}

/** The engine's `seccomp` and `noNewPrivileges` from `--security-opt` values (Docker's default profile when none is given). */
function securityOptions(values: readonly string[]): Pick<CreateContainerOptions, 'seccomp' | 'noNewPrivileges'> {
  const out: Pick<CreateContainerOptions, 'seccomp' | 'noNewPrivileges'> = {};
  for (const v of values) {
    const nnp = /^no-new-privileges(?:[=:](true|false))?$/.exec(v);
    if (nnp !== null) {
      out.noNewPrivileges = nnp[1] !== 'false';
      continue;
    }
    const m = /^seccomp[=:](.+)$/.exec(v);
    if (m === null) throw new UsageError(`invalid --security-opt ${JSON.stringify(v)}: berth takes seccomp=unconfined, seccomp=PROFILE.json or no-new-privileges[=true|false]`);
    if (m[1] === 'unconfined') {
      out.seccomp = 'unconfined';
      continue;
    }
    let text: string;
    try {
      text = readFileSync(m[1]!, 'utf8');
    } catch (err) {
      throw new UsageError(`invalid --security-opt ${JSON.stringify(v)}: cannot read ${m[1]}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      out.seccomp = JSON.parse(text) as LinuxSeccomp;
    } catch (err) {
      throw new UsageError(`invalid --security-opt ${JSON.stringify(v)}: ${m[1]} is not JSON: ${(err as Error).message}`);
    }
  }
  return out;
}
