/**
 * `login` and `logout` as docker does them: credentials are checked against the registry
 * (basic auth at `/v2/`, or a token asked of its token server) and only then written to the
 * credentials file, so one login serves later pulls and pushes of any process reading it.
 * @module
 */
import type { Credentials } from './auth.js';
import { RegistryClient, type RegistryClientOptions } from './client.js';
import { CredentialStore, registryHostKey } from './credentials.js';
import { RegistryError } from './errors.js';

/** Options of {@link login}. */
export interface LoginOptions {
  /** The credentials file (default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`). */
  store?: CredentialStore;
  /** Transport options (insecure registries, CAs) for the check. */
  client?: RegistryClientOptions;
  /** Cancels the check. */
  signal?: AbortSignal;
}

/** What a login did. */
export interface LoginResult {
  /** The registry logged in to. */
  registry: string;
  /** The auth scheme the registry asked for (`basic`, `bearer`, or `none` when it asks for none). */
  scheme: string;
  /** The file the credentials were written to. */
  file: string;
}

/**
 * Checks `credentials` against `registry` and stores them. RegistryError `EUNAUTHORIZED` when
 * the registry refuses them (nothing is written), or the transport's error when it cannot be
 * reached.
 */
export async function login(registry: string, credentials: Credentials, options: LoginOptions = {}): Promise<LoginResult> {
  if ((credentials.username === undefined || credentials.username === '') && credentials.identityToken === undefined) {
    throw new RegistryError('login needs a user name (or an identity token)', 'EUNAUTHORIZED', { registry });
  }
  const host = registryHostKey(registry);
  const client = new RegistryClient({ ...(options.client ?? {}), credentials: undefined, auth: { [host]: credentials } });
  try {
    const ping = await client.ping(host, options.signal ? { signal: options.signal } : {});
    // A registry that lets anonymous callers in has nothing to check the credentials against; docker stores them anyway.
    const scheme = ping.challenges[0]?.scheme ?? 'none';
    const store = options.store ?? new CredentialStore();
    await store.set(host, credentials);
    return { registry: host, scheme, file: store.file };
  } finally {
    client.close();
  }
}

/** Forgets the credentials of `registry`; false when there were none. */
export async function logout(registry: string, options: { store?: CredentialStore } = {}): Promise<boolean> {
  return (options.store ?? new CredentialStore()).remove(registryHostKey(registry));
}
