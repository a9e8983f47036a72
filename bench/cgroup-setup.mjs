#!/usr/bin/env node
// bench/cgroup-setup: what cgroup setup adds to a container start. Each runtime runs /bin/true
// from the same bundle twice over: once with no linux.resources (the cgroup is still made and
// joined, default device rules applied), once with limits in config.json (memory + swap +
// reservation, cpu shares/quota/period/cpus, pids, device rules). The added cost
// is the difference of the medians; berth is compared with runc and crun on it.
//
//   npm run build:ts && node bench/cgroup-setup.mjs [--runs 100] [--rounds 3] [--json FILE]
//
// Like bench/start-latency.mjs, everything runs in one private mount namespace with a tmpfs
// over /sys/fs/cgroup/unified (crun refuses this host's hybrid layout otherwise), so all three
// drive the same v1 hierarchies. Also reported: berth's Cgroup.create + apply + destroy alone.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, writeFileSync, rmdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'string' },
    inner: { type: 'boolean', default: false },
  },
});

const M = 1 << 20;

/** The limits every runtime gets in the "limits" bundle. */
const RESOURCES = {
  devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }],
  memory: { limit: 256 * M, swap: 256 * M, reservation: 128 * M },
  cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0' },
  pids: { limit: 100 },
  // No blockIO weight: crun 1.8 writes blkio.weight, which a BFQ-only kernel does not have.
};

if (!opts.inner) {
  const self = fileURLToPath(import.meta.url);
  const script = 'mount --make-rprivate / && mount -t tmpfs none /sys/fs/cgroup/unified && exec "$0" "$@"';
  const child = spawn('unshare', ['-m', 'sh', '-c', script, process.execPath, self, '--inner', ...process.argv.slice(2)], { stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 1));
} else {
  await main();
}

async function main() {
  const { Container, Cgroup, createBusyboxRootfs, defaultSpec, cgroupHost } = await import('berth');
  const runs = Number(opts.runs);
  const rounds = Number(opts.rounds);
  const work = await mkdtemp(path.join(os.tmpdir(), 'berth-cgbench-'));
  const peers = ['runc', 'crun'].filter((p) => existsSync(`/usr/bin/${p}`) || existsSync(`/usr/sbin/${p}`));
  const parent = `berth-cgbench-${process.pid}`;
  try {
    await createBusyboxRootfs(path.join(work, 'rootfs'));
    const bundles = {};
    for (const variant of ['base', 'limits']) {
      const dir = path.join(work, variant);
      const spec = defaultSpec();
      spec.root.path = path.join(work, 'rootfs');
      spec.process.args = ['/bin/true'];
      spec.ociVersion = '1.0.2'; // crun 1.8 refuses 1.2.0 ("unknown version specified")
      spec.mounts = [{ destination: '/proc', type: 'proc', source: 'proc' }];
      spec.linux.namespaces = ['pid', 'mount', 'uts', 'ipc', 'network'].map((type) => ({ type }));
      spec.linux.maskedPaths = [];
      spec.linux.readonlyPaths = [];
      spec.linux.cgroupsPath = `/${parent}/${variant}`;
      if (variant === 'base') delete spec.linux.resources;
      else spec.linux.resources = structuredClone(RESOURCES);
      await mkdir(dir);
      await writeFile(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
      bundles[variant] = { dir, spec };
    }
    const stateRoot = path.join(work, 'state');
    let n = 0;

    const berthOnce = async (variant) => {
      const { dir, spec } = bundles[variant];
      const c = await Container.create({ id: `b${n++}`, bundle: dir, spec, root: stateRoot });
      await c.start();
      await c.wait();
      await c.delete();
    };
    const peerOnce = (bin, variant) => new Promise((resolve, reject) => {
      const child = spawn(bin, ['--root', path.join(work, 'peer-state', bin), 'run', '--bundle', bundles[variant].dir, `${bin}${n++}`], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => { err += d; });
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${bin} run (${variant}) exited ${code}: ${err.trim()}`))));
    });
    const impls = { berth: berthOnce, ...Object.fromEntries(peers.map((p) => [p, (v) => peerOnce(p, v)])) };

    const timeIt = async (fn) => { const t = process.hrtime.bigint(); await fn(); return Number(process.hrtime.bigint() - t) / 1e6; };
    const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

    for (const fn of Object.values(impls)) for (const v of ['base', 'limits']) for (let i = 0; i < 5; i++) await fn(v); // warm caches
    const samples = {};
    for (const name of Object.keys(impls)) samples[name] = { base: [], limits: [] };
    for (let r = 0; r < rounds; r++) {
      for (const [name, fn] of Object.entries(impls)) {
        for (const v of ['base', 'limits']) {
          const each = [];
          for (let i = 0; i < runs; i++) each.push(await timeIt(() => fn(v)));
          samples[name][v].push(median(each));
        }
      }
    }

    // berth's cgroup layer alone: create (mkdir in every hierarchy) + apply the limits + destroy.
    const alone = [];
    const resources = structuredClone(RESOURCES);
    for (let i = 0; i < runs * rounds; i++) {
      alone.push(await timeIt(async () => {
        const cg = await Cgroup.create(`/${parent}/alone`, { resources });
        await cg.destroy();
      }));
    }

    const summary = {};
    for (const [name, s] of Object.entries(samples)) {
      const base = median(s.base);
      const limits = median(s.limits);
      summary[name] = { baseMedianMs: base, limitsMedianMs: limits, addedMs: limits - base };
    }
    const report = {
      date: new Date().toISOString(),
      host: `${os.cpus().length} cpus, ${os.release()}, cgroups seen as ${cgroupHost().mode}`,
      runs, rounds, resources: RESOURCES,
      peers: Object.fromEntries(peers.map((p) => [p, execFileSync(p, ['--version'], { encoding: 'utf8' }).split('\n')[0]])),
      summary,
      berthCgroupAloneMedianMs: median(alone),
      ratios: Object.fromEntries(peers.map((p) => [p, {
        withLimits: summary.berth.limitsMedianMs / summary[p].limitsMedianMs,
        base: summary.berth.baseMedianMs / summary[p].baseMedianMs,
      }])),
    };
    console.log(JSON.stringify(report, null, 2));
    console.log('\n| runtime | no resources (ms) | with limits (ms) | added by limits (ms) | berth ÷ it, with limits |');
    console.log('|---|---|---|---|---|');
    for (const [name, s] of Object.entries(summary)) {
      const ratio = report.ratios[name];
      console.log(`| ${name} | ${s.baseMedianMs.toFixed(2)} | ${s.limitsMedianMs.toFixed(2)} | ${s.addedMs.toFixed(2)} | ${ratio ? ratio.withLimits.toFixed(2) : '—'} |`);
    }
    console.log(`\nberth Cgroup.create + apply + destroy alone: ${report.berthCgroupAloneMedianMs.toFixed(2)} ms (median)`);
    if (opts.json) writeFileSync(opts.json, JSON.stringify(report, null, 2));
  } finally {
    await rm(work, { recursive: true, force: true });
    // runc and crun leave the parent of their cgroupsPath; remove it in every hierarchy.
    const host = cgroupHost({ refresh: true });
    for (const h of [...host.v1.map((x) => x.mountPoint), ...(host.unified ? [host.unified.mountPoint] : [])]) {
      for (const leaf of ['base', 'limits', 'alone']) { try { rmdirSync(path.join(h, parent, leaf)); } catch { /* gone */ } }
      try { rmdirSync(path.join(h, parent)); } catch { /* gone or busy */ }
    }
  }
}
