#!/usr/bin/env node
// bench/start-latency: how long it takes to run /bin/true in a fresh container (pid, mount, uts,
// ipc and net namespaces, /proc, pivot_root): berth from inside this Node process, against
// `runc run` and `crun run` spawned from the same process on the same bundle and config.json.
//
//   sudo node bench/start-latency.mjs [--runs 100] [--parallel 20] [--rounds 5]
//                                     [--rss-runs 1000] [--mem-count 50] [--json FILE]
//
// Measures, per runtime: median of one create+start+wait+delete (`run` for runc/crun) over
// --runs runs in a row, and the wall time of --parallel of them at once; both as the median
// over --rounds rounds (runtimes interleaved, order rotated each round). Then: the memory of a
// created-but-not-started container (Pss/Rss of its init, and kernel objects from /proc/meminfo
// over --mem-count of them), and this process's RSS before/after --rss-runs berth runs.
// Cgroups: berth creates none yet; runc and crun create one per container in every v1
// hierarchy (runc cannot be told not to); "crun, no cgroup" (--cgroup-manager=disabled) is the
// like-for-like row. It all runs in a private mount namespace with a tmpfs over
// /sys/fs/cgroup/unified, since crun refuses this host's hybrid cgroup layout otherwise.
// State roots are on tmpfs (/run) for all, as the runtimes' defaults (/run/runc, /run/crun) are.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '100' },
    parallel: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '5' },
    'rss-runs': { type: 'string', default: '1000' },
    'mem-count': { type: 'string', default: '50' },
    json: { type: 'string' },
    inner: { type: 'boolean', default: false },
  },
});

if (!opts.inner) {
  // Re-exec inside a private mount namespace (see the header), with gc() exposed.
  if (process.getuid() !== 0) { console.error('start-latency: run as root'); process.exit(1); }
  const self = fileURLToPath(import.meta.url);
  const json = opts.json ? ['--json', path.resolve(opts.json)] : [];
  const args = process.argv.slice(2).filter((a, i, all) => a !== '--json' && all[i - 1] !== '--json' && !a.startsWith('--json='));
  const script = 'mount --make-rprivate / && mount -t tmpfs none /sys/fs/cgroup/unified && exec "$0" "$@"';
  const child = spawn('unshare', ['-m', 'sh', '-c', script, process.execPath, '--expose-gc', self, '--inner', ...args, ...json], { stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 1));
} else {
  await main();
}

async function main() {
  const { Container, createBusyboxRootfs, defaultSpec } = await import('berth');
  const [runs, parallel, rounds, rssRuns, memCount] = ['runs', 'parallel', 'rounds', 'rss-runs', 'mem-count'].map((k) => Number(opts[k]));
  const work = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-')); // the bundle
  const state = await mkdtemp('/run/berth-bench-'); // state roots, tmpfs
  const peerBins = { runc: '/usr/sbin/runc', crun: '/usr/bin/crun' };
  const notes = [];
  try {
    await createBusyboxRootfs(path.join(work, 'rootfs'));
    const spec = defaultSpec();
    spec.ociVersion = '1.0.2'; // crun 1.8 refuses 1.2.0 ("unknown version specified")
    spec.process.args = ['/bin/true'];
    spec.mounts = [{ destination: '/proc', type: 'proc', source: 'proc' }]; // /dev is the rootfs's: devices are mknod'ed there
    spec.linux.namespaces = ['pid', 'mount', 'uts', 'ipc', 'network'].map((type) => ({ type }));
    spec.linux.maskedPaths = [];
    spec.linux.readonlyPaths = [];
    delete spec.linux.resources; // runc/crun then apply their default device rules; berth has no cgroup yet
    await writeFile(path.join(work, 'config.json'), JSON.stringify(spec, null, 2));
    let n = 0;

    // One container each way. berth reads the same <bundle>/config.json as runc and crun.
    const berthCreate = (id = `b${n++}`) => Container.create({ id, bundle: work, root: path.join(state, 'berth') });
    const berthOnce = async () => { const c = await berthCreate(); await c.start(); await c.wait(); await c.delete(); };
    const exec = (bin, args) => new Promise((resolve, reject) => {
      const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => { err += d; });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${bin} ${args.join(' ')}: exit ${code}: ${err.trim()}`))));
    });
    const peerArgs = { runc: ['runc', []], crun: ['crun', []], 'crun, no cgroup': ['crun', ['--cgroup-manager=disabled']] };
    const peer = (name) => { const [bin, g] = peerArgs[name]; return [peerBins[bin], [...g, '--root', path.join(state, name.replace(/\W+/g, '-'))]]; };
    const impls = { berth: berthOnce };
    for (const name of Object.keys(peerArgs)) {
      const [bin, g] = peer(name);
      if (existsSync(bin)) impls[name] = () => exec(bin, [...g, 'run', '--bundle', work, `p${n++}`]);
      else notes.push(`${name}: ${bin} not installed, skipped`);
    }
    impls['spawn /bin/true (no container)'] = () => exec('/bin/true', []);

    // Warm up, interleaved, so each runtime finds /dev nodes the others mknod'ed (EEXIST check).
    const failures = {};
    for (let i = 0; i < 5; i++) {
      for (const [name, fn] of Object.entries(impls)) {
        try { await fn(); } catch (err) { failures[name] = `${err.code ?? ''} ${err.message}`.trim(); delete impls[name]; }
      }
    }

    // Memory of created-but-not-started containers (before the timing, on a settled host).
    const meminfo = () => Object.fromEntries(readFileSync('/proc/meminfo', 'utf8').trim().split('\n').map((l) => [l.split(':')[0], Number(l.split(/\s+/)[1])]));
    const procKiB = (pid, file, key) => Number(readFileSync(`/proc/${pid}/${file}`, 'utf8').match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))[1]);
    const settle = async () => { global.gc(); await sleep(2000); }; // lets namespace teardown (RCU, cleanup_net) finish
    const memoryOf = async (name, create, destroy) => {
      await settle();
      const before = meminfo(); const rss0 = process.memoryUsage().rss;
      const pids = [];
      for (let i = 0; i < memCount; i++) pids.push(await create(i));
      await sleep(500); global.gc();
      const after = meminfo(); const rss1 = process.memoryUsage().rss;
      const sum = (file, key) => pids.reduce((s, pid) => s + procKiB(pid, file, key), 0) / memCount;
      const d = (k) => (before[k] - after[k]) / memCount;
      const kernel = ['Slab', 'KernelStack', 'PageTables', 'Percpu'].reduce((s, k) => s - d(k), 0);
      const res = {
        initPssKiB: sum('smaps_rollup', 'Pss'), initRssKiB: sum('status', 'VmRSS'), kernelKiB: kernel,
        slabKiB: -d('Slab'), percpuKiB: -d('Percpu'), // kernel = Slab + KernelStack + PageTables + Percpu
        totalKiB: d('MemFree') - (rss1 - rss0) / 1024 / memCount, // all memory the host lost, minus this process's growth
      };
      for (let i = 0; i < memCount; i++) await destroy(i);
      return res;
    };
    const memory = {};
    if (!failures.berth) {
      const held = [];
      memory.berth = await memoryOf('berth', async (i) => (held[i] = await berthCreate(`m${i}`)).pid, (i) => held[i].delete({ force: true }));
    }
    for (const name of ['runc', 'crun']) {
      if (!impls[name]) continue;
      const [bin, g] = peer(name);
      memory[name] = await memoryOf(name, async (i) => {
        const pidFile = path.join(work, `${name}-m${i}.pid`);
        await exec(bin, [...g, 'create', '--bundle', work, '--pid-file', pidFile, `${name}-m${i}`]);
        return Number(readFileSync(pidFile, 'utf8'));
      }, (i) => exec(bin, [...g, 'delete', '--force', `${name}-m${i}`]));
    }

    // Latency rounds.
    const timeIt = async (fn) => { const t = process.hrtime.bigint(); await fn(); return Number(process.hrtime.bigint() - t) / 1e6; };
    const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
    const names = Object.keys(impls);
    const results = Object.fromEntries(names.map((k) => [k, { sequential: [], parallel: [] }]));
    for (let r = 0; r < rounds; r++) {
      for (const name of [...names.slice(r % names.length), ...names.slice(0, r % names.length)]) {
        await sleep(500);
        const each = [];
        for (let i = 0; i < runs; i++) each.push(await timeIt(impls[name]));
        results[name].sequential.push(median(each));
        await sleep(500);
        results[name].parallel.push(await timeIt(() => Promise.all(Array.from({ length: parallel }, () => impls[name]()))));
      }
    }
    const summary = {};
    for (const [name, r] of Object.entries(results)) {
      summary[name] = {
        sequentialMedianMs: median(r.sequential), sequentialRangeMs: [Math.min(...r.sequential), Math.max(...r.sequential)],
        parallelBatchMs: median(r.parallel), parallelRangeMs: [Math.min(...r.parallel), Math.max(...r.parallel)],
      };
    }

    // This process's RSS over many runs, after all the above as warm-up.
    const fds = () => readdirSync('/proc/self/fd').length;
    const nodeRss = { runs: rssRuns, checkpointsMiB: [] };
    if (!failures.berth) {
      await settle();
      const rss0 = process.memoryUsage().rss; const heap0 = process.memoryUsage().heapUsed; const fd0 = fds();
      for (let i = 0; i < rssRuns; i++) {
        await berthOnce();
        if ((i + 1) % Math.ceil(rssRuns / 4) === 0) { global.gc(); nodeRss.checkpointsMiB.push(+(process.memoryUsage().rss / 2 ** 20).toFixed(1)); }
      }
      await settle();
      const m = process.memoryUsage();
      Object.assign(nodeRss, {
        beforeMiB: rss0 / 2 ** 20, afterMiB: m.rss / 2 ** 20, growthMiB: (m.rss - rss0) / 2 ** 20,
        heapGrowthMiB: (m.heapUsed - heap0) / 2 ** 20, openFdsBefore: fd0, openFdsAfter: fds(),
      });
    }

    const peers = Object.fromEntries(Object.entries(peerBins).filter(([, b]) => existsSync(b))
      .map(([p, b]) => [p, execFileSync(b, ['--version'], { encoding: 'utf8' }).split('\n')[0]]));
    const ratios = Object.fromEntries(Object.keys(summary).filter((k) => k !== 'berth' && summary.berth).map((k) => [k, {
      sequential: summary.berth.sequentialMedianMs / summary[k].sequentialMedianMs,
      parallel: summary.berth.parallelBatchMs / summary[k].parallelBatchMs,
    }]));
    notes.push('berth creates no cgroup yet; runc and crun create and remove one per container in each v1 hierarchy; "crun, no cgroup" runs crun --cgroup-manager=disabled');
    const report = {
      date: new Date().toISOString(), host: `${os.cpus().length} cpus, Linux ${os.release()}, Node ${process.version}`,
      runs, parallel, rounds, peers, summary, ratios, failures, memory, nodeRss, notes,
    };
    const f = (x, d = 1) => x.toFixed(d);
    const out = [`\n${report.host}; ${peers.runc ?? 'no runc'}; ${peers.crun ?? 'no crun'}; median of ${rounds} rounds`,
      `\n| runtime | one run, median (ms) [round range] | ${parallel} at once, batch (ms) [range] | berth ÷ it, one run | berth ÷ it, batch |`,
      '|---|---|---|---|---|'];
    for (const [name, s] of Object.entries(summary)) {
      const r = ratios[name];
      out.push(`| ${name} | ${f(s.sequentialMedianMs, 2)} [${s.sequentialRangeMs.map((x) => f(x, 2)).join('–')}] | ${f(s.parallelBatchMs)} [${s.parallelRangeMs.map((x) => f(x)).join('–')}] | ${r ? f(r.sequential, 2) : '—'} | ${r ? f(r.parallel, 2) : '—'} |`);
    }
    out.push(`\nCreated, not started (per container, mean of ${memCount}; KiB):\n`, '| runtime | init Pss | init Rss | kernel (slab+stack+pt+percpu) | total (ΔMemFree) |', '|---|---|---|---|---|');
    for (const [name, m] of Object.entries(memory)) out.push(`| ${name} | ${f(m.initPssKiB, 0)} | ${f(m.initRssKiB, 0)} | ${f(m.kernelKiB, 0)} | ${f(m.totalKiB, 0)} |`);
    if (nodeRss.beforeMiB) out.push(`\nNode RSS over ${rssRuns} berth runs: ${f(nodeRss.beforeMiB)} → ${f(nodeRss.afterMiB)} MiB (${nodeRss.growthMiB >= 0 ? '+' : ''}${f(nodeRss.growthMiB, 2)} MiB; checkpoints ${nodeRss.checkpointsMiB.join(', ')}; heap ${f(nodeRss.heapGrowthMiB, 2)} MiB; fds ${nodeRss.openFdsBefore} → ${nodeRss.openFdsAfter})`);
    for (const [name, msg] of Object.entries(failures)) out.push(`\nFAILED ${name}: ${msg}`);
    for (const note of notes) out.push(`\nNote: ${note}`);
    console.log(out.join('\n'));
    if (opts.json) writeFileSync(opts.json, JSON.stringify(report, null, 2));
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(state, { recursive: true, force: true });
  }
}
