#!/usr/bin/env node
// bench/registry: pull and push of a large multi-layer image from/to a local registry (Debian's
// docker-registry on 127.0.0.1, plain HTTP, its own storage), berth against
// `skopeo copy docker://… oci:…` and `podman pull`, each into a cold store every time.
//
//   node bench/registry.mjs [--rounds 5] [--layers 5] [--settle 65] [--cache /var/tmp/berth-bench-debian]
//                           [--dir /var/tmp] [--only pull,push] [--json FILE]   (as root; npm run build first)
//
// The image: the Debian rootfs bench/image.mjs caches under --cache (debootstrap minbase +
// python3 + git, ~300 MB) split into --layers gzip layers of about equal size; without that
// cache, --layers layers of random (incompressible) data of 60 MB each. It is written as an OCI
// layout and pushed once with skopeo (untimed).
// Pull, timed, each into a fresh destination: berth `pull()` into a fresh overlay2 engine root
// (blobs downloaded 3 at a time, verified and kept, layers extracted into snapshots with
// DiffIDs checked, image recorded); `skopeo copy docker://… oci:<fresh dir>` (blobs copied and
// verified, nothing extracted); `podman pull` into a fresh private --root with overlay (blobs
// downloaded, verified and extracted into its layers).
// Push, timed, each to a fresh, empty registry (so every blob is uploaded, nothing mounted):
// berth `push()` of the image pulled above (its original compressed blobs); `skopeo copy
// oci:<layout> docker://…` (the same compressed blobs); `podman push` from its store (podman
// recompresses its layers).
// Each figure is the median over --rounds rounds, tools interleaved and the order rotated
// each round; `sync` runs (untimed) before each; a round's stores are dropped when it ends and
// the next starts --settle seconds later. Everything made is removed at the end, except
// the cache.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, lstatSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    settle: { type: 'string', default: '65' },
    layers: { type: 'string', default: '5' },
    cache: { type: 'string', default: '/var/tmp/berth-bench-debian' },
    dir: { type: 'string', default: '/var/tmp' },
    only: { type: 'string', default: 'pull,push' },
    json: { type: 'string' },
  },
});
const rounds = Number(opts.rounds);
const layerCount = Number(opts.layers);
const only = new Set(opts.only.split(','));

if (process.getuid() !== 0) { console.error('registry: run as root'); process.exit(1); }
const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const lib = await import(path.join(dist, 'index.js'));
const { Engine, RegistryClient, pull, push } = lib;

const log = (msg) => process.stderr.write(`registry: ${msg}\n`);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const timeIt = async (fn) => { const t = process.hrtime.bigint(); await fn(); return Number(process.hrtime.bigint() - t) / 1e6; };
const which = (bin) => { try { return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim() || undefined; } catch { return undefined; } };
const sync = () => execFileSync('sync');
const version = (bin, args = ['--version']) => { try { return execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0].trim(); } catch { return undefined; } };

function run(bin, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('exit', (code, sig) => (code === 0 ? resolve() : reject(new Error(`${path.basename(bin)} ${args.join(' ')}: ${sig ?? `exit ${code}`}: ${err.trim().split('\n').slice(-3).join(' | ')}`))));
  });
}

function ensureTool(bin, pkg) {
  if (which(bin)) return;
  log(`installing ${pkg}`);
  const install = () => execFileSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  try { install(); } catch { execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' }); install(); }
}

function mountsUnder(dir) {
  const unesc = (s) => s.replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n').map((l) => unesc(l.split(' ')[4]))
    .filter((m) => m === dir || m.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
}
const unmountUnder = (dir) => { for (const m of mountsUnder(dir)) { try { execFileSync('umount', ['-l', m], { stdio: 'ignore' }); } catch { /* gone */ } } };

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** Starts a docker-registry on a free port with storage under `dir`; returns its host and a stop(). */
async function startRegistry(dir) {
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const config = path.join(dir, 'config.yml');
  await writeFile(config, ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${path.join(dir, 'data')}`, 'http:', `  addr: 127.0.0.1:${port}`, `  secret: ${randomBytes(8).toString('hex')}`, ''].join('\n'));
  const proc = spawn('/usr/bin/docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'ignore'] });
  for (let i = 0; ; i++) {
    const up = await new Promise((resolve) => { const s = net.connect(port, '127.0.0.1'); s.on('connect', () => { s.destroy(); resolve(true); }); s.on('error', () => resolve(false)); });
    if (up) break;
    if (i > 300) throw new Error('docker-registry did not start');
    await sleep(20);
  }
  return {
    host: `127.0.0.1:${port}`,
    stop: async () => {
      const gone = new Promise((resolve) => proc.once('exit', resolve));
      process.kill(proc.pid, 'SIGTERM');
      await Promise.race([gone, sleep(5000)]);
      try { process.kill(proc.pid, 'SIGKILL'); } catch { /* exited */ }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Splits a rootfs into `n` groups of about equal size (as bench/image.mjs does). */
function splitTree(root, n) {
  const sizes = new Map();
  const sizeOf = (rel) => {
    if (sizes.has(rel)) return sizes.get(rel);
    const st = lstatSync(path.join(root, rel));
    let s = st.isFile() ? st.size : 512;
    if (st.isDirectory()) for (const c of readdirSync(path.join(root, rel))) s += sizeOf(path.join(rel, c));
    sizes.set(rel, s);
    return s;
  };
  const total = readdirSync(root).reduce((s, c) => s + sizeOf(c), 0);
  const share = total / n;
  let units = readdirSync(root);
  for (let changed = true; changed;) {
    changed = false;
    units = units.flatMap((u) => {
      if (sizeOf(u) > share * 0.5 && lstatSync(path.join(root, u)).isDirectory() && readdirSync(path.join(root, u)).length > 0) {
        changed = true;
        return readdirSync(path.join(root, u)).map((c) => path.join(u, c));
      }
      return [u];
    });
  }
  const groups = Array.from({ length: n }, () => ({ size: 0, units: [] }));
  for (const u of [...units].sort((a, b) => sizeOf(b) - sizeOf(a))) {
    const g = groups.reduce((a, b) => (b.size < a.size ? b : a));
    g.units.push(u); g.size += sizeOf(u);
  }
  const walk = (rel, out) => {
    out.push(rel);
    if (lstatSync(path.join(root, rel)).isDirectory()) for (const c of readdirSync(path.join(root, rel)).sort()) walk(path.join(rel, c), out);
  };
  return groups.filter((g) => g.units.length > 0).map((g) => {
    const ancestors = new Set();
    for (const u of g.units) for (let d = path.dirname(u); d !== '.'; d = path.dirname(d)) ancestors.add(d);
    const paths = [...ancestors].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
    for (const u of g.units.sort()) walk(u, paths);
    return paths;
  });
}

/** Writes one gzip layer blob from a tar producer's stdout; returns its digests and sizes. */
async function writeLayer(tarArgs, blobsDir) {
  const tmp = path.join(blobsDir, `tmp-${randomBytes(4).toString('hex')}`);
  const tar = spawn('tar', tarArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
  const gz = spawn(which('pigz') ?? 'gzip', ['-6', '-n', '-c'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const diff = createHash('sha256'); const blob = createHash('sha256');
  let size = 0; let rawSize = 0;
  tar.stdout.on('data', (d) => { diff.update(d); rawSize += d.length; });
  gz.stdout.on('data', (d) => { blob.update(d); size += d.length; });
  const exited = (p, name) => new Promise((res, rej) => p.on('exit', (c) => (c === 0 ? res() : rej(new Error(`${name} exit ${c}`)))));
  await Promise.all([pipeline(tar.stdout, gz.stdin), pipeline(gz.stdout, createWriteStream(tmp)), exited(tar, 'tar'), exited(gz, 'gzip')]);
  const digest = `sha256:${blob.digest('hex')}`;
  renameSync(tmp, path.join(blobsDir, digest.slice(7)));
  return { digest, diffID: `sha256:${diff.digest('hex')}`, size, rawSize };
}

/** The benchmark image as an OCI layout: Debian layers from the cache, or random-data layers. */
async function imageLayout(dir, work) {
  const blobs = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const layers = [];
  let source;
  const rootfs = path.join(opts.cache, 'rootfs');
  if (existsSync(path.join(opts.cache, 'rootfs.complete'))) {
    source = `Debian rootfs from ${opts.cache} (bench/image.mjs's debootstrap cache), ${layerCount} layers`;
    for (const paths of splitTree(rootfs, layerCount)) {
      const list = path.join(work, `list-${randomBytes(4).toString('hex')}`);
      writeFileSync(list, paths.join('\0'));
      layers.push(await writeLayer(['-C', rootfs, '-c', '--format=pax', '--pax-option=delete=atime,delete=ctime', '--numeric-owner', '--no-recursion', '--null', '-T', list, '-f', '-'], blobs));
    }
  } else {
    source = `${layerCount} layers of 60 MB of random data (no Debian cache at ${opts.cache})`;
    for (let i = 0; i < layerCount; i++) {
      const d = path.join(work, `rand-${i}`);
      await mkdir(path.join(d, 'data'), { recursive: true });
      for (let f = 0; f < 60; f++) writeFileSync(path.join(d, 'data', `l${i}-f${f}`), randomBytes(1 << 20));
      layers.push(await writeLayer(['-C', d, '-c', '--numeric-owner', '.'], blobs));
      await rm(d, { recursive: true, force: true });
    }
  }
  const put = (obj) => {
    const buf = Buffer.from(JSON.stringify(obj));
    const hex = createHash('sha256').update(buf).digest('hex');
    writeFileSync(path.join(blobs, hex), buf);
    return { digest: `sha256:${hex}`, size: buf.length };
  };
  const created = '2025-01-01T00:00:00Z';
  const config = put({ created, architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) }, history: layers.map((_, i) => ({ created, created_by: `bench/registry.mjs layer ${i + 1}` })) });
  const manifest = put({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })) });
  writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }] }));
  return { source, layers, manifest };
}

const work = await mkdtemp(path.join(opts.dir, 'berth-bench-registry-'));
const podmanIn = (dir) => ['--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'run'), '--tmpdir', path.join(dir, 'tmp'), '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none'];
const runContainersExisted = existsSync('/run/containers');
const libpodLockExisted = existsSync('/dev/shm/libpod_lock');
const registries = [];
const report = { date: new Date().toISOString(), host: `${os.cpus().length} cpus, Linux ${os.release()}, Node ${process.version}`, loadavg1m: os.loadavg()[0], rounds, dir: `${opts.dir} (${execFileSync('findmnt', ['-n', '-o', 'FSTYPE', '--target', opts.dir], { encoding: 'utf8' }).trim()})` };
const notes = [];
let cleaned;
function cleanup() {
  cleaned ??= (async () => {
    for (const r of registries) await r.stop().catch(() => undefined);
    unmountUnder(work);
    await rm(work, { recursive: true, force: true });
    if (!runContainersExisted) for (const d of ['/run/containers/networks', '/run/containers']) { try { execFileSync('rmdir', [d], { stdio: 'ignore' }); } catch { /* not empty or gone */ } }
    if (!libpodLockExisted) await rm('/dev/shm/libpod_lock', { force: true });
  })();
  return cleaned;
}
process.on('uncaughtException', (err) => { console.error('registry: uncaught', err); cleanup().finally(() => process.exit(1)); });

try {
  ensureTool('docker-registry', 'docker-registry');
  for (const [bin, pkg] of [['skopeo', 'skopeo'], ['podman', 'podman'], ['pigz', 'pigz']]) { try { ensureTool(bin, pkg); } catch (err) { notes.push(`${pkg} could not be installed: ${err.message}`); } }
  report.peers = { skopeo: version('skopeo'), podman: version('podman'), registry: version('docker-registry') };
  log('building the image');
  const layout = path.join(work, 'layout');
  const image = await imageLayout(layout, work);
  report.image = { source: image.source, layers: image.layers.length, compressedMB: +(image.layers.reduce((s, l) => s + l.size, 0) / 2 ** 20).toFixed(1), uncompressedMB: +(image.layers.reduce((s, l) => s + l.rawSize, 0) / 2 ** 20).toFixed(1) };
  log(`image: ${JSON.stringify(report.image)}`);
  const source = await startRegistry(path.join(work, 'registry-src'));
  registries.push(source);
  const ref = `${source.host}/bench/image:1`;
  await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${ref}`]);

  const times = { download: { berth: [] } };
  let n = 0;
  const fresh = (tag) => path.join(work, `${tag}-${n++}`);
  const client = () => new RegistryClient({ insecure: [source.host] });
  const pulled = {}; // what each tool pulled last, for its push
  const pullers = {
    berth: async () => {
      const root = fresh('berth');
      const engine = await Engine.open({ root, storageDriver: 'overlay2' });
      const c = client();
      sync();
      // also when the last blob was downloaded, verified and kept (before extraction finished): skopeo's work
      let left = image.layers.length;
      let downloaded;
      const t0 = process.hrtime.bigint();
      const t = await timeIt(() => pull(engine, ref, { client: c, onProgress: (e) => {
        if (e.type === 'layer' && e.state === 'downloaded' && --left === 0) downloaded = Number(process.hrtime.bigint() - t0) / 1e6;
      } }));
      c.close();
      pulled.berth = { engine, root };
      times.download.berth.push(downloaded ?? t);
      return t;
    },
    skopeo: async () => {
      const dir = fresh('skopeo');
      sync();
      const t = await timeIt(() => run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${dir}:x`]));
      pulled.skopeo = dir;
      return t;
    },
    podman: async () => {
      const dir = fresh('podman');
      sync();
      const t = await timeIt(() => run('podman', [...podmanIn(dir), 'pull', '-q', '--tls-verify=false', ref]));
      pulled.podman = dir;
      return t;
    },
  };
  const pushers = {
    berth: async (dest) => {
      const c = new RegistryClient({ insecure: [dest] });
      sync();
      const t = await timeIt(() => push(pulled.berth.engine, ref, { client: c, target: `${dest}/bench/image:1` }));
      c.close();
      return t;
    },
    skopeo: async (dest) => { sync(); return timeIt(() => run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${pulled.skopeo}:x`, `docker://${dest}/bench/image:1`])); },
    podman: async (dest) => { sync(); return timeIt(() => run('podman', [...podmanIn(pulled.podman), 'push', '-q', '--tls-verify=false', ref, `docker://${dest}/bench/image:1`])); },
  };
  const tools = Object.keys(pullers);
  times.pull = Object.fromEntries(tools.map((k) => [k, []]));
  times.push = Object.fromEntries(tools.map((k) => [k, []]));
  // Stores are dropped at the end of a round, and the next round starts --settle seconds later:
  // this VM's ext4 has no journal and skips inodes freed in the last minute when it allocates
  // (see bench/image.mjs), which would make every file extracted right after a drop cost ~1 ms.
  const drops = [];
  const settle = async () => {
    for (const drop of drops.splice(0)) await drop();
    sync();
    log(`waiting ${opts.settle} s for the inodes freed before this round to age`);
    await new Promise((res) => setTimeout(res, Number(opts.settle) * 1000));
  };
  for (let r = 0; r < rounds; r++) {
    await settle();
    const order = tools.map((_, i) => tools[(i + r) % tools.length]);
    for (const tool of order) {
      const tp = await pullers[tool]();
      times.pull[tool].push(tp);
      let line = `round ${r + 1} ${tool}: pull ${tp.toFixed(0)} ms`;
      if (only.has('push')) {
        const dest = await startRegistry(fresh('registry'));
        const tu = await pushers[tool](dest.host);
        times.push[tool].push(tu);
        await dest.stop();
        line += `, push ${tu.toFixed(0)} ms`;
      }
      log(line);
      // this tool's store goes at the end of the round
      const store = pulled[tool];
      if (tool === 'berth') drops.push(async () => { unmountUnder(store.root); await rm(store.root, { recursive: true, force: true }); });
      else if (tool === 'podman') drops.push(async () => { await run('podman', [...podmanIn(store), 'rmi', '-a', '-f']).catch(() => undefined); unmountUnder(store); await rm(store, { recursive: true, force: true }); });
      else drops.push(() => rm(store, { recursive: true, force: true }));
    }
  }
  for (const drop of drops.splice(0)) await drop();
  report.results = {};
  for (const op of ['pull', ...(only.has('push') ? ['push'] : [])]) {
    const med = Object.fromEntries(tools.map((k) => [k, median(times[op][k])]));
    const fastestPeer = Math.min(med.skopeo, med.podman);
    report.results[op] = { medianMs: Object.fromEntries(Object.entries(med).map(([k, v]) => [k, Math.round(v)])), berthVsFastestPeer: +(med.berth / fastestPeer).toFixed(2), berthVsSkopeo: +(med.berth / med.skopeo).toFixed(2), berthVsPodman: +(med.berth / med.podman).toFixed(2), runs: times[op] };
  }
  report.results.download = { medianMs: { berth: Math.round(median(times.download.berth)) }, berthVsSkopeo: +(median(times.download.berth) / median(times.pull.skopeo)).toFixed(2), runs: times.download.berth };
  report.notes = notes;
  const row = (op, what) => `| ${op} | ${what} | ${report.results[op].medianMs.berth} | ${report.results[op].medianMs.skopeo} | ${report.results[op].medianMs.podman} | ${report.results[op].berthVsFastestPeer} |`;
  console.log(`\nImage: ${report.image.source}: ${report.image.compressedMB} MB gzip, ${report.image.uncompressedMB} MB uncompressed. ${report.host}. Medians of ${rounds} rounds, ms.\n`);
  console.log('| operation | berth does | berth | skopeo | podman | berth / faster peer |');
  console.log('|---|---|---|---|---|---|');
  console.log(row('pull', 'download, verify, keep blobs, extract, record'));
  console.log(`| pull, download phase | all blobs downloaded, verified and kept (what skopeo does) | ${report.results.download.medianMs.berth} | ${report.results.pull.medianMs.skopeo} | — | ${report.results.download.berthVsSkopeo} (vs skopeo) |`);
  if (report.results.push) console.log(row('push', 'original blobs, HEAD + upload each, manifest'));
  if (notes.length) console.log(`\nNotes: ${notes.join('; ')}`);
  if (opts.json) writeFileSync(opts.json, JSON.stringify(report, null, 1));
} finally {
  await cleanup();
}
