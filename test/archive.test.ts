// Formats in and out: `docker save`/`docker load` archives (modern and legacy forms) and OCI
// image layouts (directory and tar), against the real tools that read and write them — skopeo,
// podman and umoci — with images run after loading, multi-platform indexes, and bad archives
// that must leave the store exactly as it was.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compressStream,
  ContentError,
  createBusyboxRootfs,
  Engine,
  hostPlatform,
  ImageError,
  LayerError,
  loadArchive,
  readOciLayout,
  saveArchive,
  writeOciLayout,
  type EngineContainer,
  type ImageStore,
} from '../src/index.js';
import { collect, installed, removeDefaultNetwork, removeIdleCgroupParents } from './support.js';

const sha = (b: Buffer | string): `sha256:${string}` => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (d: string): string => d.slice('sha256:'.length);


/** Runs a tool; fails the test with its stderr. */
function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** A tar of the given entries, in the order given. */
async function tarOf(entries: Array<{ name: string; data?: Buffer | string; linkname?: string; type?: 'symlink' | 'directory' }>): Promise<Buffer> {
  const pack = tar.pack();
  const out = collectBuffer(pack);
  for (const e of entries) {
    if (e.type === 'symlink' || e.type === 'directory') pack.entry({ name: e.name, type: e.type, ...(e.linkname ? { linkname: e.linkname } : {}) });
    else pack.entry({ name: e.name, mode: 0o644 }, Buffer.from(e.data ?? ''));
  }
  pack.finalize();
  return out;
}

/** Reads a stream into a buffer. */
async function collectBuffer(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** zstd-compresses a buffer. */
async function zstd(data: Buffer): Promise<Buffer> {
  const z = compressStream('zstd');
  z.end(data);
  return collectBuffer(z);
}

/** The entry names of a tar file. */
async function tarNames(file: string): Promise<string[]> {
  const names: string[] = [];
  const extract = tar.extract();
  createReadStream(file).pipe(extract);
  for await (const entry of extract) {
    names.push(entry.header.name);
    entry.resume();
  }
  return names;
}

/** Runs a container to its end and returns its output. */
async function runToEnd(engine: Engine, image: string, cmd?: string[]): Promise<{ c: EngineContainer; stdout: string; exitCode: number | null }> {
  const c = await engine.create(image, { ...(cmd ? { cmd } : {}), stdio: ['ignore', 'pipe', 'pipe'] });
  const out = collect(c.process.stdout);
  const err = collect(c.process.stderr);
  await c.start();
  const r = await c.wait();
  const stdout = await out;
  await err;
  await c.remove();
  return { c, stdout, exitCode: r.exitCode };
}

/** Everything a load could have written: images, names, layers, blobs, temp files. */
async function storeState(store: ImageStore): Promise<unknown> {
  const images = await store.list();
  return {
    images: images.map((i) => i.id).sort(),
    refs: (await Promise.all(images.map(async (i) => (await store.referencesTo(i.id)).map((r) => `${r.path}:${r.tag}`)))).flat().sort(),
    layers: (await store.layers.list()).map((l) => l.chainID).sort(),
    content: await store.content.list(),
    temps: readdirSync(store.root).filter((n) => n.startsWith('.tmp-')),
    blobTemps: readdirSync(store.content.dir).filter((n) => n.startsWith('.tmp-')),
  };
}

/** The host's config for a hand-made image. */
function config(diffIDs: string[], cmd: string[], extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({ ...hostPlatform(), created: '2024-01-01T00:00:00Z', config: { Cmd: cmd }, rootfs: { type: 'layers', diff_ids: diffIDs }, ...extra }));
}

describe('image archives', () => {
  let dir: string;
  let engine: Engine;
  let other: Engine;
  let rootfs: string;
  let baseTar: Buffer;
  let helloTar: Buffer;
  let zstTar: Buffer;
  let legacyArchive: Buffer;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-archive-'));
    rootfs = await createBusyboxRootfs(path.join(dir, 'rootfs'));
    baseTar = execFileSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 });
    helloTar = await tarOf([{ name: 'hello.txt', data: 'hello from a gzip layer\n' }]);
    zstTar = await tarOf([{ name: 'zst.txt', data: 'hello from a zstd layer\n' }]);
    engine = await Engine.open({ root: path.join(dir, 'root'), storageDriver: 'overlay2' });
    other = await Engine.open({ root: path.join(dir, 'other'), storageDriver: 'overlay2' });
    // The legacy form, by hand: two images, three names, the base layer shared through a
    // symlink as old `docker save` wrote it, layers uncompressed, gzip and zstd, entries in
    // an order where manifest.json comes last.
    const configA = config([sha(baseTar), sha(helloTar)], ['cat', '/hello.txt']);
    const configB = config([sha(baseTar), sha(zstTar)], ['cat', '/zst.txt']);
    const [l1, l2, l3, l4] = ['1', '2', '3', '4'].map((c) => c.repeat(64));
    legacyArchive = await tarOf([
      { name: `${l2}/layer.tar`, data: gzipSync(helloTar) },
      { name: `${l1}/`, type: 'directory' },
      { name: `${l1}/layer.tar`, data: baseTar },
      { name: `${l3}/layer.tar`, type: 'symlink', linkname: `../${l1}/layer.tar` },
      { name: `${l4}/layer.tar`, data: await zstd(zstTar) },
      { name: `${hex(sha(configA))}.json`, data: configA },
      { name: `${hex(sha(configB))}.json`, data: configB },
      { name: 'repositories', data: JSON.stringify({ 'legacy/a': { '1': l2, '2': l2 }, 'legacy/b': { latest: l4 } }) },
      {
        name: 'manifest.json',
        data: JSON.stringify([
          { Config: `${hex(sha(configA))}.json`, RepoTags: ['legacy/a:1', 'legacy/a:2'], Layers: [`${l1}/layer.tar`, `${l2}/layer.tar`] },
          { Config: `${hex(sha(configB))}.json`, RepoTags: ['legacy/b:latest'], Layers: [`${l3}/layer.tar`, `${l4}/layer.tar`] },
        ]),
      },
    ]);
  }, 120_000);

  afterAll(async () => {
    for (const e of [engine, other]) {
      for (const c of await e.containers()) await c.remove({ force: true });
      await removeDefaultNetwork(e);
    }
    await rm(dir, { recursive: true, force: true });
    removeIdleCgroupParents();
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
  });

  it('loads the legacy form (several images and tags, shared, gzip and zstd layers) and runs it', async () => {
    const events: string[] = [];
    const r = await loadArchive(engine.images, Readable.from([legacyArchive]), { onProgress: (e) => events.push(e.stage) });
    expect(r.references.sort()).toEqual(['legacy/a:1', 'legacy/a:2', 'legacy/b:latest']);
    expect(r.images).toHaveLength(2);
    expect(events).toContain('read');
    expect(events.filter((e) => e === 'image')).toHaveLength(2);
    expect((await runToEnd(engine, 'legacy/a:2')).stdout).toBe('hello from a gzip layer\n');
    expect((await runToEnd(engine, 'legacy/b')).stdout).toBe('hello from a zstd layer\n');
    // Three layers (the base shared), each blob kept as given.
    expect(await engine.images.layers.list()).toHaveLength(3);
    const rec = await (await engine.images.get('legacy/b')).record();
    expect(rec.layers.map((l) => l.blob?.mediaType)).toEqual(['application/vnd.docker.image.rootfs.diff.tar', 'application/vnd.docker.image.rootfs.diff.tar.zstd']);
    expect(readdirSync(engine.images.root).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    // Loading again changes nothing.
    const before = await storeState(engine.images);
    await loadArchive(engine.images, Readable.from([gzipSync(legacyArchive)]));
    expect(await storeState(engine.images)).toEqual(before);
  });

  it('saves the modern Docker form; loading it elsewhere gives the same ids, names and blobs', async () => {
    const file = path.join(dir, 'saved.tar');
    const saved = await saveArchive(engine.images, ['legacy/a', 'legacy/b:latest'], createWriteStream(file));
    expect(saved.images.map((i) => i.references.sort())).toEqual([['legacy/a:1', 'legacy/a:2'], ['legacy/b:latest']]);
    for (const i of saved.images) expect(i.id).toBe(i.storedId);
    const names = await tarNames(file);
    for (const n of ['oci-layout', 'index.json', 'manifest.json', 'repositories', 'blobs/', 'blobs/sha256/']) expect(names).toContain(n);
    // Layers are uncompressed tars named by their DiffIDs; the base layer is written once.
    const a = await engine.images.get('legacy/a:1');
    for (const d of (await a.config()).rootfs.diff_ids) expect(names.filter((n) => n === `blobs/sha256/${hex(d)}`)).toHaveLength(1);
    const r = await loadArchive(other.images, file);
    expect(r.images.map((i) => i.id).sort()).toEqual(saved.images.map((i) => i.id).sort());
    expect(r.references.sort()).toEqual(['legacy/a:1', 'legacy/a:2', 'legacy/b:latest']);
    expect((await runToEnd(other, 'legacy/b:latest')).stdout).toBe('hello from a zstd layer\n');
    // The manifest it was saved with is kept, so saving again writes the same archive.
    const again = path.join(dir, 'again.tar');
    await saveArchive(other.images, ['legacy/a', 'legacy/b:latest'], createWriteStream(again));
    expect(sha(readFileSync(again))).toBe(sha(readFileSync(file)));
  });

  it('saves images made here with their ids: an import keeps its tar, a commit regenerates its own', async () => {
    // Imported from GNU tar output: import keeps the tar as the layer's blob, so the archive
    // carries those very bytes and the image loads back under its own id.
    const stored = await engine.import(baseTar, { reference: 'imported:1', config: { Cmd: ['echo', 'imported'] } });
    const file = path.join(dir, 'imported.tar');
    const saved = (await saveArchive(engine.images, ['imported:1'], createWriteStream(file))).images[0]!;
    expect(saved.storedId).toBe(stored.id);
    expect(saved.id).toBe(stored.id);
    const r = await loadArchive(other.images, file);
    expect(r.images[0]!.id).toBe(saved.id);
    expect((await runToEnd(other, 'imported:1')).stdout).toBe('imported\n');
    // A commit's layer is the driver's own tar, regenerated byte for byte: committed on a loaded
    // image (whose blobs are kept), the image saves and loads under its own id.
    const c = await engine.create('legacy/a:1', { cmd: ['sh', '-c', 'echo changed > /changed; rm /bin/ls'] });
    await c.start();
    await c.wait();
    const committed = await engine.commit(c.id, { reference: 'committed:1' });
    await c.remove();
    expect((await committed.record()).layers.at(-1)!.blob).toBeUndefined();
    const file2 = path.join(dir, 'committed.tar');
    const saved2 = (await saveArchive(engine.images, ['committed:1'], createWriteStream(file2))).images[0]!;
    expect(saved2.id).toBe(committed.id);
    const r2 = await loadArchive(other.images, file2);
    expect(r2.images[0]!.id).toBe(committed.id);
    expect((await runToEnd(other, 'committed:1', ['sh', '-c', 'cat /changed /hello.txt; ls /bin/ls 2>&1 || true'])).stdout).toMatch(/^changed\nhello from a gzip layer\n.*No such file/s);
  });

  it('writes an OCI layout (directory and tar) that loads back with the same ids', async () => {
    const layout = path.join(dir, 'layout');
    const saved = await writeOciLayout(engine.images, ['legacy/a:1', 'legacy/b'], layout);
    expect(JSON.parse(readFileSync(path.join(layout, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8'));
    expect(index.manifests.map((m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name']).sort()).toEqual(['1', 'latest']);
    // The original blobs (gzip, zstd) are kept in an OCI layout.
    const mb = await engine.images.get('legacy/b');
    for (const l of (await mb.record()).layers) expect(existsSync(path.join(layout, 'blobs', 'sha256', hex(l.blob!.digest)))).toBe(true);
    const fresh = await Engine.open({ root: path.join(dir, 'fresh'), storageDriver: 'vfs' });
    const r = await readOciLayout(fresh.images, layout);
    expect(r.images.map((i) => i.id).sort()).toEqual(saved.images.map((i) => i.id).sort());
    expect(r.references.sort()).toEqual(['legacy/a:1', 'legacy/b:latest']);
    // As a tar, through a stream.
    const file = path.join(dir, 'layout.tar');
    await writeOciLayout(engine.images, ['legacy/b'], createWriteStream(file));
    const r2 = await readOciLayout(other.images, createReadStream(file));
    expect(r2.images[0]!.id).toBe(mb.id);
    try {
      expect((await runToEnd(fresh, 'legacy/b')).stdout).toBe('hello from a zstd layer\n');
    } finally {
      await removeDefaultNetwork(fresh);
    }
  });

  it('picks the host platform from a nested index and skips attestations', async () => {
    const layout = path.join(dir, 'multi');
    const blobs = path.join(layout, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    const put = async (data: Buffer): Promise<{ digest: string; size: number }> => {
      await writeFile(path.join(blobs, hex(sha(data))), data);
      return { digest: sha(data), size: data.length };
    };
    const gz = gzipSync(baseTar);
    const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...(await put(gz)) };
    const manifestFor = async (arch: string): Promise<Buffer> => {
      const cfg = await put(config([sha(baseTar)], ['echo', arch], { architecture: arch }));
      return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg }, layers: [layer] }));
    };
    const host = hostPlatform().architecture;
    const foreign = host === 's390x' ? 'riscv64' : 's390x';
    const att = await put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...(await put(Buffer.from('{}'))) }, layers: [] })));
    const nested = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...(await put(await manifestFor(foreign))), platform: { os: 'linux', architecture: foreign } },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...(await put(await manifestFor(host))), platform: { os: 'linux', architecture: host } },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...att, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
        ],
      }),
    );
    const idx = { mediaType: 'application/vnd.oci.image.index.v1+json', ...(await put(nested)), annotations: { 'org.opencontainers.image.ref.name': 'v1' } };
    await writeFile(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [idx] }));
    await writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const r = await readOciLayout(engine.images, layout, { repository: 'multi/arch' });
    expect(r.references).toEqual(['multi/arch:v1']);
    expect((await r.images[0]!.config()).architecture).toBe(host);
    expect((await runToEnd(engine, 'multi/arch:v1')).stdout).toBe(`${host}\n`);
    // Without the host's platform: a typed error, nothing stored.
    await writeFile(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...idx, digest: (await put(Buffer.from(JSON.stringify({ ...JSON.parse(nested.toString()), manifests: JSON.parse(nested.toString()).manifests.filter((m: { platform: { architecture: string } }) => m.platform.architecture !== host) })))).digest, size: undefined }] }));
    const before = await storeState(engine.images);
    const err = await readOciLayout(engine.images, layout).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageError);
    expect((err as ImageError).code).toBe('ENOPLATFORM');
    expect(await storeState(engine.images)).toEqual(before);
  });

  it('is accepted by skopeo inspect and podman load', async (ctx) => {
    if (!installed(import.meta.url, 'skopeo', 'podman')) return ctx.skip();
    const file = path.join(dir, 'tools.tar');
    await saveArchive(engine.images, ['legacy/a:1', 'legacy/b:latest'], createWriteStream(file));
    {
      const info = JSON.parse(sh('skopeo', ['inspect', `docker-archive:${file}:legacy/b:latest`]));
      expect(info.Layers).toHaveLength(2);
      const cfg = JSON.parse(sh('skopeo', ['inspect', '--config', `docker-archive:${file}:legacy/a:1`]));
      expect(cfg.config.Cmd).toEqual(['cat', '/hello.txt']);
    }
    {
      const proot = path.join(dir, 'podman');
      // All of podman's state in a private directory (its tmpdir defaults to /run/libpod).
      const args = ['--root', path.join(proot, 'root'), '--runroot', path.join(proot, 'run'), '--tmpdir', path.join(proot, 'tmp'), '--events-backend', 'none', '--storage-driver', 'vfs'];
      try {
        const out = sh('podman', [...args, 'load', '-i', file]);
        expect(out).toContain('legacy/b:latest');
        const listed = sh('podman', [...args, 'images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
        expect(listed).toContain('legacy/a:1');
        const id = hex((await engine.images.get('legacy/a:1')).id).slice(0, 12);
        expect(listed).toContain(id);
      } finally {
        spawnSync('podman', [...args, 'rmi', '-a', '-f']);
        await rm(proot, { recursive: true, force: true });
      }
    }
  });

  it('loads what skopeo makes from a layout berth wrote: a docker-archive, and gzip and zstd OCI layouts', async (ctx) => {
    if (!installed(import.meta.url, 'skopeo')) return ctx.skip();
    const layout = path.join(dir, 'for-skopeo');
    await writeOciLayout(engine.images, ['legacy/a:1'], layout);
    const archive = path.join(dir, 'skopeo.tar');
    sh('skopeo', ['copy', '-q', `oci:${layout}:1`, `docker-archive:${archive}:via/skopeo:arch`]);
    const r = await loadArchive(other.images, archive);
    expect(r.references).toEqual(['via/skopeo:arch']);
    expect((await runToEnd(other, 'via/skopeo:arch')).stdout).toBe('hello from a gzip layer\n');
    const gz = path.join(dir, 'skopeo-gz');
    sh('skopeo', ['copy', '-q', `oci:${layout}:1`, `oci:${gz}:gz`]);
    const r2 = await readOciLayout(other.images, gz, { repository: 'via/skopeo' });
    expect(r2.references).toEqual(['via/skopeo:gz']);
    expect((await runToEnd(other, 'via/skopeo:gz')).stdout).toBe('hello from a gzip layer\n');
    const help = sh('skopeo', ['copy', '--help']);
    if (!help.includes('--dest-compress-format')) return console.log('skipped zstd: this skopeo has no --dest-compress-format');
    const zs = path.join(dir, 'skopeo-zstd');
    sh('skopeo', ['copy', '-q', '--dest-compress-format', 'zstd', `oci:${layout}:1`, `oci:${zs}:zst`]);
    const manifest = JSON.parse(sh('skopeo', ['inspect', '--raw', `oci:${zs}:zst`]));
    expect(manifest.layers.map((l: { mediaType: string }) => l.mediaType)).toContain('application/vnd.oci.image.layer.v1.tar+zstd');
    const r3 = await readOciLayout(other.images, zs, { repository: 'via/skopeo' });
    expect((await runToEnd(other, 'via/skopeo:zst')).stdout).toBe('hello from a gzip layer\n');
    expect((await r3.images[0]!.record()).manifest?.digest).toBe(sha(sh('skopeo', ['inspect', '--raw', `oci:${zs}:zst`])));
  });

  it('loads a layout made by umoci (repack of an unpacked bundle); refuses the truncated tar of umoci insert', async (ctx) => {
    if (!installed(import.meta.url, 'umoci')) return ctx.skip();
    const layout = path.join(dir, 'umoci');
    const bundle = path.join(dir, 'umoci-bundle');
    sh('umoci', ['init', '--layout', layout]);
    sh('umoci', ['new', '--image', `${layout}:t`]);
    sh('umoci', ['unpack', '--image', `${layout}:t`, bundle]);
    execFileSync('cp', ['-a', `${rootfs}/.`, path.join(bundle, 'rootfs')]);
    await writeFile(path.join(bundle, 'rootfs', 'x'), 'repacked by umoci\n');
    sh('umoci', ['repack', '--image', `${layout}:t`, bundle]);
    sh('umoci', ['config', '--image', `${layout}:t`, '--config.cmd', 'cat', '--config.cmd', '/x']);
    const r = await readOciLayout(other.images, layout, { repository: 'via/umoci' });
    expect(r.references).toEqual(['via/umoci:t']);
    expect((await r.images[0]!.record()).layers).toHaveLength(1);
    expect((await runToEnd(other, 'via/umoci:t')).stdout).toBe('repacked by umoci\n');
    // umoci 0.4.7's insert writes a layer tar that stops right after the file's data (no
    // padding, no end-of-archive blocks); GNU tar calls it an unexpected EOF, and so does berth.
    const extra = path.join(dir, 'x.txt');
    await writeFile(extra, 'inserted by umoci\n');
    sh('umoci', ['insert', '--image', `${layout}:t`, extra, '/y']);
    await other.images.collect(); // earlier loads replaced blobs of images loaded twice: garbage a failed load would collect
    const before = await storeState(other.images);
    const err = await readOciLayout(other.images, layout, { repository: 'via/umoci' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LayerError);
    expect((err as LayerError).code).toBe('ECORRUPT');
    expect((err as LayerError).path).toMatch(/^blobs\/sha256\/[0-9a-f]{64}$/);
    expect(await storeState(other.images)).toEqual(before);
  });

  it('reads an archive file in place whatever form its long names take (ustar prefix, GNU, PAX), and refuses a truncated or corrupt one', async () => {
    const tree = path.join(dir, 'long-names');
    const deep = `${'d'.repeat(90)}/${'e'.repeat(90)}`; // 181 characters: over ustar's 100-byte name field
    const cfg = config([sha(helloTar)], ['true']);
    await mkdir(path.join(tree, deep), { recursive: true });
    await writeFile(path.join(tree, deep, 'layer.tar'), helloTar);
    await writeFile(path.join(tree, 'c.json'), cfg);
    await writeFile(path.join(tree, 'manifest.json'), JSON.stringify([{ Config: 'c.json', RepoTags: ['long/names:1'], Layers: [`${deep}/layer.tar`] }]));
    for (const format of ['ustar', 'gnu', 'pax']) {
      const file = path.join(dir, `long-${format}.tar`);
      execFileSync('tar', ['-C', tree, `--format=${format}`, '-cf', file, 'manifest.json', 'c.json', deep]);
      const r = await loadArchive(other.images, file);
      expect(r.images.map((i) => i.id)).toEqual([sha(cfg)]);
      expect(r.references).toEqual(['long/names:1']);
      await other.images.remove('long/names:1');
    }
    const whole = readFileSync(path.join(dir, 'long-pax.tar'));
    const before = await storeState(other.images);
    for (const [what, bytes] of [['truncated', whole.subarray(0, whole.indexOf(helloTar.subarray(0, 100)) + 700)], ['corrupt', Buffer.concat([whole.subarray(0, 5), Buffer.from('X'), whole.subarray(6)])]] as const) {
      const file = path.join(dir, `long-${what}.tar`);
      await writeFile(file, bytes);
      const err = await loadArchive(other.images, file).catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(ImageError);
      expect((err as ImageError).code).toBe('EINVALIDARCHIVE');
    }
    expect(await storeState(other.images)).toEqual(before);
  });

  it('stops a load on an AbortSignal with its reason and keeps nothing of it', async () => {
    const layerTars = await Promise.all([1, 2, 3].map((i) => tarOf([{ name: `abort-${i}.txt`, data: `layer ${i}\n`.repeat(1000 * i) }])));
    const cfg = config(layerTars.map((t) => sha(t)), ['true']);
    const file = path.join(dir, 'abort.tar');
    await writeFile(file, await tarOf([
      ...layerTars.map((t, i) => ({ name: `l${i}/layer.tar`, data: t })),
      { name: 'c.json', data: cfg },
      { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: ['aborted/load:1'], Layers: layerTars.map((_, i) => `l${i}/layer.tar`) }]) },
    ]));
    await other.images.collect();
    const before = await storeState(other.images);
    const ac = new AbortController();
    const err = await loadArchive(other.images, file, { signal: ac.signal, onProgress: (e) => e.stage === 'layer' && ac.abort(new Error('stop here')) }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('stop here');
    expect(await storeState(other.images)).toEqual(before);
    expect((await other.driver.list()).filter((s) => s.key.startsWith('ingest-'))).toEqual([]); // not even of a layer that was applying
    await expect(loadArchive(other.images, file, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(await storeState(other.images)).toEqual(before);
  });

  describe('bad archives: a typed error naming the entry, and the store as it was', () => {
    /** Loads the archive as a stream (spooled) and as a file (read in place): both fail alike and leave nothing. */
    const expectRejected = async (archive: Buffer, cls: new (...a: never[]) => Error, code: string, entry?: string): Promise<void> => {
      await engine.images.collect();
      const before = await storeState(engine.images);
      const file = path.join(dir, 'bad-archive.tar');
      await writeFile(file, archive);
      for (const source of [Readable.from([archive]), file]) {
        const err = await loadArchive(engine.images, source).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(cls);
        expect((err as ImageError).code).toBe(code);
        if (entry !== undefined) expect((err as ImageError).path).toBe(entry);
        expect(await storeState(engine.images)).toEqual(before);
      }
    };
    const goodLayer = (): Buffer => helloTar;

    it('not a tar', async () => {
      await expectRejected(Buffer.from('this is not a tar archive at all, not even close '.repeat(20)), ImageError, 'EINVALIDARCHIVE');
    });

    it('neither manifest.json nor index.json', async () => {
      await expectRejected(await tarOf([{ name: 'repositories', data: '{}' }]), ImageError, 'EINVALIDARCHIVE', 'index.json');
    });

    it('a manifest naming a missing file', async () => {
      const cfg = config([sha(goodLayer())], ['true']);
      const archive = await tarOf([
        { name: `${hex(sha(cfg))}.json`, data: cfg },
        { name: 'manifest.json', data: JSON.stringify([{ Config: `${hex(sha(cfg))}.json`, RepoTags: ['bad/missing:1'], Layers: ['nope/layer.tar'] }]) },
      ]);
      await expectRejected(archive, ImageError, 'EINVALIDARCHIVE', 'nope/layer.tar');
    });

    it('a config that is not JSON', async () => {
      const cfg = Buffer.from('{not json');
      const archive = await tarOf([
        { name: 'l/layer.tar', data: goodLayer() },
        { name: 'cfg.json', data: cfg },
        { name: 'manifest.json', data: JSON.stringify([{ Config: 'cfg.json', RepoTags: ['bad/config:1'], Layers: ['l/layer.tar'] }]) },
      ]);
      await expectRejected(archive, ImageError, 'EINVALIDARCHIVE', 'cfg.json');
    });

    it('a DiffID mismatch in the second layer (the first, registered, is collected)', async () => {
      const other1 = await tarOf([{ name: 'only-in-bad.txt', data: 'x' }]);
      const cfg = config([sha(other1), sha('not the layer')], ['true']);
      const archive = await tarOf([
        { name: 'a/layer.tar', data: other1 },
        { name: 'b/layer.tar', data: gzipSync(goodLayer()) },
        { name: 'c.json', data: cfg },
        { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: ['bad/diffid:1'], Layers: ['a/layer.tar', 'b/layer.tar'] }]) },
      ]);
      await expectRejected(archive, LayerError, 'EDIGEST', 'b/layer.tar');
    });

    it('a blob whose content does not match its name (modern form)', async () => {
      const cfg = config([sha(goodLayer())], ['true']);
      const archive = await tarOf([
        { name: `blobs/sha256/${hex(sha(goodLayer()))}`, data: Buffer.concat([goodLayer(), Buffer.alloc(512)]) },
        { name: `blobs/sha256/${hex(sha(cfg))}`, data: cfg },
        { name: 'manifest.json', data: JSON.stringify([{ Config: `blobs/sha256/${hex(sha(cfg))}`, RepoTags: ['bad/blob:1'], Layers: [`blobs/sha256/${hex(sha(goodLayer()))}`] }]) },
      ]);
      await expectRejected(archive, ContentError, 'EDIGEST', `blobs/sha256/${hex(sha(goodLayer()))}`);
    });
  });
});
