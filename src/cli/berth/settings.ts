/**
 * The CLI's global settings, as dockerd takes them: flags before the command (`--root`, alias
 * `--data-root` and the seed's `-g/--graph`; `--storage-driver`; `--dns`; `--registry-mirror`;
 * `--insecure-registry`), then the environment (`BERTH_ROOT`, `BERTH_STORAGE_DRIVER`), then a
 * config file with daemon.json's keys (`data-root`, `storage-driver`, `dns`,
 * `registry-mirrors`, `insecure-registries`) at `--config`, `$BERTH_CONFIG` or
 * `/etc/berth/config.json`, then the defaults.
 * @module
 */
import { readFileSync } from 'node:fs';
import { UsageError } from './errors.js';

/** Settings every command sees. */
export interface Settings {
  /** The engine's root directory. */
  root: string;
  /** The graph driver to use (default: the root's recorded or detected one). */
  storageDriver: string | undefined;
  /** DNS servers given to containers. */
  dns: string[];
  /** Registry mirrors tried before Docker Hub. */
  registryMirrors: string[];
  /** Registries reached over plain HTTP. */
  insecureRegistries: string[];
  /** Print stacks of unexpected errors. */
  debug: boolean;
}

/** The config file's keys (daemon.json's names). */
interface ConfigFile {
  'data-root'?: string;
  graph?: string;
  'storage-driver'?: string;
  dns?: string[];
  'registry-mirrors'?: string[];
  'insecure-registries'?: string[];
  debug?: boolean;
}

const DEFAULT_CONFIG = '/etc/berth/config.json';

/** Splits the global flags from the command and its arguments, and resolves the settings. */
export function readSettings(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): { settings: Settings; command: string | undefined; args: string[] } {
  const flags: Partial<Record<'root' | 'storageDriver' | 'config', string>> = {};
  const lists = { dns: [] as string[], registryMirrors: [] as string[], insecureRegistries: [] as string[] };
  let debug = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq < 0 ? a : a.slice(0, eq);
    const value = (): string => {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`flag needs an argument: ${name}`);
      return v;
    };
    if (name === '--root' || name === '--data-root' || name === '--graph' || name === '-g') flags.root = value();
    else if (name === '--storage-driver' || name === '-s') flags.storageDriver = value();
    else if (name === '--config') flags.config = value();
    else if (name === '--dns') lists.dns.push(value());
    else if (name === '--registry-mirror') lists.registryMirrors.push(value());
    else if (name === '--insecure-registry') lists.insecureRegistries.push(value());
    else if (name === '--debug' || name === '-D') debug = true;
    else if (a.startsWith('-') && a !== '-v' && a !== '--version' && a !== '-h' && a !== '--help') throw new UsageError(`unknown flag: ${name}`);
    else break;
  }
  const configPath = flags.config ?? env.BERTH_CONFIG ?? DEFAULT_CONFIG;
  let file: ConfigFile = {};
  try {
    file = JSON.parse(readFileSync(configPath, 'utf8')) as ConfigFile;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' || flags.config !== undefined || env.BERTH_CONFIG !== undefined) {
      throw new UsageError(`config file ${configPath}: ${code === 'ENOENT' ? 'not found' : (err as Error).message}`);
    }
  }
  const settings: Settings = {
    root: flags.root ?? env.BERTH_ROOT ?? file['data-root'] ?? file.graph ?? '/var/lib/berth',
    storageDriver: flags.storageDriver ?? env.BERTH_STORAGE_DRIVER ?? file['storage-driver'],
    dns: lists.dns.length > 0 ? lists.dns : (file.dns ?? []),
    registryMirrors: lists.registryMirrors.length > 0 ? lists.registryMirrors : (file['registry-mirrors'] ?? []),
    insecureRegistries: lists.insecureRegistries.length > 0 ? lists.insecureRegistries : (file['insecure-registries'] ?? []),
    debug: debug || file.debug === true,
  };
  const rest = argv.slice(i);
  return { settings, command: rest[0], args: rest.slice(1) };
}
