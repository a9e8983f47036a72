/**
 * Listing a registry: a repository's tags and the registry's catalog, following `Link`
 * (RFC 5988) pagination to the end; and `search`, through the v1 search API where the registry
 * offers it (Docker Hub does) and otherwise the catalog filtered by the term.
 * @module
 */
import { repositoryScope } from './auth.js';
import { readBody, responseError, type Endpoint, type RegistryClient } from './client.js';
import { RegistryError, throwIfAborted } from './errors.js';

/** Options of the listing calls. */
export interface ListOptions {
  /** Page size asked for (`n`); the registry may give fewer. */
  pageSize?: number;
  /** Stop after this many entries. */
  limit?: number;
  /** Cancels the listing. */
  signal?: AbortSignal;
}

/** The `rel="next"` target of a `Link` header, or undefined. */
export function nextLink(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join(', ') : header;
  for (const part of text.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (m === null) continue;
    if (/;\s*rel\s*=\s*"?([^";]*\s)?next(\s[^";]*)?"?/i.test(m[2]!)) return m[1];
  }
  return undefined;
}

/** Follows a paginated listing, collecting `key` of each page. */
async function paginate(client: RegistryClient, ep: Endpoint, first: string, key: 'tags' | 'repositories', scopes: string[], options: ListOptions, repository?: string): Promise<string[]> {
  const out: string[] = [];
  let next: string | undefined = first;
  const seen = new Set<string>();
  while (next !== undefined) {
    throwIfAborted(options.signal, { registry: ep.registry });
    if (seen.has(next)) throw new RegistryError(`registry ${ep.host} paginates in a loop (${next})`, 'EHTTP', { registry: ep.registry });
    seen.add(next);
    const res = await client.send(ep, { method: 'GET', path: next, scopes, ...(repository ? { repository } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    if (res.status !== 200) throw await responseError(res, key === 'tags' ? `tags of ${repository}` : 'catalog', { registry: ep.registry, ...(repository ? { repository } : {}) });
    const body = await readBody(res, 16 << 20, key, { registry: ep.registry });
    let page: Record<string, unknown>;
    try {
      page = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new RegistryError(`registry ${ep.host} answered a ${key} page that is not JSON`, 'EHTTP', { registry: ep.registry, cause: err });
    }
    const items = page[key];
    if (items !== null && items !== undefined && !Array.isArray(items)) throw new RegistryError(`registry ${ep.host} answered a ${key} page without a list`, 'EHTTP', { registry: ep.registry });
    for (const x of (items as unknown[] | null | undefined) ?? []) {
      if (typeof x === 'string') out.push(x);
      if (options.limit !== undefined && out.length >= options.limit) return out;
    }
    const link = nextLink(res.headers.link);
    next = link === undefined ? undefined : new URL(link, res.url).pathname + new URL(link, res.url).search;
  }
  return out;
}

/** A repository's tags (`GET /v2/<name>/tags/list`), all pages. */
export async function listTags(client: RegistryClient, registry: string, repository: string, options: ListOptions = {}): Promise<string[]> {
  const ep = await client.endpoint(registry, options.signal);
  const n = options.pageSize === undefined ? '' : `?n=${options.pageSize}`;
  return paginate(client, ep, `/v2/${repository}/tags/list${n}`, 'tags', [repositoryScope(repository, ['pull'])], options, repository);
}

/** The registry's repositories (`GET /v2/_catalog`), all pages. */
export async function listCatalog(client: RegistryClient, registry: string, options: ListOptions = {}): Promise<string[]> {
  const ep = await client.endpoint(registry, options.signal);
  const n = options.pageSize === undefined ? '' : `?n=${options.pageSize}`;
  return paginate(client, ep, `/v2/_catalog${n}`, 'repositories', ['registry:catalog:*'], options);
}

/** One search result, as `docker search` shows it. */
export interface SearchResult {
  /** The repository name. */
  name: string;
  /** Its description (empty from a catalog search). */
  description: string;
  /** Stars (0 from a catalog search). */
  star_count: number;
  /** Whether it is an official image. */
  is_official: boolean;
  /** Whether it is an automated build. */
  is_automated: boolean;
}

/** Options of {@link search}. */
export interface SearchOptions extends ListOptions {
  /** Only results with at least this many stars. */
  stars?: number;
  /** Only official images. */
  official?: boolean;
}

/**
 * Searches a registry for `term`: the v1 search API (`/v1/search?q=`) where it answers, else
 * the v2 catalog filtered by the term (case-insensitive substring of the repository name).
 */
export async function searchRegistry(client: RegistryClient, registry: string, term: string, options: SearchOptions = {}): Promise<SearchResult[]> {
  const ep = await client.endpoint(registry, options.signal);
  const limit = options.limit ?? 25;
  const filter = (rs: SearchResult[]): SearchResult[] =>
    rs.filter((r) => (options.stars === undefined || r.star_count >= options.stars) && (options.official !== true || r.is_official)).slice(0, limit);
  const v1 = await client.send(ep, { method: 'GET', path: `/v1/search?q=${encodeURIComponent(term)}&n=${limit}`, ...(options.signal ? { signal: options.signal } : {}) });
  if (v1.status === 200) {
    try {
      const body = JSON.parse((await readBody(v1, 16 << 20, 'search results', { registry: ep.registry })).toString('utf8')) as { results?: Array<Partial<SearchResult>> };
      if (Array.isArray(body.results)) {
        return filter(
          body.results.map((r) => ({ name: String(r.name ?? ''), description: String(r.description ?? ''), star_count: Number(r.star_count ?? 0), is_official: r.is_official === true, is_automated: r.is_automated === true })),
        );
      }
    } catch (err) {
      if (err instanceof RegistryError && err.code !== 'EHTTP') throw err;
      // not a v1 search answer: fall back to the catalog
    }
  } else {
    v1.body.resume();
  }
  const needle = term.toLowerCase();
  const { limit: _ignored, ...rest } = options;
  void _ignored;
  const names = await listCatalog(client, registry, rest);
  return filter(names.filter((n) => n.toLowerCase().includes(needle)).map((name) => ({ name, description: '', star_count: 0, is_official: false, is_automated: false })));
}
