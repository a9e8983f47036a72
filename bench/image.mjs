#!/usr/bin/env node
// bench/image: images in berth against the peers Debian packages (umoci, skopeo, podman), on a
// large multi-layer image (a Debian rootfs made here with debootstrap) and a small one (busybox).
//
//   node bench/image.mjs [--rounds 5] [--prepare-runs 50] [--vfs-runs 5] [--commit-mb 100]
//                        [--layers 5] [--settle 65] [--cache /var/tmp/berth-bench-debian]
//                        [--dir /var/tmp] [--only load,prepare,commit] [--json FILE]
//                                                          (as root; npm run build first)
//
// --dir is where the temp dir with the images, the roots and the peers' destinations goes
// (/dev/shm takes the disk out).
// 1. Load + unpack: the Debian rootfs (`debootstrap --variant=minbase --include=python3,git
//    bookworm`, from the apt mirror this machine is set up with; cached under --cache, which is
//    the one thing left behind) split into --layers layer tars of about equal size, gzip, as an
//    OCI layout and, through `skopeo copy oci:… docker-archive:…`, as a docker-archive. Timed,
//    each into a fresh destination: berth loading it into a fresh overlay2 root (blobs kept,
//    layers extracted to snapshots, DiffIDs checked, image recorded): `loadArchive` of the
//    docker-archive and `readOciLayout` of the OCI layout; `umoci unpack` of the OCI layout
//    (gunzip + extract + its mtree manifest of the bundle); `skopeo copy docker-archive:…
//    containers-storage:…` into a private overlay store (copy + unpack into layers, as a load
//    does); `skopeo copy docker-archive:… oci:…` (copy only, no unpack: the floor of any load);
//    `podman load` into a private --root with overlay (copy + unpack). The page cache is warm
//    for all and `sync` runs (untimed) before each. Destinations are removed after each round,
//    and the next one waits --settle seconds: see the comment at the load below.
// 2. Prepare: `driver.prepare(key, topLayer)` + `driver.remove(key)`, and `engine.create` +
//    `remove` (adds the container's record, spec and created-state runtime), --prepare-runs in
//    a row, busybox and Debian, overlay2 and vfs (vfs copies the whole tree, so --vfs-runs of
//    those for Debian).
// 3. Commit: a busybox container writes --commit-mb files of 1 MiB from /dev/urandom (its run is
//    not timed), then `engine.commit` is timed, against `podman commit` of a container with the
//    same changes (podman cannot *run* one here: without CAP_SYS_RESOURCE its runtime fails to
//    set rlimits, so the files go in through `podman mount`) and against `tar -C <upper> -c . |
//    sha256sum` of berth's upper dir: the read and digest any commit must do at least.
// Each number is the median over --rounds rounds (the median within a round for 2), peers
// interleaved and the order rotated each round. Everything made goes into a temp dir that is
// removed at the end (mounts under it unmounted first), except the cache.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, lstatSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    'prepare-runs': { type: 'string', default: '50' },
    'vfs-runs': { type: 'string', default: '5' },
    'commit-mb': { type: 'string', default: '100' },
    layers: { type: 'string', default: '5' },
    settle: { type: 'string', default: '65' },
    cache: { type: 'string', default: '/var/tmp/berth-bench-debian' },
    dir: { type: 'string', default: '/var/tmp' },
    only: { type: 'string', default: 'load,prepare,commit' },
    json: { type: 'string' },
  },
});
const rounds = Number(opts.rounds);
const prepareRuns = Number(opts['prepare-runs']);
const vfsRuns = Number(opts['vfs-runs']);
const commitMB = Number(opts['commit-mb']);
const layerCount = Number(opts.layers);
const only = new Set(opts.only.split(','));
const DEBIAN_INCLUDE = 'python3,git'; // minbase alone is ~150 MB; these bring it to ~300 MB

if (process.getuid() !== 0) { console.error('image: run as root'); process.exit(1); }
const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const lib = await import(path.join(dist, 'index.js'));
const { Engine, createBusyboxRootfs } = lib;

const log = (msg) => process.stderr.write(`image: ${msg}\n`);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const timeIt = async (fn) => { const t = process.hrtime.bigint(); await fn(); return ms(t); };
const which = (bin) => { try { return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim() || undefined; } catch { return undefined; } };
const sync = () => execFileSync('sync');
const dirMiB = (dir) => Number(execFileSync('du', ['-sxm', '--apparent-size', dir], { encoding: 'utf8' }).split('\t')[0]);

/** Runs a command to its end; rejects with its stderr on failure. */
function run(bin, args, { env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env: env ?? process.env });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('exit', (code, sig) => (code === 0 ? resolve() : reject(new Error(`${path.basename(bin)} ${args.join(' ')}: ${sig ?? `exit ${code}`}: ${err.trim().split('\n').slice(-3).join(' | ')}`))));
  });
}

/** Installs a Debian package when its binary is missing (apt-get update first if need be). */
function ensureTool(bin, pkg) {
  if (which(bin)) return;
  log(`installing ${pkg}`);
  const install = () => execFileSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  try { install(); } catch { execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' }); install(); }
}

/** The Debian mirror and suite apt is set up with here (deb822 .sources or one-line sources.list). */
function aptMirror() {
  const files = [];
  if (existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  if (existsSync('/etc/apt/sources.list.d')) files.push(...readdirSync('/etc/apt/sources.list.d').filter((f) => /\.(list|sources)$/.test(f)).map((f) => path.join('/etc/apt/sources.list.d', f)));
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    if (f.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (k) => stanza.match(new RegExp(`^${k}:\\s*(.+)$`, 'mi'))?.[1].trim().split(/\s+/);
        const uri = field('URIs')?.[0]; const suite = field('Suites')?.[0];
        if (uri && suite && /\/debian\/?$/.test(uri) && /^deb\b/.test(field('Types')?.join(' ') ?? 'deb')) return { mirror: uri, suite };
      }
    } else {
      for (const line of text.split('\n')) {
        const m = line.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian\/?)\s+(\S+)/);
        if (m) return { mirror: m[1], suite: m[2] };
      }
    }
  }
  return { mirror: 'http://deb.debian.org/debian', suite: 'bookworm' };
}

/** Mount points at or under `dir`, deepest first. */
function mountsUnder(dir) {
  const unesc = (s) => s.replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n').map((l) => unesc(l.split(' ')[4]))
    .filter((m) => m === dir || m.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
}
const unmountUnder = (dir) => { for (const m of mountsUnder(dir)) { try { execFileSync('umount', ['-l', m], { stdio: 'ignore' }); } catch { /* gone already */ } } };

/** The cached Debian rootfs, made with debootstrap the first time. */
async function debianRootfs(cache) {
  const rootfs = path.join(cache, 'rootfs');
  const done = path.join(cache, 'rootfs.complete');
  if (existsSync(done)) return rootfs;
  ensureTool('debootstrap', 'debootstrap');
  const { mirror, suite } = aptMirror();
  const partial = path.join(cache, 'rootfs.partial');
  await mkdir(cache, { recursive: true });
  unmountUnder(partial);
  await rm(partial, { recursive: true, force: true });
  await rm(rootfs, { recursive: true, force: true });
  log(`debootstrap --variant=minbase --include=${DEBIAN_INCLUDE} ${suite} ${partial} ${mirror} (once; cached in ${cache})`);
  try {
    await run('debootstrap', ['--variant=minbase', `--include=${DEBIAN_INCLUDE}`, suite, partial, mirror]);
  } finally {
    unmountUnder(partial); // debootstrap mounts /proc and /sys inside while it works
  }
  await rm(path.join(partial, 'var/cache/apt/archives'), { recursive: true, force: true }); // the .debs, as `apt-get clean`
  await mkdir(path.join(partial, 'var/cache/apt/archives/partial'), { recursive: true });
  renameSync(partial, rootfs);
  writeFileSync(done, JSON.stringify({ suite, mirror, include: DEBIAN_INCLUDE, made: new Date().toISOString() }));
  return rootfs;
}

/**
 * Splits a rootfs into `n` groups of about equal size: top-level entries, with any directory
 * larger than a layer's share replaced by its children (recursively); then the groups are
 * filled largest first. Each group lists its units' ancestors and then every path under them.
 */
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
        return readdirSync(path.join(root, u)).map((c) => path.join(u, c)); // u itself stays as its children's ancestor
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
    const st = lstatSync(path.join(root, rel));
    if (st.isDirectory()) for (const c of readdirSync(path.join(root, rel)).sort()) walk(path.join(rel, c), out);
  };
  return groups.filter((g) => g.units.length > 0).map((g) => {
    const ancestors = new Set();
    for (const u of g.units) for (let d = path.dirname(u); d !== '.'; d = path.dirname(d)) ancestors.add(d);
    const paths = [...ancestors].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
    for (const u of g.units.sort()) walk(u, paths);
    return { size: g.size, units: g.units, paths };
  });
}

/** Writes one layer: `tar` of `paths` (no recursion) → gzip into blobs/; returns its digests. */
async function writeLayer(rootfs, paths, blobsDir, work) {
  const list = path.join(work, `list-${randomBytes(4).toString('hex')}`);
  writeFileSync(list, paths.join('\0'));
  const tmp = path.join(blobsDir, `tmp-${randomBytes(4).toString('hex')}`);
  const tar = spawn('tar', ['-C', rootfs, '-c', '--format=pax', '--pax-option=delete=atime,delete=ctime', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--no-recursion', '--null', '-T', list, '-f', '-'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const gz = spawn(which('pigz') ?? 'gzip', ['-6', '-n', '-c'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const diff = createHash('sha256'); const blob = createHash('sha256');
  let size = 0; let rawSize = 0;
  tar.stdout.on('data', (d) => { diff.update(d); rawSize += d.length; });
  gz.stdout.on('data', (d) => { blob.update(d); size += d.length; });
  const exited = (p, name) => new Promise((res, rej) => p.on('exit', (c) => (c === 0 ? res() : rej(new Error(`${name} exit ${c}`)))));
  await Promise.all([pipeline(tar.stdout, gz.stdin), pipeline(gz.stdout, createWriteStream(tmp)), exited(tar, 'tar'), exited(gz, 'gzip')]);
  await rm(list);
  const digest = `sha256:${blob.digest('hex')}`;
  renameSync(tmp, path.join(blobsDir, digest.slice(7)));
  return { digest, diffID: `sha256:${diff.digest('hex')}`, size, rawSize };
}

/** An OCI image layout at `dir` (tag `tag`) of the given layer groups of `rootfs`. */
async function ociLayout(rootfs, groups, dir, tag, work) {
  const blobs = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const layers = [];
  for (const g of groups) layers.push(await writeLayer(rootfs, g.paths, blobs, work));
  const putBlob = (obj) => {
    const buf = Buffer.from(JSON.stringify(obj));
    const hex = createHash('sha256').update(buf).digest('hex');
    writeFileSync(path.join(blobs, hex), buf);
    return { digest: `sha256:${hex}`, size: buf.length, buf };
  };
  const created = '2025-01-01T00:00:00Z';
  const config = putBlob({
    created, architecture: 'amd64', os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    history: layers.map((_, i) => ({ created, created_by: `bench/image.mjs layer ${i + 1}/${layers.length}` })),
  });
  const manifest = putBlob({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
  });
  writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifest.digest, size: manifest.size, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
  return { dir, tag, layers, config: config.buf, blobs };
}

// ──────────────────────────────────────────────────────────────────────────────────────────
// berth's load: loadArchive (`docker load`, src/image/archive/) of the docker-archive, and
// readOciLayout of the OCI layout (the input umoci reads). With a dist/ older than those, the
// fallback below registers the OCI layout's gzip layers one by one and records the image from
// its config (the same extraction work without the archive reading), and the table says so.
const { loadArchive, readOciLayout } = lib;
const DEBIAN_REF = 'bench/debian:latest'; // the name skopeo writes into the docker-archive

/** Loads the Debian image into `engine` by the fastest means this dist/ has. */
async function loadDebian(engine, image, archive) {
  if (loadArchive) return loadArchive(engine.images, archive);
  return loadOciLayers(engine, image, DEBIAN_REF);
}

/** The fallback: registers the OCI layout's layers in `engine` and records the image as `reference`. */
async function loadOciLayers(engine, image, reference) {
  let parent;
  const layers = [];
  for (const l of image.layers) {
    const rec = await engine.images.layers.register(createReadStream(path.join(image.blobs, l.digest.slice(7))), parent, { expectedDigest: l.digest, expectedDiffID: l.diffID });
    layers.push({ chainID: rec.chainID, diffID: rec.diffID });
    parent = rec.chainID;
  }
  return engine.images.add({ config: image.config, layers, references: [reference] });
}
// ──────────────────────────────────────────────────────────────────────────────────────────

/** When berth's dist/ was last compiled (others rebuild it while benchmarks run). */
function distBuilt() {
  const files = readdirSync(dist, { recursive: true }).filter((f) => f.endsWith('.js'));
  return new Date(Math.max(...files.map((f) => statSync(path.join(dist, f)).mtimeMs))).toISOString();
}

const version = (bin, args = ['--version']) => { try { return execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0].trim(); } catch { return undefined; } };

const work = await mkdtemp(path.join(opts.dir, 'berth-bench-image-'));
const notes = [];
const failures = {};
const report = { date: new Date().toISOString(), berthBuilt: distBuilt(), host: `${os.cpus().length} cpus, Linux ${os.release()}, Node ${process.version}`, loadavg1m: [os.loadavg()[0]], rounds, dir: `${opts.dir} (${execFileSync('findmnt', ['-n', '-o', 'FSTYPE', '--target', opts.dir], { encoding: 'utf8' }).trim().split('\n')[0]})` };
const engines = [];
let podmanRoot;
/** podman's global options for a private store under `dir` (state, tmp and events there too, or none). */
const podmanIn = (dir) => ['--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'run'), '--tmpdir', path.join(dir, 'tmp'), '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none'];
const podman = (args) => [...podmanIn(podmanRoot), ...args];
// podman makes /run/containers/networks (netavark) even with --network none, and its shm lock
// file /dev/shm/libpod_lock: removed at the end if they were not there before.
const runContainersExisted = existsSync('/run/containers');
const libpodLockExisted = existsSync('/dev/shm/libpod_lock');
let cleaned;
/** Removes all this run made (once; also on an uncaught error). */
function cleanup() {
  cleaned ??= (async () => {
    if (podmanRoot && existsSync(podmanRoot)) {
      const ids = (() => { try { return execFileSync('podman', podman(['ps', '-aq']), { encoding: 'utf8' }).split('\n').filter(Boolean); } catch { return []; } })();
      for (const id of ids) await run('podman', podman(['rm', '-f', id])).catch(() => undefined);
    }
    for (const e of engines) for (const c of await e.containers().catch(() => [])) await c.remove({ force: true }).catch(() => undefined);
    unmountUnder(work);
    await rm(work, { recursive: true, force: true });
    if (!runContainersExisted) for (const d of ['/run/containers/networks', '/run/containers']) { try { execFileSync('rmdir', [d], { stdio: 'ignore' }); } catch { /* not empty or gone */ } }
    if (!libpodLockExisted) await rm('/dev/shm/libpod_lock', { force: true });
  })();
  return cleaned;
}
process.on('uncaughtException', (err) => {
  console.error('image: uncaught', err);
  cleanup().finally(() => process.exit(1));
});
try {
  for (const [bin, pkg] of [['skopeo', 'skopeo'], ['umoci', 'umoci'], ['podman', 'podman'], ['pigz', 'pigz']]) {
    try { ensureTool(bin, pkg); } catch (err) { notes.push(`${pkg} could not be installed: ${err.message}`); }
  }
  report.peers = { umoci: version('umoci'), skopeo: version('skopeo'), podman: version('podman'), tar: version('tar'), debootstrap: version('dpkg-query', ['-W', '-f=${Version}', 'debootstrap']) };

  // ── The images ──
  const debianRoot = await debianRootfs(opts.cache);
  log('splitting the Debian rootfs into layers');
  const groups = splitTree(debianRoot, layerCount);
  const debian = await ociLayout(debianRoot, groups, path.join(work, 'debian-oci'), 'bench', work);
  const bbRoot = await createBusyboxRootfs(path.join(work, 'busybox-rootfs'));
  const bbTar = execFileSync('tar', ['-C', bbRoot, '-c', '.'], { maxBuffer: 64 << 20 });
  const debianArchive = path.join(work, 'debian-docker.tar');
  await run('skopeo', ['copy', '-q', `oci:${debian.dir}:bench`, `docker-archive:${debianArchive}:bench/debian:latest`]);
  report.images = {
    debian: {
      rootfsMiB: dirMiB(debianRoot), files: Number(execFileSync('sh', ['-c', `find ${debianRoot} -xdev | wc -l`], { encoding: 'utf8' })),
      layers: debian.layers.map((l, i) => ({ tarMiB: +(l.rawSize / 2 ** 20).toFixed(1), gzipMiB: +(l.size / 2 ** 20).toFixed(1), units: groups[i].units.slice(0, 6).join(' ') + (groups[i].units.length > 6 ? ` …(+${groups[i].units.length - 6})` : '') })),
      dockerArchiveMiB: +(statSync(debianArchive).size / 2 ** 20).toFixed(1),
      debootstrap: JSON.parse(readFileSync(path.join(opts.cache, 'rootfs.complete'), 'utf8')),
    },
    busybox: { tarMiB: +(bbTar.length / 2 ** 20).toFixed(1) },
  };
  log(`Debian: ${report.images.debian.rootfsMiB} MiB, ${report.images.debian.files} files, layers ${report.images.debian.layers.map((l) => `${l.tarMiB}/${l.gzipMiB}`).join(', ')} MiB (tar/gzip)`);

  // ── 1. Load + unpack ──
  if (only.has('load')) {
    const impls = {};
    let n = 0;
    // A round's destinations stay until the round is over, and the next round starts --settle
    // seconds after they are removed: removing one frees thousands of inodes, and this ext4 (no
    // journal) then skips each of them for a minute when it allocates one (recently_deleted()
    // in fs/ext4/ialloc.c), which costs every file the next run creates ~0.5-1 ms. Keeping all
    // of them to the end instead makes each round write into memory the VM has never touched,
    // which costs ~2.5 ms per MiB written here (4 GiB/s once pages are reused).
    const made = [];
    const fresh = () => { const d = path.join(work, `load-${n++}`); made.push(d); return d; };
    const berthInto = (fn) => async () => {
      const root = fresh();
      const engine = await Engine.open({ root, storageDriver: 'overlay2' });
      sync();
      return timeIt(() => fn(engine));
    };
    if (loadArchive) impls['berth loadArchive (docker-archive)'] = berthInto((engine) => loadArchive(engine.images, debianArchive));
    if (readOciLayout) impls['berth readOciLayout (OCI layout, gzip)'] = berthInto((engine) => readOciLayout(engine.images, debian.dir, { repository: 'bench/debian' }));
    if (!loadArchive || !readOciLayout) impls['berth: the OCI layout\'s layers registered one by one'] = berthInto((engine) => loadOciLayers(engine, debian, DEBIAN_REF));
    const peerInto = (bin, argsOf) => async () => {
      const dest = fresh();
      sync();
      return timeIt(() => run(bin, argsOf(dest)));
    };
    if (which('umoci')) impls['umoci unpack (OCI layout)'] = peerInto('umoci', (d) => ['unpack', '--image', `${debian.dir}:bench`, d]);
    if (which('skopeo')) {
      impls['skopeo copy docker-archive → containers-storage (overlay)'] = peerInto('skopeo', (d) => ['copy', '-q', `docker-archive:${debianArchive}`, `containers-storage:[overlay@${d}/root+${d}/run]${DEBIAN_REF}`]);
      impls['skopeo copy docker-archive → oci (copy only, no unpack)'] = peerInto('skopeo', (d) => ['copy', '-q', `docker-archive:${debianArchive}`, `oci:${d}:t`]);
    }
    if (which('podman')) {
      impls['podman load (docker-archive, overlay)'] = peerInto('podman', (d) => [...podmanIn(d), 'load', '-q', '-i', debianArchive]);
    }
    /** Removes the round's destinations, then lets the inodes they held age (see above). */
    const settle = async () => {
      for (const d of made.splice(0)) {
        unmountUnder(d); // containers-storage leaves its overlay dir bind-mounted
        await rm(d, { recursive: true, force: true });
      }
      sync();
      log(`waiting ${opts.settle} s for the inodes freed before this round to age`);
      await new Promise((r) => setTimeout(r, Number(opts.settle) * 1000));
    };
    await settle();
    const names = Object.keys(impls);
    const times = Object.fromEntries(names.map((k) => [k, []]));
    log('warm-up: one load each');
    for (const name of names) {
      try { await impls[name](); } catch (err) { failures[name] = err.message; delete impls[name]; }
    }
    const live = names.filter((k) => impls[k]);
    for (let r = 0; r < rounds; r++) {
      await settle();
      log(`load round ${r + 1}/${rounds}`);
      for (const name of [...live.slice(r % live.length), ...live.slice(0, r % live.length)]) times[name].push(await impls[name]());
    }
    for (const d of made.splice(0)) { unmountUnder(d); await rm(d, { recursive: true, force: true }); }
    report.load = Object.fromEntries(live.map((k) => [k, { medianMs: median(times[k]), rangeMs: [Math.min(...times[k]), Math.max(...times[k])], runsMs: times[k] }]));
    for (const k of live) report.load[k].berthRatios = Object.fromEntries(live.filter((b) => b.startsWith('berth')).map((b) => [b, report.load[b].medianMs / report.load[k].medianMs]));
    if (!loadArchive || !readOciLayout) notes.push('loadArchive/readOciLayout (src/image/archive/) are not in this dist/: the fallback row registers the OCI layout\'s gzip layers one by one plus the image record (what a load does after reading the archive)');
  }

  // ── 2. Prepare ──
  if (only.has('prepare') || only.has('commit')) {
    for (const driver of ['overlay2', 'vfs']) {
      if (driver === 'vfs' && !only.has('prepare')) continue;
      const engine = await Engine.open({ root: path.join(work, `prep-${driver}`), storageDriver: driver });
      engines.push(engine);
      await engine.import(bbTar, { reference: 'bench/busybox:1' });
      if (only.has('prepare')) await loadDebian(engine, debian, debianArchive);
    }
  }
  if (only.has('prepare')) {
    report.prepare = {};
    for (const engine of engines) {
      for (const image of ['busybox', 'debian']) {
        const ref = image === 'busybox' ? 'bench/busybox:1' : DEBIAN_REF;
        const top = await (await engine.images.get(ref)).topLayer();
        const runs = engine.driver.name === 'vfs' && image === 'debian' ? vfsRuns : prepareRuns;
        log(`prepare: ${engine.driver.name}, ${image}, ${runs} runs × ${rounds} rounds`);
        const per = { prepare: [], remove: [], both: [], create: [] };
        let k = 0;
        for (let r = 0; r < rounds; r++) {
          const p = []; const rm_ = []; const both = []; const cr = [];
          sync();
          for (let i = 0; i < runs; i++) {
            const key = `bench-${k++}`;
            const a = await timeIt(() => engine.driver.prepare(key, top));
            const b = await timeIt(() => engine.driver.remove(key));
            p.push(a); rm_.push(b); both.push(a + b);
          }
          for (let i = 0; i < runs; i++) cr.push(await timeIt(async () => { const c = await engine.create(ref, { cmd: ['true'], network: 'none' }); await c.remove(); }));
          per.prepare.push(median(p)); per.remove.push(median(rm_)); per.both.push(median(both)); per.create.push(median(cr));
        }
        report.prepare[`${engine.driver.name} ${image}`] = {
          runs, prepareMs: median(per.prepare), removeMs: median(per.remove), prepareRemoveMs: median(per.both),
          prepareRemoveRangeMs: [Math.min(...per.both), Math.max(...per.both)], createRemoveMs: median(per.create), createRemoveRangeMs: [Math.min(...per.create), Math.max(...per.create)],
        };
      }
    }
  }

  // ── 3. Commit ──
  if (only.has('commit')) {
    const engine = engines.find((e) => e.driver.name === 'overlay2');
    const impls = {};
    let n = 0;
    const writer = ['sh', '-c', `mkdir /data && for i in $(seq ${commitMB}); do dd if=/dev/urandom of=/data/f$i bs=1048576 count=1 2>/dev/null || exit 1; done`];
    const berthContainer = async () => {
      const c = await engine.create('bench/busybox:1', { cmd: writer, network: 'none' });
      await c.start();
      const { exitCode } = await c.wait();
      if (exitCode !== 0) throw new Error(`writer container exited ${exitCode}`);
      return c;
    };
    impls['berth: engine.commit'] = async () => {
      const c = await berthContainer();
      sync();
      const ref = `bench/committed:${n++}`;
      const t = await timeIt(() => engine.commit(c.id, { reference: ref }));
      await c.remove();
      await engine.images.remove(ref);
      return t;
    };
    impls['tar -c of the upper dir, piped to sha256sum'] = async () => {
      const c = await berthContainer();
      const upper = (await engine.driver.layerDirs(c.record.Snapshot)).dirs[0];
      sync();
      const t = await timeIt(() => run('sh', ['-c', `tar -C '${upper}' -c . | sha256sum`]));
      await c.remove();
      return t;
    };
    if (which('podman')) {
      podmanRoot = path.join(work, 'podman');
      try {
        writeFileSync(path.join(work, 'busybox.tar'), bbTar);
        await run('podman', podman(['import', '-q', path.join(work, 'busybox.tar'), 'bench/busybox:1']));
        // Can podman run a container here? (It needs to raise rlimits: CAP_SYS_RESOURCE.)
        await run('podman', podman(['run', '--rm', '--network', 'none', 'bench/busybox:1', 'true'])).then(
          () => notes.push('podman run works here, but the podman commit row still writes through `podman mount`, for the same changes as berth\'s'),
          (err) => notes.push(`podman cannot run a container here (${err.message.replace(/^.*?: (?=exit|Error)/, '')}); its container's changes are written through \`podman mount\` instead`));
        impls['podman commit'] = async () => {
          const name = `w${n++}`;
          await run('podman', podman(['create', '--name', name, '--network', 'none', 'bench/busybox:1', 'true']));
          const mnt = execFileSync('podman', podman(['mount', name]), { encoding: 'utf8' }).trim();
          await mkdir(path.join(mnt, 'data'));
          for (let i = 1; i <= commitMB; i++) await writeFile(path.join(mnt, 'data', `f${i}`), randomBytes(1 << 20));
          sync();
          const t = await timeIt(() => run('podman', podman(['commit', '-q', name, `bench/committed:${name}`])));
          await run('podman', podman(['rm', '-f', name]));
          await run('podman', podman(['rmi', `bench/committed:${name}`]));
          return t;
        };
      } catch (err) { failures['podman commit'] = err.message; }
    }
    const names = Object.keys(impls);
    const times = Object.fromEntries(names.map((k) => [k, []]));
    log('commit warm-up');
    for (const name of names) {
      try { await impls[name](); } catch (err) { failures[name] = err.message; delete impls[name]; }
    }
    const live = names.filter((k) => impls[k]);
    for (let r = 0; r < rounds; r++) {
      log(`commit round ${r + 1}/${rounds}`);
      for (const name of [...live.slice(r % live.length), ...live.slice(0, r % live.length)]) times[name].push(await impls[name]());
    }
    report.commit = Object.fromEntries(live.map((k) => [k, { medianMs: median(times[k]), rangeMs: [Math.min(...times[k]), Math.max(...times[k])], runsMs: times[k] }]));
    const b = report.commit['berth: engine.commit'];
    if (b) for (const k of live) report.commit[k].berthRatio = b.medianMs / report.commit[k].medianMs;
    report.commitMB = commitMB;
  }

  // ── Report ──
  report.loadavg1m.push(os.loadavg()[0]);
  report.failures = failures; report.notes = notes;
  const f = (x, d = 1) => (x === undefined ? '—' : x.toFixed(d));
  const pe = report.peers;
  const out = [`\n${report.host}; berth built ${report.berthBuilt}; umoci ${pe.umoci?.replace(/^umoci version /, '') ?? '—'}, skopeo ${pe.skopeo?.replace(/^skopeo version /, '') ?? '—'}, podman ${pe.podman?.replace(/^podman version /, '') ?? '—'}; in ${report.dir}; median of ${rounds} rounds; load average ${report.loadavg1m.map((x) => f(x, 2)).join(' → ')}`];
  const d = report.images.debian;
  out.push(`\nDebian ${d.debootstrap.suite} minbase + ${d.debootstrap.include}: ${d.rootfsMiB} MiB, ${d.files} files; ${d.layers.length} layers (tar/gzip MiB): ${d.layers.map((l) => `${l.tarMiB}/${l.gzipMiB}`).join(', ')}; docker-archive ${d.dockerArchiveMiB} MiB. busybox: ${report.images.busybox.tarMiB} MiB, 1 layer.`);
  if (report.load) {
    const berthRows = Object.keys(report.load).filter((k) => k.startsWith('berth'));
    out.push('\n1. Load + unpack of the Debian image into a fresh destination\n', `| tool | median (s) [round range] |${berthRows.map((b) => ` ${b.split(' (')[0]} ÷ it |`).join('')}`, `|---|---|${berthRows.map(() => '---|').join('')}`);
    for (const [k, v] of Object.entries(report.load)) out.push(`| ${k} | ${f(v.medianMs / 1000, 2)} [${v.rangeMs.map((x) => f(x / 1000, 2)).join('–')}] |${berthRows.map((b) => ` ${b === k ? '—' : f(v.berthRatios[b], 2)} |`).join('')}`);
  }
  if (report.prepare) {
    out.push('\n2. A container rootfs from the image (median of the per-round medians, ms)\n', '| driver, image | runs/round | prepare | remove | prepare + remove [range] | engine.create + remove [range] |', '|---|---|---|---|---|---|');
    for (const [k, v] of Object.entries(report.prepare)) out.push(`| ${k} | ${v.runs} | ${f(v.prepareMs, 2)} | ${f(v.removeMs, 2)} | ${f(v.prepareRemoveMs, 2)} [${v.prepareRemoveRangeMs.map((x) => f(x, 2)).join('–')}] | ${f(v.createRemoveMs, 2)} [${v.createRemoveRangeMs.map((x) => f(x, 2)).join('–')}] |`);
    for (const drv of ['overlay2', 'vfs']) {
      const s = report.prepare[`${drv} busybox`]; const l = report.prepare[`${drv} debian`];
      if (s && l) out.push(`${drv}: Debian ÷ busybox, prepare + remove ${f(l.prepareRemoveMs / s.prepareRemoveMs, 2)}×, create + remove ${f(l.createRemoveMs / s.createRemoveMs, 2)}×`);
    }
  }
  if (report.commit) {
    out.push(`\n3. Commit of a container with ${commitMB} × 1 MiB of new files\n`, '| tool | median (ms) [round range] | berth ÷ it |', '|---|---|---|');
    for (const [k, v] of Object.entries(report.commit)) out.push(`| ${k} | ${f(v.medianMs, 0)} [${v.rangeMs.map((x) => f(x, 0)).join('–')}] | ${k.startsWith('berth') ? '—' : f(v.berthRatio, 2)} |`);
  }
  for (const [name, msg] of Object.entries(failures)) out.push(`\nFAILED ${name}: ${msg}`);
  for (const note of notes) out.push(`\nNote: ${note}`);
  console.log(out.join('\n'));
  if (opts.json) writeFileSync(opts.json, JSON.stringify(report, null, 2));
} finally {
  await cleanup();
}
