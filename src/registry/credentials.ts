/**
 * Registry credentials in a docker-style `config.json`: `auths` entries (`auth` is base64 of
 * `user:password`; `identitytoken` a refresh token), and the credential helpers it may name
 * (`credHelpers` per registry, `credsStore` for all), run as `docker-credential-<name>` with
 * the `get`/`store`/`erase` protocol. The file is rewritten atomically with mode 0600 and every
 * key berth does not know is kept, so docker, podman and skopeo read what berth wrote and the
 * other way round.
 * @module
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { readJsonIfExists, writeFileAtomic } from '../util/atomic-file.js';
import type { Credentials } from './auth.js';
import { RegistryError } from './errors.js';

/** Docker Hub's key in `auths`, as `docker login` writes it. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

/** One `auths` entry of a docker `config.json`. */
export interface DockerAuthEntry {
  /** base64 of `user:password`. */
  auth?: string;
  /** An OAuth2 refresh token. */
  identitytoken?: string;
  /** A user name given in clear (older files). */
  username?: string;
  /** A password given in clear (older files). */
  password?: string;
  /** Anything else. */
  [key: string]: unknown;
}

/** The parts of a docker `config.json` berth reads and writes (others are kept as they are). */
export interface DockerConfigFile {
  /** Credentials by registry. */
  auths?: Record<string, DockerAuthEntry>;
  /** The credential helper for all registries. */
  credsStore?: string;
  /** Credential helpers by registry. */
  credHelpers?: Record<string, string>;
  /** Anything else. */
  [key: string]: unknown;
}

/** The host a registry name or `auths` key stands for: scheme and path dropped, Docker Hub's aliases made one. */
export function registryHostKey(registry: string): string {
  let host = registry.trim();
  host = host.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  host = host.split('/', 1)[0]!.toLowerCase();
  if (host === 'docker.io' || host === 'index.docker.io' || host === 'registry-1.docker.io' || host === 'registry.hub.docker.com') return 'docker.io';
  return host;
}

/** The `auths` key berth writes for a registry (Docker Hub's URL form for Docker Hub). */
function authKey(registry: string): string {
  const host = registryHostKey(registry);
  return host === 'docker.io' ? DOCKER_HUB_AUTH_KEY : host;
}

/** The default config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function defaultCredentialsFile(): string {
  const dir = process.env['DOCKER_CONFIG'];
  return dir !== undefined && dir !== '' ? path.join(dir, 'config.json') : path.join(os.homedir(), '.docker', 'config.json');
}

/** Credentials read from and written to a docker-style `config.json`. */
export class CredentialStore {
  constructor(
    /** The config file (default {@link defaultCredentialsFile}). */
    readonly file: string = defaultCredentialsFile(),
  ) {}

  private async read(): Promise<DockerConfigFile> {
    try {
      return (await readJsonIfExists<DockerConfigFile>(this.file)) ?? {};
    } catch (err) {
      throw new RegistryError(`cannot read credentials file ${this.file}: ${(err as Error).message}`, 'EINVALIDCONFIG', { cause: err });
    }
  }

  private async write(cfg: DockerConfigFile): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify(cfg, null, '\t')}\n`, 0o600);
  }

  /** The `auths` entry of a registry, matching keys written with a scheme or path as docker does. */
  private static entry(cfg: DockerConfigFile, registry: string): [string, DockerAuthEntry] | undefined {
    const host = registryHostKey(registry);
    for (const [k, v] of Object.entries(cfg.auths ?? {})) if (registryHostKey(k) === host) return [k, v];
    return undefined;
  }

  /** The credential helper for a registry, if the file names one. */
  private static helper(cfg: DockerConfigFile, registry: string): string | undefined {
    const host = registryHostKey(registry);
    for (const [k, v] of Object.entries(cfg.credHelpers ?? {})) if (registryHostKey(k) === host) return v;
    return cfg.credsStore !== undefined && cfg.credsStore !== '' ? cfg.credsStore : undefined;
  }

  /** The credentials stored for `registry` (a host, `host:port` or URL), or undefined. */
  async get(registry: string): Promise<Credentials | undefined> {
    const cfg = await this.read();
    const helper = CredentialStore.helper(cfg, registry);
    if (helper !== undefined) {
      const out = await runHelper(helper, 'get', authKey(registry)).catch((err: unknown) => {
        if (err instanceof RegistryError && err.code === 'ENOENT') return undefined;
        throw err;
      });
      if (out === undefined) return undefined;
      const res = JSON.parse(out) as { Username?: string; Secret?: string };
      if (res.Username === '<token>') return { identityToken: res.Secret ?? '' };
      return { username: res.Username ?? '', password: res.Secret ?? '' };
    }
    const found = CredentialStore.entry(cfg, registry);
    if (found === undefined) return undefined;
    const e = found[1];
    const creds: Credentials = {};
    if (typeof e.auth === 'string' && e.auth !== '') {
      const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
      const cut = decoded.indexOf(':');
      if (cut < 0) throw new RegistryError(`credentials file ${this.file}: the auth of ${found[0]} is not base64 of user:password`, 'EINVALIDCONFIG', { registry });
      creds.username = decoded.slice(0, cut);
      creds.password = decoded.slice(cut + 1);
    } else if (typeof e.username === 'string') {
      creds.username = e.username;
      creds.password = typeof e.password === 'string' ? e.password : '';
    }
    if (typeof e.identitytoken === 'string' && e.identitytoken !== '') creds.identityToken = e.identitytoken;
    return creds.username === undefined && creds.identityToken === undefined ? undefined : creds;
  }

  /** Stores credentials for `registry` (through its credential helper when the file names one). */
  async set(registry: string, creds: Credentials): Promise<void> {
    const cfg = await this.read();
    const helper = CredentialStore.helper(cfg, registry);
    if (helper !== undefined) {
      const secret = creds.identityToken ?? creds.password ?? '';
      const username = creds.identityToken !== undefined ? '<token>' : (creds.username ?? '');
      await runHelper(helper, 'store', JSON.stringify({ ServerURL: authKey(registry), Username: username, Secret: secret }));
      const auths = { ...(cfg.auths ?? {}) };
      const old = CredentialStore.entry(cfg, registry);
      if (old !== undefined) delete auths[old[0]];
      auths[authKey(registry)] = {}; // docker records the registry with an empty entry
      await this.write({ ...cfg, auths });
      return;
    }
    const auths = { ...(cfg.auths ?? {}) };
    const old = CredentialStore.entry(cfg, registry);
    if (old !== undefined) delete auths[old[0]];
    const entry: DockerAuthEntry = {};
    if (creds.username !== undefined) entry.auth = Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64');
    if (creds.identityToken !== undefined) entry.identitytoken = creds.identityToken;
    auths[authKey(registry)] = entry;
    await this.write({ ...cfg, auths });
  }

  /** Forgets the credentials of `registry`; false when there were none. */
  async remove(registry: string): Promise<boolean> {
    const cfg = await this.read();
    const helper = CredentialStore.helper(cfg, registry);
    let removed = false;
    if (helper !== undefined) {
      removed = await runHelper(helper, 'erase', authKey(registry)).then(
        () => true,
        (err: unknown) => {
          if (err instanceof RegistryError && err.code === 'ENOENT') return false;
          throw err;
        },
      );
    }
    const old = CredentialStore.entry(cfg, registry);
    if (old === undefined) return removed;
    const auths = { ...(cfg.auths ?? {}) };
    delete auths[old[0]];
    await this.write({ ...cfg, auths });
    return true;
  }

  /** The registries the file holds credentials for (`auths` keys, as written). */
  async list(): Promise<string[]> {
    return Object.keys((await this.read()).auths ?? {});
  }
}

/** Runs `docker-credential-<helper> <action>` with `input` on stdin; its stdout. RegistryError ENOENT when it has no credentials. */
function runHelper(helper: string, action: 'get' | 'store' | 'erase', input: string): Promise<string> {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) return Promise.reject(new RegistryError(`invalid credential helper name ${JSON.stringify(helper)}`, 'EINVALIDCONFIG'));
  const bin = `docker-credential-${helper}`;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [action], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => out.push(c));
    child.on('error', (err) => reject(new RegistryError(`credential helper ${bin}: ${err.message}`, 'ECREDHELPER', { cause: err })));
    child.on('close', (code) => {
      const text = Buffer.concat(out).toString('utf8').trim();
      if (code === 0) resolve(text);
      else if (/credentials not found/i.test(text)) reject(new RegistryError(`credential helper ${bin}: no credentials`, 'ENOENT'));
      else reject(new RegistryError(`credential helper ${bin} ${action} failed: ${text}`, 'ECREDHELPER'));
    });
    child.stdin.end(input);
  });
}
