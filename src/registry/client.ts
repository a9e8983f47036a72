/**
 * The registry transport: one {@link RegistryClient} holds what a caller configures for talking
 * to registries (credentials, insecure registries, CAs, mirrors, retry policy) and what it
 * learns while doing so (each registry's scheme and auth challenge, bearer tokens, keep-alive
 * connections). Requests go through Node's own `http`/`https`; a request is retried with
 * exponential backoff on a dropped connection, a 5xx or a 429 (honouring `Retry-After`),
 * re-authorised once on a 401 (with the scope an `insufficient_scope` challenge asks for), and
 * redirects are followed without the credentials when they leave the registry's host.
 * @module
 */
import { readdir, readFile } from 'node:fs/promises';
import type { Agent as HttpAgent, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { lazyRequire } from '../util/lazy-require.js';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { basicAuth, mergeScopes, parseChallenges, TokenCache, tokenOf, type AuthChallenge, type Credentials, type TokenResponse } from './auth.js';
import { CredentialStore, registryHostKey } from './credentials.js';
import { RegistryError, throwIfAborted, type RegistryErrorDetails } from './errors.js';

const http = lazyRequire<typeof import('node:http')>('node:http');
const https = lazyRequire<typeof import('node:https')>('node:https');

/** Where credentials come from: a `config.json` store, or a function of the registry host. */
export type CredentialSource = CredentialStore | ((registry: string) => Promise<Credentials | undefined> | Credentials | undefined);

/** Options of a {@link RegistryClient}. */
export interface RegistryClientOptions {
  /** Credentials by registry: a docker-style `config.json` store or a lookup function (default: anonymous). */
  credentials?: CredentialSource;
  /** Credentials given directly, by registry host (`127.0.0.1:5000`); these win over `credentials`. */
  auth?: Record<string, Credentials>;
  /** Registries (`host[:port]`) that may be reached over plain HTTP or with an unverified certificate; no other is. */
  insecure?: string[];
  /** Extra CA certificates (PEM) trusted for a registry host (`host[:port]`), besides the system's. */
  ca?: Record<string, string | Buffer>;
  /** A directory laid out as Docker's `/etc/docker/certs.d`: `<host[:port]>/*.crt` CAs, `*.cert`/`*.key` client pairs. */
  certsDir?: string;
  /** Mirror URLs by registry (`{'docker.io': ['https://mirror.example']}`), tried in order before it for pulls. */
  mirrors?: Record<string, string[]>;
  /** How many times a failed request is retried (default 5). */
  retries?: number;
  /** The first backoff delay in milliseconds, doubled each retry with jitter (default 200). */
  retryDelay?: number;
  /** The longest wait between tries, including a `Retry-After`, in milliseconds (default 30 000). */
  maxRetryDelay?: number;
  /** Idle socket timeout in milliseconds (default 60 000). */
  timeout?: number;
  /** The `User-Agent` sent. */
  userAgent?: string;
}

/** One place a registry is reached at. */
export interface Endpoint {
  /** The registry as references name it (`docker.io`, `127.0.0.1:5000`). */
  registry: string;
  /** `host[:port]` connected to (`registry-1.docker.io` for `docker.io`; the mirror's for a mirror). */
  host: string;
  /** The scheme used. */
  scheme: 'https' | 'http';
  /** Whether the TLS certificate goes unverified (an insecure registry over HTTPS). */
  insecure: boolean;
  /** Whether this is a mirror of `registry`. */
  mirror: boolean;
  /** A path prefix of a mirror URL (`/v2` requests go under it), normally empty. */
  prefix: string;
}

/** A request to a registry. */
export interface RegistryRequest {
  /** The HTTP method. */
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** A path on the endpoint (`/v2/...`) or an absolute URL (a `Location` the registry gave). */
  path: string;
  /** Headers to send. */
  headers?: Record<string, string>;
  /** The body: a buffer, or a function making a fresh stream for each try (with `bodyLength`). */
  body?: Buffer | (() => Readable);
  /** The length of a streamed body. */
  bodyLength?: number;
  /** The token scopes the request needs (`repository:x:pull`). */
  scopes?: string[];
  /** Names for errors. */
  repository?: string;
  /** Names for errors. */
  digest?: string;
  /** Cancels the request. */
  signal?: AbortSignal;
  /** No retry of any kind (an upload whose session a failed try may have spoilt: the caller restarts it). */
  noRetry?: boolean;
}

/** A registry's answer (headers read, body unread). */
export interface RegistryResponse {
  /** HTTP status. */
  status: number;
  /** Response headers. */
  headers: IncomingHttpHeaders;
  /** The body stream; read it or call `body.resume()`. */
  body: IncomingMessage;
  /** The URL that answered (after redirects). */
  url: URL;
  /** Whether the caller's credentials went with the request (a refusal then means "not allowed", not "who are you"). */
  withCredentials?: boolean;
}

/** What {@link RegistryClient.ping} learnt of a registry. */
export interface PingResult {
  /** The endpoint that answered. */
  endpoint: Endpoint;
  /** The `Docker-Distribution-API-Version` header (`registry/2.0`), when sent. */
  apiVersion: string | undefined;
  /** The auth challenges of `/v2/` (empty when it lets anonymous callers in). */
  challenges: AuthChallenge[];
  /** Whether the caller's credentials (if any) were accepted at `/v2/`. */
  authenticated: boolean;
}

const DEFAULT_UA = 'berth/0.1 (Node.js)';
const NETWORK_RETRYABLE = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ESOCKETHANGUP', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);
const STATUS_RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);
const TLS_CODES = /^(ERR_SSL_|ERR_TLS_|EPROTO$|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|CERT_|HOSTNAME_MISMATCH)/;
/** Largest error or token body read. */
const SMALL_BODY_LIMIT = 1 << 20;

/** Maps a Node network error to a {@link RegistryError} code. */
export function networkErrorCode(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? '';
  if (e?.name === 'AbortError' || code === 'ABORT_ERR') return 'EABORTED';
  if (code === 'ENOTFOUND' || code === 'EAI_NONAME' || code === 'EAI_FAIL') return 'ENOTFOUND';
  if (code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'EAI_AGAIN' || code === 'ENETUNREACH' || code === 'EHOSTUNREACH' || code === 'EPIPE') return code;
  if (code === 'ECONNRESET' || e?.message === 'socket hang up' || code === 'ERR_STREAM_PREMATURE_CLOSE') return 'ECONNRESET';
  if (TLS_CODES.test(code) || /ssl|tls|certificate/i.test(e?.message ?? '')) return 'ETLS';
  return code !== '' ? code : 'EIO';
}

/** Whether a network failure is worth another try. */
export function isRetryableNetworkError(err: unknown): boolean {
  return NETWORK_RETRYABLE.has(networkErrorCode(err));
}

/** The delay a `Retry-After` header asks for, in milliseconds (seconds or an HTTP date), or undefined. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/** Reads a response body whole, refusing (RegistryError `ETOOLARGE`) more than `limit` bytes. */
export async function readBody(res: RegistryResponse | IncomingMessage, limit: number, what: string, details: RegistryErrorDetails = {}): Promise<Buffer> {
  const body = 'body' in res ? res.body : res;
  const declared = Number(body.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    body.destroy();
    throw new RegistryError(`${what} is ${declared} bytes, more than the ${limit} accepted`, 'ETOOLARGE', details);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        body.destroy();
        throw new RegistryError(`${what} is more than the ${limit} bytes accepted`, 'ETOOLARGE', details);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    throw new RegistryError(`reading ${what}: ${(err as Error).message}`, networkErrorCode(err), { ...details, cause: err });
  }
  return Buffer.concat(chunks);
}

/** The error a registry's non-2xx answer stands for (reads the Distribution error body). */
export async function responseError(res: RegistryResponse, what: string, details: RegistryErrorDetails = {}): Promise<RegistryError> {
  let registryCode: string | undefined;
  let message = '';
  if (res.body.readableEnded || res.body.destroyed) {
    // nothing to read
  } else {
    try {
      const text = (await readBody(res, 64 * 1024, 'error body')).toString('utf8');
      try {
        const parsed = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string; detail?: unknown }> };
        const first = parsed.errors?.[0];
        registryCode = first?.code;
        message = parsed.errors?.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ') ?? '';
      } catch {
        message = text.slice(0, 200).trim();
      }
    } catch {
      // the body could not be read; the status says enough
    }
  }
  const s = res.status;
  // A 401 that still says insufficient_scope after the token was re-asked: authenticated, not allowed.
  const insufficient = s === 401 && res.withCredentials === true && parseChallenges(res.headers['www-authenticate']).some((c) => c.params['error'] === 'insufficient_scope');
  const code =
    insufficient ? 'EDENIED'
    : s === 401 ? 'EUNAUTHORIZED'
    : s === 403 ? 'EDENIED'
    : s === 404 ? 'ENOENT'
    : s === 413 ? 'ETOOLARGE'
    : s === 429 ? 'ETOOMANYREQUESTS'
    : s === 415 || registryCode === 'MANIFEST_INVALID' && /media ?type/i.test(message) ? 'EUNSUPPORTEDMEDIATYPE'
    : registryCode === 'DIGEST_INVALID' || registryCode === 'BLOB_UPLOAD_INVALID' && /digest/i.test(message) ? 'EDIGEST'
    : registryCode === 'NAME_UNKNOWN' || registryCode === 'MANIFEST_UNKNOWN' || registryCode === 'BLOB_UNKNOWN' ? 'ENOENT'
    : registryCode === 'DENIED' ? 'EDENIED'
    : registryCode === 'UNAUTHORIZED' ? 'EUNAUTHORIZED'
    : 'EHTTP';
  const where = [details.registry, details.repository].filter(Boolean).join('/');
  return new RegistryError(`${what}${where === '' ? '' : ` (${where}${details.digest ? `@${details.digest}` : ''})`}: HTTP ${s}${message === '' ? '' : ` ${message}`}`, code, { ...details, status: s, registryCode });
}

/** Drains and discards a response body. */
function discard(res: IncomingMessage): void {
  res.resume();
  res.on('error', () => undefined);
}

/** A registry client: configuration, learnt state and connections, shared by every operation given it. */
export class RegistryClient {
  /** The options it was made with. */
  readonly options: Readonly<RegistryClientOptions>;
  /** Cached bearer tokens. */
  readonly tokens = new TokenCache();
  private readonly challenges = new Map<string, AuthChallenge | null>();
  private readonly schemes = new Map<string, 'https' | 'http'>();
  private readonly inflightTokens = new Map<string, Promise<string>>();
  private httpAgentMade: HttpAgent | undefined;
  private readonly httpsAgents = new Map<string, HttpsAgent>();
  private readonly tlsFiles = new Map<string, Promise<{ ca: Buffer[]; cert?: Buffer; key?: Buffer }>>();
  private readonly insecureHosts: Set<string>;
  private readonly credentialCache = new Map<string, Promise<Credentials | undefined>>();

  constructor(options: RegistryClientOptions = {}) {
    this.options = options;
    this.insecureHosts = new Set((options.insecure ?? []).map((h) => registryHostKey(h)));
  }

  /** Closes idle keep-alive connections (the client stays usable). */
  close(): void {
    this.httpAgentMade?.destroy();
    for (const a of this.httpsAgents.values()) a.destroy();
    this.httpsAgents.clear();
  }

  /** Whether `host` was named insecure. */
  isInsecure(host: string): boolean {
    return this.insecureHosts.has(registryHostKey(host));
  }

  /** The host a registry name is served from (`docker.io` is `registry-1.docker.io`). */
  static upstreamHost(registry: string): string {
    return registryHostKey(registry) === 'docker.io' ? 'registry-1.docker.io' : registry.toLowerCase();
  }

  /**
   * The endpoints to try for a registry, in order: its mirrors first (pulls only), then the
   * registry itself. An insecure registry's scheme is found by trying HTTPS (unverified) and
   * falling back to HTTP, once per client.
   */
  async endpoints(registry: string, purpose: 'pull' | 'push', signal?: AbortSignal): Promise<Endpoint[]> {
    const out: Endpoint[] = [];
    if (purpose === 'pull') {
      const key = registryHostKey(registry);
      const mirrors = Object.entries(this.options.mirrors ?? {}).find(([k]) => registryHostKey(k) === key)?.[1] ?? [];
      for (const m of mirrors) out.push(this.mirrorEndpoint(registry, m));
    }
    out.push(await this.endpoint(registry, signal));
    return out;
  }

  private mirrorEndpoint(registry: string, url: string): Endpoint {
    let u: URL;
    try {
      u = new URL(/^[a-z]+:\/\//i.test(url) ? url : `https://${url}`);
    } catch (err) {
      throw new RegistryError(`invalid mirror URL ${JSON.stringify(url)}`, 'EINVALIDCONFIG', { registry, cause: err });
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new RegistryError(`mirror URL ${url} is neither http nor https`, 'EINVALIDCONFIG', { registry });
    const prefix = u.pathname.replace(/\/+$/, '').replace(/\/v2$/, '');
    // A mirror named with http:// is named insecure by that; an https one is verified unless its host is insecure.
    return { registry, host: u.host, scheme: u.protocol === 'http:' ? 'http' : 'https', insecure: u.protocol === 'https:' && this.isInsecure(u.host), mirror: true, prefix };
  }

  /** The registry's own endpoint (no mirror). */
  async endpoint(registry: string, signal?: AbortSignal): Promise<Endpoint> {
    const host = RegistryClient.upstreamHost(registry);
    const insecure = this.isInsecure(registry) || this.isInsecure(host);
    const base: Endpoint = { registry, host, scheme: 'https', insecure, mirror: false, prefix: '' };
    if (!insecure) return base;
    const known = this.schemes.get(host);
    if (known !== undefined) return { ...base, scheme: known };
    // Docker's order for an insecure registry: HTTPS without verification, then plain HTTP.
    let scheme: 'https' | 'http' = 'https';
    try {
      const res = await this.raw(base, { method: 'GET', path: '/v2/', ...(signal ? { signal } : {}) }, new URL(`https://${host}/v2/`), {}, 10_000);
      discard(res);
    } catch (err) {
      const code = networkErrorCode(err);
      if (code === 'EABORTED') throw new RegistryError('operation aborted', 'EABORTED', { registry, cause: err });
      if (code === 'ETLS' || code === 'ECONNRESET' || code === 'ECONNREFUSED' || code === 'EPROTO') scheme = 'http';
      else throw new RegistryError(`cannot reach registry ${registry}: ${(err as Error).message}`, code, { registry, cause: err });
    }
    this.schemes.set(host, scheme);
    return { ...base, scheme };
  }

  /** The credentials for a registry host, or undefined (anonymous); looked up once per client. */
  credentialsFor(registry: string): Promise<Credentials | undefined> {
    const key = registryHostKey(registry);
    let p = this.credentialCache.get(key);
    if (p === undefined) {
      p = (async () => {
        const direct = Object.entries(this.options.auth ?? {}).find(([k]) => registryHostKey(k) === key)?.[1];
        if (direct !== undefined) return direct;
        const src = this.options.credentials;
        if (src === undefined) return undefined;
        return src instanceof CredentialStore ? src.get(registry) : src(registry);
      })();
      p.catch(() => this.credentialCache.delete(key));
      this.credentialCache.set(key, p);
    }
    return p;
  }

  /** Credentials for an endpoint: a mirror's own, else none (a mirror never gets the upstream's credentials). */
  private endpointCredentials(ep: Endpoint): Promise<Credentials | undefined> {
    return this.credentialsFor(ep.mirror ? ep.host : ep.registry);
  }

  /** The URL of a path on an endpoint. */
  url(ep: Endpoint, p: string): URL {
    if (/^https?:\/\//i.test(p)) return new URL(p);
    return new URL(`${ep.scheme}://${ep.host}${ep.prefix}${p}`);
  }

  private async tlsFor(host: string): Promise<{ ca: Buffer[]; cert?: Buffer; key?: Buffer }> {
    let p = this.tlsFiles.get(host);
    if (p === undefined) {
      p = (async () => {
        const ca: Buffer[] = [];
        let cert: Buffer | undefined;
        let key: Buffer | undefined;
        const given = Object.entries(this.options.ca ?? {}).find(([k]) => registryHostKey(k) === registryHostKey(host))?.[1];
        if (given !== undefined) ca.push(Buffer.from(given));
        if (this.options.certsDir !== undefined) {
          const dir = path.join(this.options.certsDir, host);
          const names = await readdir(dir).catch(() => [] as string[]);
          for (const n of names.sort()) {
            if (n.endsWith('.crt')) ca.push(await readFile(path.join(dir, n)));
            else if (n.endsWith('.cert')) {
              cert = await readFile(path.join(dir, n));
              key = await readFile(path.join(dir, n.replace(/\.cert$/, '.key')));
            }
          }
        }
        return { ca, ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
      })();
      this.tlsFiles.set(host, p);
    }
    return p;
  }

  private get httpAgent(): HttpAgent {
    return (this.httpAgentMade ??= new (http().Agent)({ keepAlive: true, maxSockets: 32 }));
  }

  private async agentFor(url: URL, ep: Endpoint): Promise<HttpAgent> {
    if (url.protocol === 'http:') return this.httpAgent;
    const sameHost = url.host === ep.host;
    const insecure = sameHost && ep.insecure;
    const tls = await this.tlsFor(url.host);
    const key = `${url.host}|${insecure}`;
    let agent = this.httpsAgents.get(key);
    if (agent === undefined) {
      const { rootCertificates } = await import('node:tls');
      agent = new (https().Agent)({
        keepAlive: true,
        maxSockets: 32,
        rejectUnauthorized: !insecure,
        ...(tls.ca.length > 0 ? { ca: [...rootCertificates, ...tls.ca.map((b) => b.toString('utf8'))] } : {}),
        ...(tls.cert ? { cert: tls.cert } : {}),
        ...(tls.key ? { key: tls.key } : {}),
      });
      this.httpsAgents.set(key, agent);
    }
    return agent;
  }

  /** One HTTP exchange, no retries: resolves with the response once its headers are in. */
  private async raw(ep: Endpoint, req: RegistryRequest, url: URL, headers: Record<string, string>, timeout = this.options.timeout ?? 60_000): Promise<IncomingMessage> {
    const agent = await this.agentFor(url, ep);
    const mod = url.protocol === 'https:' ? https() : http();
    const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : req.body();
    const allHeaders: Record<string, string> = { 'User-Agent': this.options.userAgent ?? DEFAULT_UA, ...headers };
    if (Buffer.isBuffer(body)) allHeaders['Content-Length'] = String(body.length);
    else if (body !== undefined && req.bodyLength !== undefined) allHeaders['Content-Length'] = String(req.bodyLength);
    else if (body === undefined && (req.method === 'PUT' || req.method === 'POST' || req.method === 'PATCH')) allHeaders['Content-Length'] = '0';
    return new Promise<IncomingMessage>((resolve, reject) => {
      const r = mod.request(url, { method: req.method, headers: allHeaders, agent, ...(req.signal ? { signal: req.signal } : {}) }, resolve);
      r.setTimeout(timeout, () => r.destroy(Object.assign(new Error(`no answer from ${url.host} in ${timeout} ms`), { code: 'ETIMEDOUT' })));
      r.on('error', (err) => {
        if (body !== undefined && !Buffer.isBuffer(body)) body.destroy();
        reject(err);
      });
      if (body === undefined) r.end();
      else if (Buffer.isBuffer(body)) r.end(body);
      else {
        body.on('error', (err) => r.destroy(err));
        body.pipe(r);
      }
    });
  }

  /** The delay before retry `attempt` (0-based): exponential with jitter, capped. */
  private backoff(attempt: number): number {
    const base = this.options.retryDelay ?? 200;
    const max = this.options.maxRetryDelay ?? 30_000;
    return Math.min(max, base * 2 ** attempt * (0.5 + Math.random() / 2));
  }

  private async wait(ms: number, signal: AbortSignal | undefined, details: RegistryErrorDetails): Promise<void> {
    try {
      await sleep(ms, undefined, signal ? { signal } : {});
    } catch (err) {
      throw new RegistryError('operation aborted', 'EABORTED', { ...details, cause: err });
    }
  }

  /**
   * Sends a request with auth, redirects and retries. Returns the final response whatever its
   * status (after retries of 429 and 5xx ran out, and a 401 that re-authorising did not cure);
   * network failures that outlast the retries throw a {@link RegistryError}.
   */
  async send(ep: Endpoint, req: RegistryRequest): Promise<RegistryResponse> {
    const details: RegistryErrorDetails = { registry: ep.registry, ...(req.repository ? { repository: req.repository } : {}), ...(req.digest ? { digest: req.digest } : {}) };
    const retries = this.options.retries ?? 5;
    const replayable = req.body === undefined || Buffer.isBuffer(req.body) || typeof req.body === 'function';
    let scopes = mergeScopes(req.scopes ?? []);
    let url = this.url(ep, req.path);
    let attempt = 0;
    let reauth = 0;
    let redirects = 0;
    for (;;) {
      throwIfAborted(req.signal, details);
      const sameHost = url.host === ep.host;
      const headers: Record<string, string> = { ...(req.headers ?? {}) };
      if (sameHost) {
        const authz = await this.authorization(ep, scopes, req.signal);
        if (authz !== undefined) headers['Authorization'] = authz;
      }
      let res: IncomingMessage;
      try {
        res = await this.raw(ep, req, url, headers);
      } catch (err) {
        const code = networkErrorCode(err);
        if (code === 'EABORTED' || req.signal?.aborted) throw new RegistryError('operation aborted', 'EABORTED', { ...details, cause: err });
        if (isRetryableNetworkError(err) && replayable && !req.noRetry && attempt < retries) {
          await this.wait(this.backoff(attempt++), req.signal, details);
          continue;
        }
        const hint = code === 'ETLS' && ep.scheme === 'https' && !ep.insecure ? ` (is the CA trusted? a plain-HTTP registry must be named insecure)` : '';
        throw new RegistryError(`cannot reach registry ${ep.host} (${url.protocol}//${url.host}): ${(err as Error).message}${hint}`, code, { ...details, cause: err });
      }
      const status = res.statusCode ?? 0;
      const response: RegistryResponse = { status, headers: res.headers, body: res, url, withCredentials: sameHost && (await this.endpointCredentials(ep)) !== undefined };
      if (status === 401 && sameHost) {
        const ch = pickChallenge(parseChallenges(res.headers['www-authenticate']));
        const before = this.challenges.get(endpointKey(ep));
        this.challenges.set(endpointKey(ep), ch ?? null);
        if (ch !== undefined && reauth < 2) {
          const wanted = ch.params['scope'];
          const insufficient = ch.params['error'] === 'insufficient_scope';
          if (ch.scheme === 'bearer') this.forgetToken(ep, ch, scopes, await this.endpointCredentials(ep));
          if (wanted !== undefined && wanted !== '') scopes = mergeScopes([...scopes, wanted]);
          // Retry when something changed: a first challenge, a scope to add, or a token to re-ask.
          if (before === undefined || before?.scheme !== ch.scheme || insufficient || reauth === 0) {
            if (replayable) {
              reauth++;
              discard(res);
              continue;
            }
          }
        }
        return response;
      }
      if (status >= 300 && status < 400 && res.headers.location !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
        discard(res);
        if (++redirects > 10) throw new RegistryError(`too many redirects from ${ep.host}`, 'EHTTP', details);
        url = new URL(res.headers.location, url);
        continue;
      }
      if (STATUS_RETRYABLE.has(status) && replayable && !req.noRetry && attempt < retries) {
        const after = retryAfterMs(res.headers['retry-after']);
        discard(res);
        const max = this.options.maxRetryDelay ?? 30_000;
        await this.wait(after !== undefined ? Math.min(after, max) : this.backoff(attempt), req.signal, details);
        attempt++;
        continue;
      }
      return response;
    }
  }

  /** The `Authorization` header for a request with `scopes` to an endpoint, from what its last challenge asked for. */
  private async authorization(ep: Endpoint, scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    const ch = this.challenges.get(endpointKey(ep));
    if (ch === undefined || ch === null) return undefined;
    const creds = await this.endpointCredentials(ep);
    if (ch.scheme === 'basic') return creds !== undefined && creds.username !== undefined ? basicAuth(creds) : undefined;
    if (ch.scheme === 'bearer') return `Bearer ${await this.token(ep, ch, scopes, creds, signal)}`;
    return undefined;
  }

  private tokenKey(ch: AuthChallenge, scopes: string[], creds: Credentials | undefined): string {
    return TokenCache.key(ch.params['realm'] ?? '', ch.params['service'], creds?.username ?? (creds?.identityToken !== undefined ? '<token>' : undefined), scopes);
  }

  private forgetToken(ep: Endpoint, ch: AuthChallenge, scopes: string[], creds: Credentials | undefined): void {
    void ep;
    this.tokens.delete(this.tokenKey(ch, scopes, creds));
  }

  /** A bearer token for `scopes` (cached, or fetched from the challenge's realm). */
  async token(ep: Endpoint, ch: AuthChallenge, scopes: string[], creds: Credentials | undefined, signal?: AbortSignal): Promise<string> {
    const key = this.tokenKey(ch, scopes, creds);
    const cached = this.tokens.get(key);
    if (cached !== undefined) return cached;
    let p = this.inflightTokens.get(key);
    if (p === undefined) {
      p = this.fetchToken(ep, ch, scopes, creds, signal).finally(() => this.inflightTokens.delete(key));
      this.inflightTokens.set(key, p);
    }
    return p;
  }

  private async fetchToken(ep: Endpoint, ch: AuthChallenge, scopes: string[], creds: Credentials | undefined, signal?: AbortSignal): Promise<string> {
    const details: RegistryErrorDetails = { registry: ep.registry };
    const realm = ch.params['realm'];
    if (realm === undefined || realm === '') throw new RegistryError(`registry ${ep.host} asks for a bearer token but names no realm`, 'EUNAUTHORIZED', details);
    let url: URL;
    try {
      url = new URL(realm);
    } catch (err) {
      throw new RegistryError(`registry ${ep.host} names an invalid token realm ${JSON.stringify(realm)}`, 'EUNAUTHORIZED', { ...details, cause: err });
    }
    if (url.protocol === 'http:' && ep.scheme !== 'http' && !this.isInsecure(url.host)) {
      throw new RegistryError(`registry ${ep.host} sends credentials to a plain-HTTP token realm ${realm}; name ${url.host} insecure to allow it`, 'EINSECURE', details);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RegistryError(`token realm ${realm} is neither http nor https`, 'EUNAUTHORIZED', details);
    const service = ch.params['service'];
    const realmEp: Endpoint = { ...ep, host: url.host, scheme: url.protocol === 'http:' ? 'http' : 'https', insecure: this.isInsecure(url.host), prefix: '' };
    const req: RegistryRequest = { method: 'GET', path: '', ...(signal ? { signal } : {}) };
    const headers: Record<string, string> = {};
    if (creds?.identityToken !== undefined) {
      // OAuth2 refresh-token grant, as docker does with an identity token.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'berth', ...(service ? { service } : {}) });
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      req.method = 'POST';
      req.body = Buffer.from(form.toString());
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    } else {
      if (service !== undefined) url.searchParams.set('service', service);
      for (const s of scopes) url.searchParams.append('scope', s);
      if (creds?.username !== undefined && creds.username !== '') {
        url.searchParams.set('account', creds.username);
        headers['Authorization'] = basicAuth(creds);
      }
    }
    const retries = this.options.retries ?? 5;
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal, details);
      let res: IncomingMessage;
      try {
        res = await this.raw(realmEp, req, url, headers);
      } catch (err) {
        if (networkErrorCode(err) === 'EABORTED') throw new RegistryError('operation aborted', 'EABORTED', { ...details, cause: err });
        if (isRetryableNetworkError(err) && attempt < retries) {
          await this.wait(this.backoff(attempt), signal, details);
          continue;
        }
        throw new RegistryError(`cannot reach the token server ${url.host} of ${ep.host}: ${(err as Error).message}`, networkErrorCode(err), { ...details, cause: err });
      }
      const status = res.statusCode ?? 0;
      if (STATUS_RETRYABLE.has(status) && attempt < retries) {
        const after = retryAfterMs(res.headers['retry-after']);
        discard(res);
        await this.wait(after ?? this.backoff(attempt), signal, details);
        continue;
      }
      const response: RegistryResponse = { status, headers: res.headers, body: res, url };
      if (status === 401 || status === 403) {
        const e = await responseError(response, `token server ${url.host} refused ${creds?.username !== undefined ? `the credentials of ${creds.username}` : 'an anonymous token'} for ${scopes.join(' ') || 'login'}`, details);
        throw new RegistryError(e.message, 'EUNAUTHORIZED', { ...details, status });
      }
      if (status !== 200) throw await responseError(response, `token server ${url.host}`, details);
      const body = await readBody(response, SMALL_BODY_LIMIT, 'token response', details);
      let parsed: TokenResponse;
      try {
        parsed = JSON.parse(body.toString('utf8')) as TokenResponse;
      } catch (err) {
        throw new RegistryError(`token server ${url.host} answered something that is not JSON`, 'EUNAUTHORIZED', { ...details, cause: err });
      }
      const t = tokenOf(parsed);
      if (t === undefined) throw new RegistryError(`token server ${url.host} answered without a token`, 'EUNAUTHORIZED', details);
      this.tokens.set(this.tokenKey(ch, scopes, creds), t.token, t.lifetime);
      return t.token;
    }
  }

  /**
   * Pings a registry's `/v2/` (with the caller's credentials, when it asks for them): the
   * endpoint that answered, its API version and challenges. RegistryError for a host that
   * cannot be reached, `EUNAUTHORIZED` for credentials it refuses, `EHTTP` for a server that is
   * not a v2 registry.
   */
  async ping(registry: string, options: { signal?: AbortSignal } = {}): Promise<PingResult> {
    const ep = await this.endpoint(registry, options.signal);
    const res = await this.send(ep, { method: 'GET', path: '/v2/', ...(options.signal ? { signal: options.signal } : {}) });
    const challenges = parseChallenges(res.headers['www-authenticate']);
    const apiVersion = res.headers['docker-distribution-api-version'] as string | undefined;
    if (res.status === 200) {
      discard(res.body);
      return { endpoint: ep, apiVersion, challenges: this.knownChallenges(ep), authenticated: this.challenges.get(endpointKey(ep)) != null };
    }
    if (res.status === 401) {
      const creds = await this.endpointCredentials(ep);
      if (creds !== undefined) throw await responseError(res, `registry ${ep.host} refused the credentials of ${creds.username ?? 'the identity token'}`, { registry });
      discard(res.body);
      return { endpoint: ep, apiVersion, challenges, authenticated: false };
    }
    throw await responseError(res, `registry ${ep.host} is not a Docker Registry v2 (GET /v2/)`, { registry });
  }

  private knownChallenges(ep: Endpoint): AuthChallenge[] {
    const ch = this.challenges.get(endpointKey(ep));
    return ch == null ? [] : [ch];
  }
}

/** The challenge berth answers: bearer before basic. */
function pickChallenge(all: AuthChallenge[]): AuthChallenge | undefined {
  return all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic');
}

function endpointKey(ep: Endpoint): string {
  return `${ep.scheme}://${ep.host}${ep.prefix}`;
}
