// The registry client against a real Distribution registry (Debian's docker-registry) on
// 127.0.0.1: ping, pull and push of images berth builds from busybox-static, platform choice
// from an index with an attestation entry, gzip/zstd/uncompressed layers, present layers not
// fetched again, progress events, original blobs kept for push, cross-repository mounts,
// chunked uploads, tags and catalog with Link pagination, and search through the catalog.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createBusyboxRootfs,
  Engine,
  listCatalog,
  listTags,
  pull,
  pullImage,
  push,
  pushImage,
  RegistryClient,
  RegistryError,
  searchRegistry,
  type PullProgress,
  type PushProgress,
} from '../src/index.js';
import { collect, removeIdleCgroupParents } from './support.js';
import { ensureRegistryBinary, sh, startRegistry, tarOf, tmpBase, writeOciLayout, type RunningRegistry } from './registry-support.js';

const haveRegistry = ensureRegistryBinary();

describe.skipIf(!haveRegistry)('registry (plain HTTP docker-registry on 127.0.0.1)', () => {
  let base: string;
  let reg: RunningRegistry;
  let engine: Engine;
  let client: RegistryClient;
  let busyboxTar: Buffer;

  async function runOut(e: Engine, image: string, cmd: string[]): Promise<string> {
    const c = await e.create(image, { cmd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = collect(c.process.stdout);
    await c.start();
    const r = await c.wait();
    await c.remove();
    expect(r.exitCode).toBe(0);
    return out;
  }

  beforeAll(async () => {
    base = await tmpBase();
    reg = await startRegistry(base);
    const rootfs = await createBusyboxRootfs(path.join(base, 'rootfs'));
    busyboxTar = execFileSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 });
    engine = await Engine.open({ root: path.join(base, 'root'), storageDriver: 'overlay2' });
    client = new RegistryClient({ insecure: [reg.host] });
  }, 60_000);

  afterAll(async () => {
    client?.close();
    for (const c of (await engine?.containers()) ?? []) await c.remove({ force: true });
    await reg?.stop();
    await rm(base, { recursive: true, force: true });
    removeIdleCgroupParents();
  });

  it('pings, and refuses plain HTTP to a registry not named insecure', async () => {
    const ping = await client.ping(reg.host);
    expect(ping.apiVersion).toBe('registry/2.0');
    expect(ping.endpoint.scheme).toBe('http');
    expect(ping.challenges).toEqual([]);
    const strict = new RegistryClient({ retries: 0 });
    const err = await strict.ping(reg.host).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).code).toBe('ETLS');
    expect((err as RegistryError).message).toContain('insecure');
    strict.close();
  });

  it('pushes an image berth built (import + commit), pulls it into a fresh store and runs it', async () => {
    await engine.import(busyboxTar, { reference: 'local/busybox:base', config: { Cmd: ['sh', '-c', 'echo hello from base'] } });
    const c = await engine.create('local/busybox:base', { cmd: ['sh', '-c', 'echo layered > /etc/layer2'] });
    await c.start();
    await c.wait();
    await engine.commit(c.id, { reference: 'local/busybox:two' });
    await c.remove();
    const events: PushProgress[] = [];
    const pushed = await pushImage(client, engine.images, 'local/busybox:two', `${reg.host}/berth/busybox:two`, { onProgress: (e) => events.push(e) });
    expect(pushed.layers.map((l) => l.result)).toEqual(['uploaded', 'uploaded']);
    expect(pushed.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(events.some((e) => e.type === 'manifest' && e.digest === pushed.digest)).toBe(true);
    // the imported tarball is not reproduced byte for byte by the graph driver: the pushed config says so
    expect(pushed.configRewritten).toBe(true);
    // A second push sends nothing again: every blob exists.
    const again = await pushImage(client, engine.images, 'local/busybox:two', `${reg.host}/berth/busybox:two`);
    expect(again.digest).toBe(pushed.digest);
    expect(again.layers.map((l) => l.result)).toEqual(['exists', 'exists']);

    const other = await Engine.open({ root: path.join(base, 'root2'), storageDriver: 'overlay2' });
    const progress: PullProgress[] = [];
    const r = await pullImage(client, other.images, `${reg.host}/berth/busybox:two`, { onProgress: (e) => progress.push(e) });
    expect(r.manifestDigest).toBe(pushed.digest);
    expect(r.downloadedLayers).toBe(2);
    const info = await r.image.inspect();
    expect(info.RepoTags).toEqual([`${reg.host}/berth/busybox:two`]);
    expect(info.RepoDigests).toEqual([`${reg.host}/berth/busybox@${pushed.digest}`]);
    expect(progress[0]!.type).toBe('resolved');
    const states = progress.filter((e) => e.type === 'layer' && e.index === 1).map((e) => (e.type === 'layer' ? e.state : ''));
    expect(states[0]).toBe('waiting');
    expect(states).toContain('downloading');
    expect(states.slice(-3)).toEqual(['downloaded', 'extracting', 'done'].slice(-3));
    expect(await runOut(other, `${reg.host}/berth/busybox:two`, ['cat', '/etc/layer2'])).toBe('layered\n');
    // by digest, from the same store: nothing is fetched again
    const byDigest = await pullImage(client, other.images, `${reg.host}/berth/busybox@${pushed.digest}`);
    expect(byDigest.downloadedLayers).toBe(0);
    expect(byDigest.image.id).toBe(r.image.id);
    for (const x of await other.containers()) await x.remove({ force: true });
  });

  it('pulls from an index the host platform (attestation skipped), gzip, zstd and uncompressed layers, and pushes them back unchanged', async () => {
    const extra = await tarOf({ 'etc/': '', 'etc/which': 'amd64\n' });
    const armExtra = await tarOf({ 'etc/': '', 'etc/which': 'arm64\n' });
    for (const compression of ['gzip', 'zstd', 'none'] as const) {
      const layout = path.join(base, `layout-${compression}`);
      const { manifests } = await writeOciLayout(
        layout,
        [
          { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, layers: [busyboxTar, armExtra] },
          { platform: { os: 'linux', architecture: 'amd64' }, layers: [busyboxTar, extra] },
        ],
        compression,
        { attestation: true },
      );
      sh('skopeo', ['copy', '--all', '--preserve-digests', '--quiet', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${reg.host}/multi/${compression}:1`]);
      const store = await Engine.open({ root: path.join(base, `root-${compression}`), storageDriver: 'overlay2' });
      const r = await pull(store, `${reg.host}/multi/${compression}:1`, { client });
      expect(r.manifestDigest, compression).toBe(manifests[1]); // amd64, not the arm64 first entry nor the attestation
      expect(r.digest).not.toBe(r.manifestDigest); // the repoDigest is the index's
      expect(await runOut(store, `${reg.host}/multi/${compression}:1`, ['cat', '/etc/which'])).toBe('amd64\n');
      const armed = await pullImage(client, store.images, `${reg.host}/multi/${compression}:1`, { platform: 'linux/arm64' });
      expect(armed.manifestDigest).toBe(manifests[0]);
      expect(armed.downloadedLayers).toBe(1); // the busybox layer is shared with the amd64 image
      // Pushed elsewhere on the same registry: the original blobs, mounted, and the same manifest digest.
      const back = await push(store, r.image.id, { client, target: `${reg.host}/copy/${compression}:1` });
      expect(back.digest).toBe(manifests[1]);
      expect(back.layers.map((l) => l.result)).toEqual(['mounted', 'mounted']);
      expect(back.configRewritten).toBe(false);
      const inspect = JSON.parse(sh('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/copy/${compression}:1`])) as { layers: Array<{ mediaType: string }> };
      expect(inspect.layers[0]!.mediaType).toBe(`application/vnd.oci.image.layer.v1.tar${compression === 'none' ? '' : `+${compression}`}`);
    }
  });

  it('pushes in chunks when asked to a registry that has none of the blobs, which assembles the same image', async () => {
    const layout = path.join(base, 'layout-chunks');
    const big = await tarOf({ 'data/': '', 'data/random': randomBytes(3 << 20) });
    await writeOciLayout(layout, [{ platform: { os: 'linux', architecture: 'amd64' }, layers: [busyboxTar, big] }], 'gzip');
    sh('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${reg.host}/chunks/src:1`]);
    const store = await Engine.open({ root: path.join(base, 'root-chunks'), storageDriver: 'overlay2' });
    const r = await pull(store, `${reg.host}/chunks/src:1`, { client, concurrency: 1 });
    // Within the registry it came from, every blob is mounted from chunks/src.
    const mounted = await pushImage(client, store.images, r.image.id, `${reg.host}/chunks/dst:1`);
    expect(mounted.digest).toBe(r.manifestDigest);
    expect(mounted.layers.map((l) => l.result)).toEqual(['mounted', 'mounted']);
    // To a second registry, uploaded in 256 KiB PATCH chunks.
    const reg2 = await startRegistry(base);
    try {
      const client2 = new RegistryClient({ insecure: [reg2.host] });
      const sent: number[] = [];
      const fresh = await pushImage(client2, store.images, r.image.id, `${reg2.host}/chunks/fresh:1`, { chunkSize: 256 << 10, onProgress: (e) => e.type === 'blob' && e.state === 'uploading' && sent.push(e.current) });
      expect(fresh.digest).toBe(r.manifestDigest);
      expect(fresh.layers.map((l) => l.result)).toEqual(['uploaded', 'uploaded']);
      expect(sent.filter((n) => n % (256 << 10) === 0).length).toBeGreaterThan(4); // chunk by chunk
      const copy = await Engine.open({ root: path.join(base, 'root-chunks2'), storageDriver: 'overlay2' });
      const back = await pull(copy, `${reg2.host}/chunks/fresh:1`, { client: client2 });
      expect(back.image.id).toBe(r.image.id);
      expect(back.downloadedLayers).toBe(2);
      client2.close();
    } finally {
      await reg2.stop();
    }
  });

  it('lists tags and the catalog across Link pages, and searches through the catalog', async () => {
    const layout = path.join(base, 'layout-tags');
    await writeOciLayout(layout, [{ platform: { os: 'linux', architecture: 'amd64' }, layers: [await tarOf({ 'x': 'x' })] }], 'gzip');
    for (const t of ['a', 'b', 'c', 'd', 'e']) sh('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${reg.host}/paged/repo:${t}`]);
    const paged = await listTags(client, reg.host, 'paged/repo', { pageSize: 2 });
    expect(paged).toHaveLength(5);
    expect([...paged].sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(await listTags(client, reg.host, 'paged/repo', { pageSize: 2, limit: 3 })).toHaveLength(3);
    const catalog = await listCatalog(client, reg.host, { pageSize: 1 });
    expect(catalog).toContain('paged/repo');
    expect(catalog).toContain('berth/busybox');
    const found = await searchRegistry(client, reg.host, 'PAGED');
    expect(found).toEqual([{ name: 'paged/repo', description: '', star_count: 0, is_official: false, is_automated: false }]);
    const missing = await listTags(client, reg.host, 'no/such').catch((e: unknown) => e);
    expect((missing as RegistryError).code).toBe('ENOENT');
    expect((missing as RegistryError).repository).toBe('no/such');
  });

  it('leaves no temp files in the content store', () => {
    const blobs = path.join(base, 'root2', 'image', 'blobs', 'sha256');
    expect(readdirSync(blobs).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    void readFileSync;
  });
});
