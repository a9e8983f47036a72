#!/usr/bin/env node
// bench/start-latency: how long it takes to run /bin/true in a fresh container (pid, mount,
// uts, ipc and net namespaces, /proc, pivot_root) — berth from inside this Node process,
// against `runc run` and `crun run` on the same bundle, spawned from the same process.
//
//   node bench/start-latency.mjs [--runs 100] [--parallel 20] [--rounds 5] [--json FILE]
//
// Everything runs in one private mount namespace with a tmpfs over /sys/fs/cgroup/unified,
// because crun refuses this host's hybrid cgroup layout otherwise; runc and berth run there
// too so all three see the same host. Reports medians over rounds and berth's ratios.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '100' },
    parallel: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '5' },
    'rss-runs': { type: 'string', default: '1000' },
    json: { type: 'string' },
    inner: { type: 'boolean', default: false },
  },
});

// Re-exec inside a private mount namespace (see the header).
if (!opts.inner) {
  const self = fileURLToPath(import.meta.url);
  const script = 'mount --make-rprivate / && mount -t tmpfs none /sys/fs/cgroup/unified && exec "$0" "$@"';
  const child = spawn('unshare', ['-m', 'sh', '-c', script, process.execPath, self, '--inner', ...process.argv.slice(2)], { stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 1));
} else {
  await main();
}

async function main() {
  const { Container, createBusyboxRootfs, defaultSpec } = await import('berth');
  const runs = Number(opts.runs);
  const parallel = Number(opts.parallel);
  const rounds = Number(opts.rounds);
  const work = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-'));
  const peers = ['runc', 'crun'].filter((p) => existsSync(`/usr/bin/${p}`) || existsSync(`/usr/sbin/${p}`));
  try {
    await createBusyboxRootfs(path.join(work, 'rootfs'));
    const spec = defaultSpec();
    spec.process.args = ['/bin/true'];
    spec.process.terminal = false;
    spec.mounts = [{ destination: '/proc', type: 'proc', source: 'proc' }];
    spec.linux.namespaces = ['pid', 'mount', 'uts', 'ipc', 'network'].map((type) => ({ type }));
    spec.linux.maskedPaths = [];
    spec.linux.readonlyPaths = [];
    delete spec.linux.resources;
    await writeFile(path.join(work, 'config.json'), JSON.stringify(spec, null, 2));
    const stateRoot = path.join(work, 'state');
    let n = 0;

    const berthOnce = async () => {
      const c = await Container.create({ id: `b${n++}`, bundle: work, spec, root: stateRoot });
      await c.start();
      await c.wait();
      await c.delete();
    };
    const peerOnce = (bin) => new Promise((resolve, reject) => {
      const child = spawn(bin, ['--root', path.join(work, 'peer-state', bin), 'run', '--bundle', work, `${bin}${n++}`], { stdio: 'ignore' });
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${bin} run exited ${code}`))));
    });
    const impls = { berth: berthOnce, ...Object.fromEntries(peers.map((p) => [p, () => peerOnce(p)])) };

    const timeIt = async (fn) => { const t = process.hrtime.bigint(); await fn(); return Number(process.hrtime.bigint() - t) / 1e6; };
    const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

    for (const fn of Object.values(impls)) for (let i = 0; i < 5; i++) await fn(); // warm caches
    const results = {};
    for (const name of Object.keys(impls)) results[name] = { sequential: [], parallel: [] };
    for (let r = 0; r < rounds; r++) {
      for (const [name, fn] of Object.entries(impls)) {
        const each = [];
        for (let i = 0; i < runs; i++) each.push(await timeIt(fn));
        results[name].sequential.push(median(each));
        results[name].parallel.push(await timeIt(() => Promise.all(Array.from({ length: parallel }, fn))));
      }
    }
    const summary = {};
    for (const [name, r] of Object.entries(results)) summary[name] = { sequentialMedianMs: median(r.sequential), parallelBatchMs: median(r.parallel) };

    // Memory: a created-but-not-started container, and this process's RSS over many runs.
    const held = await Container.create({ id: 'held', bundle: work, spec, root: stateRoot });
    const pss = readFileSync(`/proc/${held.pid}/smaps_rollup`, 'utf8').match(/^Pss:\s+(\d+) kB/m)[1];
    const rssOfInit = readFileSync(`/proc/${held.pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m)[1];
    await held.delete({ force: true });
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    for (let i = 0; i < Number(opts['rss-runs']); i++) await berthOnce();
    global.gc?.();
    const rssAfter = process.memoryUsage().rss;

    const report = {
      date: new Date().toISOString(),
      host: `${os.cpus().length} cpus, ${os.release()}`,
      runs, parallel, rounds,
      peers: Object.fromEntries(peers.map((p) => [p, execFileSync(p, ['--version'], { encoding: 'utf8' }).split('\n')[0]])),
      summary,
      ratios: Object.fromEntries(peers.map((p) => [p, {
        sequential: summary.berth.sequentialMedianMs / summary[p].sequentialMedianMs,
        parallel: summary.berth.parallelBatchMs / summary[p].parallelBatchMs,
      }])),
      createdContainer: { pssKiB: Number(pss), rssKiB: Number(rssOfInit) },
      nodeRss: { runs: Number(opts['rss-runs']), beforeMiB: rssBefore / 2 ** 20, afterMiB: rssAfter / 2 ** 20 },
    };
    console.log(JSON.stringify(report, null, 2));
    console.log('\n| runtime | median, one run (ms) | 20 at once, whole batch (ms) | berth ÷ it (one run) | berth ÷ it (batch) |');
    console.log('|---|---|---|---|---|');
    for (const [name, s] of Object.entries(summary)) {
      const ratio = report.ratios[name];
      console.log(`| ${name} | ${s.sequentialMedianMs.toFixed(2)} | ${s.parallelBatchMs.toFixed(1)} | ${ratio ? ratio.sequential.toFixed(2) : '—'} | ${ratio ? ratio.parallel.toFixed(2) : '—'} |`);
    }
    if (opts.json) writeFileSync(opts.json, JSON.stringify(report, null, 2));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
