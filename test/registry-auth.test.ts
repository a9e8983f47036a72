// Registry auth and transport security against real docker-registry processes on 127.0.0.1:
// htpasswd basic auth with login/logout through a docker-style config.json; bearer tokens from
// a token server of the test's own (ES256 JWTs the registry verifies against the signing cert),
// cached by scope and re-asked on insufficient_scope; TLS with a CA the test generates.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile, copyFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createBusyboxRootfs,
  CredentialStore,
  Engine,
  listCatalog,
  login,
  logout,
  pull,
  pullImage,
  push,
  pushImage,
  RegistryClient,
  RegistryError,
  repositoryScope,
} from '../src/index.js';
import {
  REGISTRY_BIN,
  htpasswdLine,
  makePki,
  sh,
  shAsync,
  startRegistry,
  startTokenServer,
  tmpBase,
  writeOciLayout,
  type Pki,
  type RunningRegistry,
  type TokenServer,
} from './registry-support.js';
import { installed } from './support.js';

const haveRegistry = installed(import.meta.url, REGISTRY_BIN, 'htpasswd', 'openssl');

describe.skipIf(!haveRegistry)('registry auth and TLS', () => {
  let base: string;
  let pki: Pki;
  let layout: string;
  let busyboxTar: Buffer;
  const stops: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    base = await tmpBase();
    pki = await makePki(path.join(base, 'pki'));
    const rootfs = await createBusyboxRootfs(path.join(base, 'rootfs'));
    busyboxTar = execFileSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 });
    layout = path.join(base, 'layout');
    await writeOciLayout(layout, [{ platform: { os: 'linux', architecture: 'amd64' }, layers: [busyboxTar] }], 'gzip');
  }, 60_000);

  afterAll(async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  });

  describe('htpasswd (basic auth)', () => {
    let reg: RunningRegistry;
    beforeAll(async () => {
      reg = await startRegistry(base, { htpasswd: `${htpasswdLine('alice', 'wonderland')}\n` });
      stops.push(() => reg.stop());
      sh('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', 'alice:wonderland', `oci:${layout}:latest`, `docker://${reg.host}/team/app:1`]);
    }, 60_000);

    it('refuses anonymous and wrong credentials with EUNAUTHORIZED, and writes nothing on a failed login', async () => {
      const anon = new RegistryClient({ insecure: [reg.host], retries: 0 });
      const e1 = await pullImage(anon, (await Engine.open({ root: path.join(base, 'anon'), storageDriver: 'vfs' })).images, `${reg.host}/team/app:1`).catch((e: unknown) => e);
      expect(e1).toBeInstanceOf(RegistryError);
      expect((e1 as RegistryError).code).toBe('EUNAUTHORIZED');
      expect((e1 as RegistryError).registry).toBe(reg.host);
      expect((e1 as RegistryError).repository).toBe('team/app');
      anon.close();
      const file = path.join(base, 'docker-bad', 'config.json');
      const bad = await login(reg.host, { username: 'alice', password: 'nope' }, { store: new CredentialStore(file), client: { insecure: [reg.host] } }).catch((e: unknown) => e);
      expect((bad as RegistryError).code).toBe('EUNAUTHORIZED');
      expect(existsSync(file)).toBe(false);
    });

    it('logs in once into config.json (0600, other keys kept), and later pulls and pushes use it; logout forgets', async () => {
      const dir = path.join(base, 'docker-good');
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths: { 'other.example': { auth: Buffer.from('x:y').toString('base64') } }, psFormat: 'table' }));
      const store = new CredentialStore(path.join(dir, 'config.json'));
      const r = await login(reg.host, { username: 'alice', password: 'wonderland' }, { store, client: { insecure: [reg.host] } });
      expect(r.scheme).toBe('basic');
      const written = JSON.parse(readFileSync(store.file, 'utf8')) as { auths: Record<string, { auth: string }>; psFormat: string };
      expect(written.psFormat).toBe('table');
      expect(Object.keys(written.auths).sort()).toEqual([reg.host, 'other.example'].sort());
      expect(Buffer.from(written.auths[reg.host]!.auth, 'base64').toString()).toBe('alice:wonderland');
      expect(statSync(store.file).mode & 0o777).toBe(0o600);
      // skopeo reads what berth wrote
      sh('skopeo', ['inspect', '--raw', '--tls-verify=false', '--authfile', store.file, `docker://${reg.host}/team/app:1`]);
      const engine = await Engine.open({ root: path.join(base, 'basic-root'), storageDriver: 'overlay2' });
      const client = new RegistryClient({ insecure: [reg.host], credentials: store });
      const pulled = await pull(engine, `${reg.host}/team/app:1`, { client });
      const pushed = await push(engine, pulled.image.id, { client, target: `${reg.host}/team/copy:1` });
      expect(pushed.digest).toBe(pulled.manifestDigest);
      client.close();
      expect(await logout(reg.host, { store })).toBe(true);
      expect(await logout(reg.host, { store })).toBe(false);
      expect(Object.keys((JSON.parse(readFileSync(store.file, 'utf8')) as { auths: object }).auths)).toEqual(['other.example']);
    });
  });

  describe('token auth', () => {
    let reg: RunningRegistry;
    let tokens: TokenServer;
    const service = 'berth-test-registry';
    const issuer = 'berth-test-issuer';
    beforeAll(async () => {
      tokens = await startTokenServer(pki, {
        service,
        issuer,
        users: { alice: 'wonderland', bob: 'builder' },
        // public/* is pullable by anyone; alice may do anything; bob may only pull.
        acl: (user, repo) => (user === 'alice' ? ['pull', 'push', '*'] : user === 'bob' ? ['pull'] : repo.startsWith('public/') ? ['pull'] : []),
      });
      stops.push(() => tokens.close());
      reg = await startRegistry(base, { token: { realm: tokens.url, service, issuer, rootCertBundle: pki.tokenCert } });
      stops.push(() => reg.stop());
      for (const repo of ['public/app', 'private/app']) {
        await shAsync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', 'alice:wonderland', `oci:${layout}:latest`, `docker://${reg.host}/${repo}:1`]);
      }
    }, 60_000);

    it('pulls anonymously where the token server allows it, and caches the token by scope', async () => {
      const client = new RegistryClient({ insecure: [reg.host] });
      const engine = await Engine.open({ root: path.join(base, 'token-anon'), storageDriver: 'overlay2' });
      const before = tokens.requests.length;
      await pull(engine, `${reg.host}/public/app:1`, { client });
      const asked = tokens.requests.slice(before);
      expect(asked.length).toBe(1); // one token for the whole pull (manifest, config, layer)
      expect(asked[0]!.scopes).toEqual([repositoryScope('public/app', ['pull'])]);
      expect(asked[0]!.account).toBeUndefined();
      await pull(engine, `${reg.host}/public/app:1`, { client });
      expect(tokens.requests.length).toBe(before + 1); // cached
      const denied = await pull(engine, `${reg.host}/private/app:1`, { client }).catch((e: unknown) => e);
      expect((denied as RegistryError).code).toBe('EUNAUTHORIZED');
      client.close();
    });

    it('logs in through the token server, pushes with a pull+push token, and re-asks on insufficient_scope', async () => {
      const store = new CredentialStore(path.join(base, 'docker-token', 'config.json'));
      const bad = await login(reg.host, { username: 'alice', password: 'wrong' }, { store, client: { insecure: [reg.host] } }).catch((e: unknown) => e);
      expect((bad as RegistryError).code).toBe('EUNAUTHORIZED');
      expect((await login(reg.host, { username: 'alice', password: 'wonderland' }, { store, client: { insecure: [reg.host] } })).scheme).toBe('bearer');
      const client = new RegistryClient({ insecure: [reg.host], credentials: store });
      const engine = await Engine.open({ root: path.join(base, 'token-alice'), storageDriver: 'overlay2' });
      const pulled = await pull(engine, `${reg.host}/private/app:1`, { client });
      const before = tokens.requests.length;
      const pushed = await push(engine, pulled.image.id, { client, target: `${reg.host}/private/other:2` });
      expect(pushed.layers.map((l) => l.result)).toEqual(['mounted']);
      const asked = tokens.requests.slice(before);
      expect(asked.every((r) => r.account === 'alice' && r.ok)).toBe(true);
      expect(asked.some((r) => r.scopes.includes(repositoryScope('private/other', ['pull', 'push'])) && r.scopes.includes(repositoryScope('private/app', ['pull'])))).toBe(true);
      // A request sent with a pull-only token is refused with insufficient_scope; the client asks again with the scope named.
      const ep = await client.endpoint(reg.host);
      const n = tokens.requests.length;
      const res = await client.send(ep, { method: 'POST', path: '/v2/private/third/blobs/uploads/', scopes: [repositoryScope('private/third', ['pull'])] });
      res.body.resume();
      expect(res.status).toBe(202);
      expect(tokens.requests.slice(n).map((r) => r.scopes)).toEqual([[repositoryScope('private/third', ['pull'])], [repositoryScope('private/third', ['pull', 'push'])]]);
      // Both tokens are cached now: the same request again asks for none.
      const again = await client.send(ep, { method: 'POST', path: '/v2/private/third/blobs/uploads/', scopes: [repositoryScope('private/third', ['pull', 'push'])] });
      again.body.resume();
      expect(again.status).toBe(202);
      expect(tokens.requests.length).toBe(n + 2);
      expect(await listCatalog(client, reg.host)).toEqual(expect.arrayContaining(['private/app', 'private/other', 'public/app']));
      client.close();
    });

    it('refuses a push by a user allowed only to pull (EDENIED naming the repository)', async () => {
      const client = new RegistryClient({ insecure: [reg.host], auth: { [reg.host]: { username: 'bob', password: 'builder' } } });
      const engine = await Engine.open({ root: path.join(base, 'token-bob'), storageDriver: 'overlay2' });
      const pulled = await pull(engine, `${reg.host}/private/app:1`, { client });
      const err = await pushImage(client, engine.images, pulled.image.id, `${reg.host}/private/bobs:1`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect((err as RegistryError).code).toBe('EDENIED');
      expect((err as RegistryError).repository).toBe('private/bobs');
      client.close();
    });
  });

  describe('TLS with a CA the test made', () => {
    let reg: RunningRegistry;
    beforeAll(async () => {
      reg = await startRegistry(base, { tls: { cert: pki.serverCert, key: pki.serverKey } });
      stops.push(() => reg.stop());
      sh('skopeo', ['copy', '--quiet', '--dest-cert-dir', path.join(base, 'skopeo-certs'), '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${reg.host}/tls/app:1`]);
    }, 60_000);

    it('refuses an untrusted certificate (ETLS), trusts the given CA, reads a certs.d directory, and takes insecure as skipping verification', async () => {
      const strict = new RegistryClient({ retries: 0 });
      const e = await strict.ping(reg.host).catch((x: unknown) => x);
      expect((e as RegistryError).code).toBe('ETLS');
      strict.close();
      const withCa = new RegistryClient({ ca: { [reg.host]: readFileSync(pki.caCert) } });
      const ping = await withCa.ping(reg.host);
      expect(ping.endpoint.scheme).toBe('https');
      const engine = await Engine.open({ root: path.join(base, 'tls-root'), storageDriver: 'overlay2' });
      const pulled = await pull(engine, `${reg.host}/tls/app:1`, { client: withCa });
      const pushed = await push(engine, pulled.image.id, { client: withCa, target: `${reg.host}/tls/copy:1` });
      expect(pushed.digest).toBe(pulled.manifestDigest);
      withCa.close();
      const certsDir = path.join(base, 'certs.d');
      await mkdir(path.join(certsDir, reg.host), { recursive: true });
      await copyFile(pki.caCert, path.join(certsDir, reg.host, 'ca.crt'));
      const viaDir = new RegistryClient({ certsDir });
      expect((await viaDir.ping(reg.host)).endpoint.scheme).toBe('https');
      viaDir.close();
      const insecure = new RegistryClient({ insecure: [reg.host] });
      const p = await insecure.ping(reg.host);
      expect(p.endpoint).toMatchObject({ scheme: 'https', insecure: true });
      insecure.close();
    });
  });
});
