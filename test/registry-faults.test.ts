// The registry client through a fault-injecting proxy of the test's own (127.0.0.1) in front of
// a real docker-registry: a blob cut halfway is resumed with a Range request for the rest; a
// 429 with Retry-After is waited out; a flipped byte fails the pull with a typed digest error
// and nothing is stored. Bad input — unknown host, refused connection, unknown media type,
// oversized manifest and config, invalid digests, a reference that does not parse, a blob
// longer than its descriptor, an abort — gives typed errors and leaves the store as it was.
// Mirrors are tried first and the upstream on failure.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBusyboxRootfs, Engine, ImageReferenceError, pullImage, RegistryClient, RegistryError, type Digest } from '../src/index.js';
import { REGISTRY_BIN, freePort, sh, startFaultProxy, startRegistry, tarOf, tmpBase, writeOciLayout, type FaultProxy, type RunningRegistry } from './registry-support.js';
import { installed } from './support.js';

const haveRegistry = installed(import.meta.url, REGISTRY_BIN);
const sha = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe.skipIf(!haveRegistry)('registry faults and bad input', () => {
  let base: string;
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let client: RegistryClient;
  let manifest: { config: { digest: Digest; size: number }; layers: Array<{ digest: Digest; size: number; mediaType: string }> };
  let manifestDigest: Digest;
  let roots = 0;

  /** A fresh engine root. */
  const freshEngine = (): Promise<Engine> => Engine.open({ root: path.join(base, `root-${roots++}`), storageDriver: 'overlay2' });

  /** Everything an engine's image store holds. */
  async function contents(e: Engine): Promise<{ blobs: string[]; layers: string[]; images: string[] }> {
    return {
      blobs: await e.images.content.list(),
      layers: (await e.images.layers.list()).map((l) => l.chainID),
      images: (await e.images.list()).map((i) => i.id),
    };
  }
  const empty = { blobs: [], layers: [], images: [] };

  beforeAll(async () => {
    base = await tmpBase();
    reg = await startRegistry(base);
    proxy = await startFaultProxy(reg.port);
    const rootfs = await createBusyboxRootfs(path.join(base, 'rootfs'));
    const busybox = execFileSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 });
    const layout = path.join(base, 'layout');
    await writeOciLayout(layout, [{ platform: { os: 'linux', architecture: 'amd64' }, layers: [busybox, await tarOf({ 'data/': '', 'data/blob': randomBytes(4 << 20) })] }], 'gzip');
    sh('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${reg.host}/faults/app:1`]);
    const raw = sh('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/faults/app:1`]);
    manifest = JSON.parse(raw) as typeof manifest;
    manifestDigest = sha(Buffer.from(raw));
    client = new RegistryClient({ insecure: [reg.host, proxy.host], retryDelay: 50 });
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await proxy?.close();
    await reg?.stop();
    await rm(base, { recursive: true, force: true });
  });

  it('resumes a blob cut halfway with a Range request for the rest only', async () => {
    const big = manifest.layers[1]!;
    const cutAt = Math.floor(big.size / 2);
    proxy.faults.push({ kind: 'cut', match: new RegExp(`/blobs/${big.digest}$`), method: 'GET', at: cutAt });
    const from = proxy.log.length;
    const e = await freshEngine();
    const r = await pullImage(client, e.images, `${proxy.host}/faults/app:1`);
    expect(r.manifestDigest).toBe(manifestDigest);
    const gets = proxy.log.slice(from).filter((l) => l.method === 'GET' && l.url.endsWith(big.digest));
    expect(gets.map((g) => g.fault), JSON.stringify(gets)).toEqual(['cut', undefined]);
    expect(gets[0]!.range).toBeUndefined();
    // The second asks for the rest from what the client had consumed when the connection broke
    // (up to the cut; bytes still in the socket's buffer when it broke are asked again).
    const start = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? '')?.[1]);
    expect(start).toBeGreaterThan(cutAt / 2);
    expect(start).toBeLessThanOrEqual(cutAt);
    expect((await e.images.content.readAll(big.digest)).length).toBe(big.size);
  });

  it('waits out a 429 for as long as Retry-After says, then carries on', async () => {
    proxy.faults.push({ kind: 'status', match: /\/manifests\/1$/, method: 'GET', status: 429, headers: { 'Retry-After': '1' }, body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}' });
    const from = proxy.log.length;
    const e = await freshEngine();
    const r = await pullImage(client, e.images, `${proxy.host}/faults/app:1`);
    expect(r.manifestDigest).toBe(manifestDigest);
    const tries = proxy.log.slice(from).filter((l) => l.url.endsWith('/manifests/1'));
    expect(tries[0]!.fault).toBe('status');
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(950);
    // Without retries left, the 429 is a typed error.
    const impatient = new RegistryClient({ insecure: [proxy.host], retries: 0 });
    proxy.faults.push({ kind: 'status', match: /\/manifests\/1$/, method: 'GET', status: 429, headers: { 'Retry-After': '1' } });
    const err = await pullImage(impatient, (await freshEngine()).images, `${proxy.host}/faults/app:1`).catch((x: unknown) => x);
    expect((err as RegistryError).code).toBe('ETOOMANYREQUESTS');
    impatient.close();
  });

  it('fails a blob with a flipped byte with EDIGEST naming it, and keeps nothing', async () => {
    const big = manifest.layers[1]!;
    proxy.faults.push({ kind: 'flip', match: new RegExp(`/blobs/${big.digest}$`), method: 'GET', offset: 1000 });
    const e = await freshEngine();
    const err = await pullImage(client, e.images, `${proxy.host}/faults/app:1`).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).code).toBe('EDIGEST');
    expect((err as RegistryError).digest).toBe(big.digest);
    expect((err as RegistryError).repository).toBe('faults/app');
    expect(await contents(e)).toEqual(empty);
  });

  it('fails a blob longer than its descriptor with ESIZE, and keeps nothing', async () => {
    const big = manifest.layers[1]!;
    const longer = Buffer.concat([randomBytes(big.size), Buffer.from('extra')]);
    proxy.faults.push({ kind: 'replace', match: new RegExp(`/blobs/${big.digest}$`), method: 'GET', headers: { 'Content-Type': 'application/octet-stream' }, body: longer });
    const e = await freshEngine();
    const err = await pullImage(client, e.images, `${proxy.host}/faults/app:1`).catch((x: unknown) => x);
    expect((err as RegistryError).code).toBe('ESIZE');
    expect(await contents(e)).toEqual(empty);
  });

  it('gives typed errors for bad manifests and keeps nothing', async () => {
    const m = (doc: object): Buffer => Buffer.from(JSON.stringify(doc));
    const good = manifest as unknown as Record<string, unknown>;
    const cases: Array<[string, Buffer, string, string]> = [
      ['unknown media type', m({ schemaVersion: 2, mediaType: 'application/vnd.example.thing.v1+json', things: [] }), 'application/vnd.example.thing.v1+json', 'EUNSUPPORTEDMEDIATYPE'],
      ['schema 1', m({ schemaVersion: 1, name: 'x', fsLayers: [] }), 'application/vnd.docker.distribution.manifest.v1+prettyjws', 'EUNSUPPORTEDMEDIATYPE'],
      ['unknown layer media type', m({ ...good, layers: [{ ...manifest.layers[0], mediaType: 'application/vnd.example.layer' }] }), 'application/vnd.oci.image.manifest.v1+json', 'EUNSUPPORTEDMEDIATYPE'],
      ['invalid layer digest', m({ ...good, layers: [{ ...manifest.layers[0], digest: 'sha256:xyz' }] }), 'application/vnd.oci.image.manifest.v1+json', 'EINVALIDDIGEST'],
      ['unsupported digest algorithm', m({ ...good, layers: [{ ...manifest.layers[0], digest: `sha512:${'a'.repeat(128)}` }] }), 'application/vnd.oci.image.manifest.v1+json', 'EINVALIDDIGEST'],
      ['config over the limit', m({ ...good, config: { ...manifest.config, size: 100 << 20 } }), 'application/vnd.oci.image.manifest.v1+json', 'ETOOLARGE'],
      ['manifest over the limit', Buffer.alloc(5 << 20, 0x20), 'application/vnd.oci.image.manifest.v1+json', 'ETOOLARGE'],
      ['not JSON', Buffer.from('{"schemaVersion":'), 'application/vnd.oci.image.manifest.v1+json', 'EINVALIDMANIFEST'],
    ];
    for (const [what, body, type, code] of cases) {
      proxy.faults.push({ kind: 'replace', match: /\/manifests\/1$/, method: 'GET', headers: { 'Content-Type': type }, body });
      const e = await freshEngine();
      const err = await pullImage(client, e.images, `${proxy.host}/faults/app:1`).catch((x: unknown) => x);
      expect(err, what).toBeInstanceOf(RegistryError);
      expect((err as RegistryError).code, what).toBe(code);
      expect(await contents(e), what).toEqual(empty);
    }
    // A manifest whose bytes do not match the digest asked for.
    proxy.faults.push({ kind: 'replace', match: /\/manifests\/sha256:/, method: 'GET', headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: m({ ...good, annotations: { x: 'y' } }) });
    const e = await freshEngine();
    const err = await pullImage(client, e.images, `${proxy.host}/faults/app@${manifestDigest}`).catch((x: unknown) => x);
    expect((err as RegistryError).code).toBe('EDIGEST');
    expect(await contents(e)).toEqual(empty);
  });

  it('names the failure for an unknown host, a refused connection, a missing tag, a reference that does not parse and a platform the image is not for', async () => {
    const e = await freshEngine();
    const strict = new RegistryClient({ retries: 0, insecure: ['127.0.0.1'] });
    const unknown = await pullImage(strict, e.images, 'no-such-host.invalid/app:1').catch((x: unknown) => x);
    expect((unknown as RegistryError).code).toBe('ENOTFOUND');
    expect((unknown as RegistryError).registry).toBe('no-such-host.invalid');
    const port = await freePort();
    const refusedClient = new RegistryClient({ retries: 0, insecure: [`127.0.0.1:${port}`] });
    const refused = await pullImage(refusedClient, e.images, `127.0.0.1:${port}/app:1`).catch((x: unknown) => x);
    expect((refused as RegistryError).code).toBe('ECONNREFUSED');
    expect((refused as RegistryError).message).toContain(`127.0.0.1:${port}`);
    const missing = await pullImage(client, e.images, `${reg.host}/faults/app:nope`).catch((x: unknown) => x);
    expect((missing as RegistryError).code).toBe('ENOENT');
    expect((missing as RegistryError).registryCode).toBe('MANIFEST_UNKNOWN');
    const bad = await pullImage(client, e.images, `${reg.host}/Faults/App:1`).catch((x: unknown) => x);
    expect(bad).toBeInstanceOf(ImageReferenceError);
    const noPlatform = await pullImage(client, e.images, `${reg.host}/faults/app:1`, { platform: 'linux/s390x' }).catch((x: unknown) => x);
    expect((noPlatform as RegistryError).code).toBe('ENOPLATFORM'); // a single-platform image of another platform
    expect((noPlatform as RegistryError).message).toContain('linux/amd64');
    expect(await contents(e)).toEqual(empty);
    strict.close();
    refusedClient.close();
  });

  it('stops on an AbortSignal and keeps nothing', async () => {
    const e = await freshEngine();
    const ac = new AbortController();
    const slowClient = new RegistryClient({ insecure: [proxy.host] });
    const err = await pullImage(slowClient, e.images, `${proxy.host}/faults/app:1`, {
      signal: ac.signal,
      onProgress: (ev) => {
        if (ev.type === 'layer' && ev.state === 'downloading' && ev.current > 0) ac.abort();
      },
    }).catch((x: unknown) => x);
    expect((err as RegistryError).code).toBe('EABORTED');
    expect(await contents(e)).toEqual(empty);
    slowClient.close();
  });

  it('tries a mirror first and falls back to the registry itself when the mirror fails', async () => {
    const mirror = await startRegistry(base);
    try {
      // The mirror has the image under the same name; the upstream (the proxy) is not asked for it.
      sh('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${reg.host}/faults/app:1`, `docker://${mirror.host}/faults/app:1`]);
      const mirrored = new RegistryClient({ insecure: [reg.host], mirrors: { [reg.host]: [`http://${mirror.host}`] } });
      const e = await freshEngine();
      const r = await pullImage(mirrored, e.images, `${reg.host}/faults/app:1`);
      expect(r.host).toBe(mirror.host);
      expect((await r.image.inspect()).RepoTags).toEqual([`${reg.host}/faults/app:1`]);
      // A mirror that fails: the registry serves it.
      const failing = new RegistryClient({ insecure: [proxy.host], retries: 0, mirrors: { [proxy.host]: [`http://${mirror.host}/`] } });
      const e2 = await freshEngine();
      const r2 = await pullImage(failing, e2.images, `${proxy.host}/faults/app:1`); // the mirror has faults/app, so break it
      expect(r2.host).toBe(mirror.host);
      await mirror.stop();
      const e3 = await freshEngine();
      const r3 = await pullImage(failing, e3.images, `${proxy.host}/faults/app:1`);
      expect(r3.host).toBe(proxy.host);
      mirrored.close();
      failing.close();
    } finally {
      await mirror.stop();
    }
  });
});
