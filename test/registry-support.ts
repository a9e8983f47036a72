// Real registries for the registry tests: Debian's docker-registry (Distribution 2.8) started
// on 127.0.0.1 with a free port and a temp storage dir — plain, with htpasswd, with token auth
// (a token server of the test's own signing ES256 JWTs with a key whose certificate the
// registry trusts), over TLS with a CA the test generates — and a fault-injecting proxy.
// Every process started here is stopped by its pid; nothing system-wide is touched.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, createPrivateKey, createSign, randomBytes, X509Certificate } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { compressStream, type Digest } from '../src/index.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';


/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** TLS material made with openssl: a CA, a server cert for 127.0.0.1 signed by it, and a token-signing key with a self-signed cert. */
export interface Pki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  tokenKey: string;
  tokenCert: string;
}

export async function makePki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true });
  const f = (n: string): string => path.join(dir, n);
  const ossl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore' });
  };
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=berth test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1');
  await writeFile(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n');
  ossl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('server.ext'));
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('token.key'), '-out', f('token.crt'), '-days', '2', '-subj', '/CN=berth test token issuer');
  return { dir, caCert: f('ca.crt'), serverCert: f('server.crt'), serverKey: f('server.key'), tokenKey: f('token.key'), tokenCert: f('token.crt') };
}

export interface RegistryOptions {
  /** htpasswd file content (bcrypt lines). */
  htpasswd?: string;
  /** Token auth: the realm URL and the cert bundle of the signing key. */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
  /** Serve TLS with this cert and key. */
  tls?: { cert: string; key: string };
}

export interface RunningRegistry {
  port: number;
  /** `127.0.0.1:<port>`. */
  host: string;
  dir: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Starts a docker-registry with its own storage and config; resolves once it answers. */
export async function startRegistry(base: string, options: RegistryOptions = {}): Promise<RunningRegistry> {
  const dir = await mkdtemp(path.join(base, 'registry-'));
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  if (options.tls) lines.push('  tls:', `    certificate: ${options.tls.cert}`, `    key: ${options.tls.key}`);
  if (options.htpasswd !== undefined) {
    await writeFile(path.join(dir, 'htpasswd'), options.htpasswd);
    lines.push('auth:', '  htpasswd:', '    realm: berth-test', `    path: ${path.join(dir, 'htpasswd')}`);
  } else if (options.token) {
    const t = options.token;
    lines.push('auth:', '  token:', `    realm: ${t.realm}`, `    service: ${t.service}`, `    issuer: ${t.issuer}`, `    rootcertbundle: ${t.rootCertBundle}`);
  }
  await writeFile(path.join(dir, 'config.yml'), `${lines.join('\n')}\n`);
  const log = createWriteStream(path.join(dir, 'registry.log'));
  const proc = spawn(REGISTRY_BIN, ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.pipe(log);
  proc.stderr!.pipe(log);
  let exited = false;
  proc.on('exit', () => (exited = true));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited) throw new Error(`docker-registry exited at start: ${readFileSync(path.join(dir, 'registry.log'), 'utf8')}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error('docker-registry did not start listening');
    await sleep(50);
  }
  return {
    port,
    host: `127.0.0.1:${port}`,
    dir,
    proc,
    stop: async () => {
      if (!exited && proc.pid !== undefined) {
        const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
        process.kill(proc.pid, 'SIGTERM');
        await Promise.race([gone, sleep(5000)]);
        if (!exited) process.kill(proc.pid, 'SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A bcrypt htpasswd line, made by htpasswd (apache2-utils). */
export function htpasswdLine(user: string, password: string): string {
  return execFileSync('htpasswd', ['-Bbn', user, password], { encoding: 'utf8' }).trim();
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export interface TokenServer {
  url: string;
  /** Every token request: the scopes, the account, whether credentials were right. */
  requests: Array<{ scopes: string[]; account: string | undefined; ok: boolean }>;
  close(): Promise<void>;
}

/**
 * A token server: `users` (name → password) authenticate with basic auth; `acl(user, repo)`
 * says what actions a user (undefined: anonymous) gets on a repository. Tokens are ES256 JWTs
 * with the signing cert in `x5c`, which the registry checks against its rootcertbundle.
 */
export async function startTokenServer(pki: Pki, options: { service: string; issuer: string; users: Record<string, string>; acl: (user: string | undefined, repo: string) => string[]; expiresIn?: number }): Promise<TokenServer> {
  const key = createPrivateKey(readFileSync(pki.tokenKey));
  const certDer = new X509Certificate(readFileSync(pki.tokenCert)).raw;
  const requests: TokenServer['requests'] = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const scopes = u.searchParams.getAll('scope');
    let user: string | undefined;
    const authz = req.headers.authorization;
    if (authz?.startsWith('Basic ')) {
      const [name, pass] = Buffer.from(authz.slice(6), 'base64').toString().split(':');
      if (options.users[name!] !== pass) {
        requests.push({ scopes, account: name, ok: false });
        res.writeHead(401, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
        return;
      }
      user = name;
    }
    requests.push({ scopes, account: user, ok: true });
    const access: Array<{ type: string; name: string; actions: string[] }> = [];
    for (const s of scopes.flatMap((x) => x.split(' '))) {
      const [type, ...rest] = s.split(':');
      const actions = rest.pop()!.split(',');
      const name = rest.join(':');
      if (type === 'repository') {
        const allowed = options.acl(user, name);
        access.push({ type, name, actions: actions.filter((a) => allowed.includes(a)) });
      } else if (type === 'registry' && user !== undefined) access.push({ type, name, actions });
    }
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = options.expiresIn ?? 300;
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
    const claims = { iss: options.issuer, sub: user ?? '', aud: options.service, exp: now + expiresIn, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('SHA256').update(input).sign({ key, dsaEncoding: 'ieee-p1363' });
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: `${input}.${b64url(sig)}`, expires_in: expiresIn, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/token`, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** One fault the proxy injects, once, into the first request it matches. */
export type Fault =
  | { kind: 'cut'; match: RegExp; method?: string; at?: number }
  | { kind: 'status'; match: RegExp; method?: string; status: number; headers?: Record<string, string>; body?: string }
  | { kind: 'flip'; match: RegExp; method?: string; offset?: number }
  | { kind: 'replace'; match: RegExp; method?: string; status?: number; headers: Record<string, string>; body: Buffer };

export interface FaultProxy {
  port: number;
  host: string;
  faults: Fault[];
  /** Requests seen: method, path, Range header, and when. */
  log: Array<{ method: string; url: string; range: string | undefined; at: number; fault?: string }>;
  close(): Promise<void>;
}

/** A proxy on 127.0.0.1 in front of `upstream` that injects `faults` (each once, in order of match). */
export async function startFaultProxy(upstreamPort: number): Promise<FaultProxy> {
  const faults: Fault[] = [];
  const log: FaultProxy['log'] = [];
  const server = http.createServer((req, res) => {
    const i = faults.findIndex((f) => f.match.test(req.url ?? '') && (f.method === undefined || f.method === req.method));
    const fault = i >= 0 ? faults.splice(i, 1)[0] : undefined;
    log.push({ method: req.method ?? '', url: req.url ?? '', range: req.headers.range, at: Date.now(), ...(fault ? { fault: fault.kind } : {}) });
    if (fault?.kind === 'status') {
      req.resume();
      res.writeHead(fault.status, fault.headers ?? {}).end(fault.body ?? '');
      return;
    }
    if (fault?.kind === 'replace') {
      req.resume();
      res.writeHead(fault.status ?? 200, { ...fault.headers, 'Content-Length': String(fault.body.length) }).end(fault.body);
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: { ...req.headers, host: `127.0.0.1:${upstreamPort}` } }, (ur) => {
      const headers = { ...ur.headers };
      if (ur.headers.location?.startsWith(`http://127.0.0.1:${upstreamPort}`)) headers.location = ur.headers.location.replace(`:${upstreamPort}`, `:${port}`);
      res.writeHead(ur.statusCode ?? 502, headers);
      if (fault?.kind === 'cut' && ur.statusCode === 200) {
        const total = Number(ur.headers['content-length']);
        const cutAt = fault.at ?? Math.floor(total / 2);
        let sent = 0;
        ur.on('data', (c: Buffer) => {
          if (sent >= cutAt) return;
          const part = c.subarray(0, cutAt - sent);
          sent += part.length;
          if (sent >= cutAt) {
            ur.destroy();
            // let the bytes go out, then drop the connection mid-body
            res.write(part, () => setTimeout(() => res.socket?.destroy(), 20));
          } else res.write(part);
        });
        return;
      }
      if (fault?.kind === 'flip' && ur.statusCode === 200) {
        let seen = 0;
        const at = fault.offset ?? 100;
        ur.on('data', (c: Buffer) => {
          if (at >= seen && at < seen + c.length) {
            c = Buffer.from(c);
            c[at - seen] ^= 0xff;
          }
          seen += c.length;
          res.write(c);
        });
        ur.on('end', () => res.end());
        return;
      }
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    host: `127.0.0.1:${port}`,
    faults,
    log,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const sha = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A tar of `files` (path → content), entries in order, fixed mtime. */
export async function tarOf(files: Record<string, string | Buffer>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => pack.on('end', r));
  for (const [name, content] of Object.entries(files)) {
    if (name.endsWith('/')) pack.entry({ name, type: 'directory', mode: 0o755, mtime: new Date(0) });
    else pack.entry({ name, mode: 0o755, mtime: new Date(0) }, Buffer.from(content));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function zstd(b: Buffer): Promise<Buffer> {
  const z = compressStream('zstd');
  const out: Buffer[] = [];
  z.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((r) => z.on('end', r));
  z.end(b);
  await done;
  return Buffer.concat(out);
}

export interface LayoutImage {
  platform: { os: string; architecture: string; variant?: string };
  /** Uncompressed layer tars, bottom first. */
  layers: Buffer[];
  cmd?: string[];
}

/**
 * Writes an OCI image layout with one image, or an index of several (with an attestation entry
 * as BuildKit adds), layers compressed as asked; returns the layout dir and the manifests.
 */
export async function writeOciLayout(dir: string, images: LayoutImage[], compression: 'gzip' | 'zstd' | 'none', options: { attestation?: boolean; tag?: string } = {}): Promise<{ dir: string; manifests: Digest[] }> {
  await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (b: Buffer): Promise<Digest> => {
    const d = sha(b);
    await writeFile(path.join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const entries: Array<Record<string, unknown>> = [];
  const manifests: Digest[] = [];
  for (const img of images) {
    const layers = [];
    for (const t of img.layers) {
      const blob = compression === 'gzip' ? gzipSync(t) : compression === 'zstd' ? await zstd(t) : t;
      layers.push({ mediaType: `application/vnd.oci.image.layer.v1.tar${compression === 'none' ? '' : `+${compression}`}`, digest: await put(blob), size: blob.length });
    }
    const config = Buffer.from(JSON.stringify({ ...img.platform, created: '2024-01-01T00:00:00Z', config: { Cmd: img.cmd ?? ['sh'] }, rootfs: { type: 'layers', diff_ids: img.layers.map(sha) }, history: img.layers.map(() => ({ created_by: 'test' })) }));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(config), size: config.length }, layers }));
    const md = await put(manifest);
    manifests.push(md);
    entries.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, platform: img.platform });
  }
  let top: Record<string, unknown>;
  if (images.length === 1 && !options.attestation) {
    top = { ...entries[0], annotations: { 'org.opencontainers.image.ref.name': options.tag ?? 'latest' } };
    delete top['platform'];
  } else {
    if (options.attestation) {
      const cfg = Buffer.from('{}');
      const att = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(cfg), size: cfg.length }, layers: [] }));
      entries.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: await put(att), size: att.length, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': manifests[0] } });
    }
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries }));
    top = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: await put(index), size: index.length, annotations: { 'org.opencontainers.image.ref.name': options.tag ?? 'latest' } };
  }
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [top] }));
  return { dir, manifests };
}

/** Runs a command, returning stdout; throws with stderr on failure. */
export function sh(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeout ?? 120_000, env: options.env ?? process.env, maxBuffer: 64 << 20 });
}

export const tmpBase = (): Promise<string> => mkdtemp(path.join(os.tmpdir(), 'berth-registry-'));

/** Runs a command without blocking the event loop (needed when it talks to a server of this process). */
export function shAsync(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: options.timeout ?? 120_000, env: options.env ?? process.env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}
