/**
 * Registry authentication: `WWW-Authenticate` challenges parsed (RFC 7235: several challenges
 * in one header, quoted and token parameter values), and bearer tokens as the Distribution
 * token spec defines them — fetched from the challenge's realm with its service and the
 * scopes a request needs, cached by realm, service, account and scope set until they expire.
 * @module
 */

/** One challenge of a `WWW-Authenticate` header. */
export interface AuthChallenge {
  /** The scheme, lowercased: `bearer`, `basic`. */
  scheme: string;
  /** Its parameters, names lowercased (`realm`, `service`, `scope`, `error`). */
  params: Record<string, string>;
}

/** Credentials for a registry: a user name and password, or an identity (refresh) token. */
export interface Credentials {
  /** The user name. */
  username?: string;
  /** The password (or access token used as one). */
  password?: string;
  /** An OAuth2 refresh token (docker's `identitytoken`), exchanged at the token realm. */
  identityToken?: string;
}

/** Parses a `WWW-Authenticate` header into its challenges (an empty list for garbage). */
export function parseChallenges(header: string | string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join(', ') : header;
  const out: AuthChallenge[] = [];
  let i = 0;
  const n = text.length;
  const skipWs = (): void => {
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z/]/.test(text[i]!)) i++;
    return text.slice(start, i);
  };
  let current: AuthChallenge | undefined;
  while (i < n) {
    skipWs();
    if (text[i] === ',') {
      i++;
      continue;
    }
    const start = i;
    const word = token();
    if (word === '') {
      i++; // not a token character: skip it
      continue;
    }
    skipWs();
    if (text[i] === '=' && current !== undefined) {
      i++;
      skipWs();
      let value: string;
      if (text[i] === '"') {
        i++;
        value = '';
        while (i < n && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < n) i++;
          value += text[i];
          i++;
        }
        i++; // closing quote
      } else {
        value = token();
      }
      current.params[word.toLowerCase()] = value;
      continue;
    }
    // A new challenge: `scheme` followed by parameters (or a token68, which is skipped).
    if (text[i] === '=') i = start + word.length; // `Basic =` oddities: treat the word as a scheme
    current = { scheme: word.toLowerCase(), params: {} };
    out.push(current);
  }
  return out;
}

/** The scope string of a repository: `repository:library/busybox:pull,push`. */
export function repositoryScope(repository: string, actions: readonly string[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

/** Merges scope strings: the same resource's actions joined, the list sorted (so equal sets give one cache key). */
export function mergeScopes(scopes: readonly string[]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const s of scopes) {
    for (const one of s.split(' ')) {
      if (one === '') continue;
      const cut = one.lastIndexOf(':');
      if (cut <= 0) {
        byResource.set(one, byResource.get(one) ?? new Set());
        continue;
      }
      const resource = one.slice(0, cut);
      const set = byResource.get(resource) ?? new Set<string>();
      for (const a of one.slice(cut + 1).split(',')) if (a !== '') set.add(a);
      byResource.set(resource, set);
    }
  }
  return [...byResource.entries()].map(([r, acts]) => (acts.size === 0 ? r : `${r}:${[...acts].sort().join(',')}`)).sort();
}

/** A bearer token and when it stops being usable. */
export interface CachedToken {
  /** The token. */
  token: string;
  /** Epoch milliseconds after which it is fetched again. */
  expires: number;
}

/** Tokens cached by realm, service, account and scope set. */
export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();

  /** The key of a token request. */
  static key(realm: string, service: string | undefined, account: string | undefined, scopes: readonly string[]): string {
    return JSON.stringify([realm, service ?? '', account ?? '', mergeScopes(scopes)]);
  }

  /** A cached token still valid for a while, or undefined. */
  get(key: string, now = Date.now()): string | undefined {
    const t = this.tokens.get(key);
    if (t === undefined) return undefined;
    if (t.expires <= now) {
      this.tokens.delete(key);
      return undefined;
    }
    return t.token;
  }

  /** Caches a token for `lifetimeSeconds` (less a margin, so a token is never used at its edge). */
  set(key: string, token: string, lifetimeSeconds: number, now = Date.now()): void {
    const margin = Math.min(10, lifetimeSeconds / 10);
    this.tokens.set(key, { token, expires: now + Math.max(0, lifetimeSeconds - margin) * 1000 });
  }

  /** Forgets a token (the registry refused it). */
  delete(key: string): void {
    this.tokens.delete(key);
  }

  /** How many tokens are cached. */
  get size(): number {
    return this.tokens.size;
  }
}

/** A token endpoint's answer (Distribution token spec; `access_token` is the OAuth2 name). */
export interface TokenResponse {
  /** The bearer token. */
  token?: string;
  /** The same, OAuth2 style. */
  access_token?: string;
  /** Lifetime in seconds (default 60). */
  expires_in?: number;
  /** When it was issued (RFC 3339). */
  issued_at?: string;
  /** A refresh token, when one was asked for. */
  refresh_token?: string;
}

/** A token and how long it may be used. */
export interface TokenLifetime {
  /** The bearer token. */
  token: string;
  /** Seconds it may still be used. */
  lifetime: number;
}

/** The token of a response and its remaining lifetime in seconds, or undefined when it has none. */
export function tokenOf(res: TokenResponse, now = Date.now()): TokenLifetime | undefined {
  const token = res.token ?? res.access_token;
  if (typeof token !== 'string' || token === '') return undefined;
  let lifetime = typeof res.expires_in === 'number' && res.expires_in > 0 ? res.expires_in : 60;
  if (typeof res.issued_at === 'string') {
    const issued = Date.parse(res.issued_at);
    if (Number.isFinite(issued)) lifetime = Math.min(lifetime, lifetime - (now - issued) / 1000 + 5); // clock skew allowance
  }
  return { token, lifetime: Math.max(1, lifetime) };
}

/** The `Authorization` value of basic credentials. */
export function basicAuth(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username ?? ''}:${creds.password ?? ''}`).toString('base64')}`;
}
