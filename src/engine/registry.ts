/**
 * The engine's registry verbs (`docker pull`, `docker push`, `docker login`, `docker search`):
 * thin wrappers that run the registry client against an engine's image store. Credentials come
 * from the docker-style `config.json` ({@link CredentialStore}, default
 * `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`) unless the options say otherwise.
 * @module
 */
import type { Image } from '../image/image-store.js';
import { listTags, searchRegistry, type SearchOptions, type SearchResult } from '../registry/catalog.js';
import { RegistryClient, type RegistryClientOptions } from '../registry/client.js';
import { CredentialStore } from '../registry/credentials.js';
import { pullImage, type PullOptions, type PullResult } from '../registry/pull.js';
import { pushImage, type PushOptions, type PushResult } from '../registry/push.js';
import { normalizeReference } from '../image/reference.js';
import type { Engine } from './engine.js';

/** Registry options of the engine's verbs: a client to reuse, or options to make one with. */
export interface EngineRegistryOptions {
  /** A client to use (its token cache and connections are shared across calls); default: one made from `registry`. */
  client?: RegistryClient;
  /** Options of the client made when none is given (credentials default to the docker config file). */
  registry?: RegistryClientOptions;
}

/** Runs `fn` with the given client, or a fresh one that is closed afterwards. */
async function withClient<T>(options: EngineRegistryOptions, fn: (client: RegistryClient) => Promise<T>): Promise<T> {
  if (options.client !== undefined) return fn(options.client);
  const client = new RegistryClient({ credentials: new CredentialStore(), ...(options.registry ?? {}) });
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** Pulls `reference` into the engine's image store (`docker pull`). */
export function pull(engine: Engine, reference: string, options: PullOptions & EngineRegistryOptions = {}): Promise<PullResult> {
  return withClient(options, (client) => pullImage(client, engine.images, reference, options));
}

/** Pushes image `source` to `target` (default: `source` as a reference) (`docker push`). */
export function push(engine: Engine, source: string, options: PushOptions & EngineRegistryOptions & { target?: string } = {}): Promise<PushResult> {
  return withClient(options, (client) => pushImage(client, engine.images, source, options.target, options));
}

/** The image named `reference`, pulled first when the store does not have it (`docker run`'s implicit pull). */
export async function ensureImage(engine: Engine, reference: string, options: PullOptions & EngineRegistryOptions = {}): Promise<Image> {
  const have = await engine.images.get(reference).catch(() => undefined);
  if (have !== undefined) return have;
  return (await pull(engine, reference, options)).image;
}

/** Searches a registry (`docker search`); `term` may start with a registry host (`127.0.0.1:5000/busy`). */
export function search(term: string, options: SearchOptions & EngineRegistryOptions = {}): Promise<SearchResult[]> {
  let registry = 'docker.io';
  let what = term;
  const slash = term.indexOf('/');
  if (slash > 0 && /[.:]|^localhost$/.test(term.slice(0, slash))) {
    registry = term.slice(0, slash);
    what = term.slice(slash + 1);
  }
  return withClient(options, (client) => searchRegistry(client, registry, what, options));
}

/** The tags of a repository (`name` as a reference: `127.0.0.1:5000/app`). */
export function tags(name: string, options: EngineRegistryOptions & { signal?: AbortSignal } = {}): Promise<string[]> {
  const ref = normalizeReference(name);
  return withClient(options, (client) => listTags(client, ref.domain, ref.path, options.signal ? { signal: options.signal } : {}));
}
