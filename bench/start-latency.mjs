#!/usr/bin/env node
// bench/start-latency: how long it takes to run /bin/true in a fresh container (pid, mount, uts,
// ipc and net namespaces, /proc, pivot_root): berth from inside this Node process, against
// `runc run` and `crun run` spawned from the same process on the same bundle and config.json.
//
//   node bench/start-latency.mjs [--runs 100] [--parallel 20] [--rounds 5]
//                                [--rss-runs 1000] [--mem-count 50] [--json FILE]   (as root; or npm run bench)
//
// Measures, per runtime: median of one create+start+wait+delete (`run` for runc/crun) over
// --runs runs in a row, and the wall time of --parallel of them at once; both as the median
// over --rounds rounds (runtimes interleaved, order rotated each round). Then: the memory of a
// created-but-not-started container (Pss/Rss of its init, and kernel objects from /proc/meminfo
// over --mem-count of them), and this process's RSS before/after --rss-runs berth runs.
// Cgroups: all three create one per container in every v1 hierarchy, so "crun" is the
// like-for-like row; "crun, no cgroup" (--cgroup-manager=disabled) shows what crun's cgroup costs. It all runs in a private mount namespace with a tmpfs over
// /sys/fs/cgroup/unified, since crun refuses this host's hybrid cgroup layout otherwise.
// State roots are on tmpfs (/run) for all, as the runtimes' defaults (/run/runc, /run/crun) are.
// /dev is not a tmpfs in the config, so all three mknod devices into the bundle's rootfs/dev:
// the warm-up interleaves them so each must cope with nodes the others left (EEXIST).
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import v8 from 'node:v8';
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

/** When berth's dist/ was last compiled (others rebuild it while benchmarks run). */
function distBuilt() {
  const dist = fileURLToPath(new URL('../dist/', import.meta.url));
  const files = readdirSync(dist, { recursive: true }).filter((f) => f.endsWith('.js'));
  return new Date(Math.max(...files.map((f) => statSync(path.join(dist, f)).mtimeMs))).toISOString();
}

async function main() {
  const { Container, createBusyboxRootfs, defaultSpec } = await import('berth');
  const [runs, parallel, rounds, rssRuns, memCount] = ['runs', 'parallel', 'rounds', 'rss-runs', 'mem-count'].map((k) => Number(opts[k]));
  const work = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-')); // the bundle
  const state = await mkdtemp('/run/berth-bench-'); // state roots, tmpfs
  const peerBins = { runc: '/usr/sbin/runc', crun: '/usr/bin/crun' };
  const notes = [];
  const loadAtStart = os.loadavg()[0];
  const peerArgs = { runc: ['runc', []], crun: ['crun', []], 'crun, no cgroup': ['crun', ['--cgroup-manager=disabled']] };
  const peer = (name) => { const [bin, g] = peerArgs[name]; return [peerBins[bin], [...g, '--root', path.join(state, name.replace(/\W+/g, '-'))]]; };
  try {
    // One bundle per concurrent slot: runtimes racing on one rootfs/dev fail (crun: "creating
    // symlink for `/dev/ptmx`: File exists"); slot 0 serves the runs in a row.
    const bundles = Array.from({ length: parallel }, (_, i) => path.join(work, `bundle${i}`));
    await createBusyboxRootfs(path.join(bundles[0], 'rootfs'));
    const spec = defaultSpec();
    spec.ociVersion = '1.0.2'; // crun 1.8 refuses 1.2.0 ("unknown version specified")
    spec.process.args = ['/bin/true'];
    spec.mounts = [{ destination: '/proc', type: 'proc', source: 'proc' }]; // /dev is the rootfs's: devices are mknod'ed there
    spec.linux.namespaces = ['pid', 'mount', 'uts', 'ipc', 'network'].map((type) => ({ type }));
    spec.linux.maskedPaths = [];
    spec.linux.readonlyPaths = [];
    delete spec.linux.resources; // all three then apply their default device rules
    await writeFile(path.join(bundles[0], 'config.json'), JSON.stringify(spec, null, 2));
    for (const b of bundles.slice(1)) execFileSync('cp', ['-a', bundles[0], b]);
    let n = 0;

    // One container each way. berth reads the same <bundle>/config.json as runc and crun.
    const berthCreate = (id = `b${n++}`, slot = 0) => Container.create({ id, bundle: bundles[slot], root: path.join(state, 'berth') });
    const berthOnce = async (slot = 0) => { const c = await berthCreate(undefined, slot); await c.start(); await c.wait(); await c.delete(); };
    // stderr goes to a file, not a pipe: after `create` the container's init holds it open.
    const exec = (bin, args) => new Promise((resolve, reject) => {
      const errLog = path.join(work, `stderr-${n++}.log`);
      const errFd = openSync(errLog, 'w');
      const child = spawn(bin, args, { stdio: ['ignore', 'ignore', errFd] });
      closeSync(errFd);
      child.on('error', reject);
      child.on('exit', (code) => {
        const err = readFileSync(errLog, 'utf8').trim();
        rmSync(errLog);
        if (code === 0) resolve(); else reject(new Error(`${bin} ${args.join(' ')}: exit ${code}: ${err}`));
      });
    });
    const impls = { berth: berthOnce };
    for (const name of Object.keys(peerArgs)) {
      const [bin, g] = peer(name);
      if (existsSync(bin)) impls[name] = (slot = 0) => exec(bin, [...g, 'run', '--bundle', bundles[slot], `p${n++}`]);
      else notes.push(`${name}: ${bin} not installed, skipped`);
    }
    impls['spawn /bin/true (no container)'] = () => exec('/bin/true', []);

    const log = (msg) => process.stderr.write(`start-latency: ${msg}\n`);
    log('warm-up');
    // Warm up, interleaved, so each runtime finds /dev nodes the others mknod'ed (EEXIST check).
    const failures = {};
    for (let i = 0; i < 5; i++) {
      for (const [name, fn] of Object.entries(impls)) {
        try { await fn(); } catch (err) {
          failures[name] = `${err.name}${err.stage ? ` (stage ${err.stage}, path ${err.path})` : ''}: ${err.message}`;
          delete impls[name];
        }
      }
    }

    // Memory of created-but-not-started containers (before the timing, on a settled host).
    const meminfo = () => Object.fromEntries(readFileSync('/proc/meminfo', 'utf8').trim().split('\n').map((l) => [l.split(':')[0], Number(l.split(/\s+/)[1])]));
    const procKiB = (pid, file, key) => Number(readFileSync(`/proc/${pid}/${file}`, 'utf8').match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))[1]);
    const settle = async () => { global.gc(); await sleep(2000); }; // lets namespace teardown (RCU, cleanup_net) finish
    const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
    const memoryOf = async (create, destroy) => { // median over 3 batches of memCount
      const samples = [];
      for (let rep = 0; rep < 3; rep++) {
        await settle();
        const before = meminfo(); const rss0 = process.memoryUsage().rss;
        const pids = [];
        for (let i = 0; i < memCount; i++) pids.push(await create(`m${rep}-${i}`));
        await sleep(500); global.gc();
        const after = meminfo(); const rss1 = process.memoryUsage().rss;
        const per = (file, key) => pids.reduce((sum, pid) => sum + procKiB(pid, file, key), 0) / memCount;
        const d = (k) => (after[k] - before[k]) / memCount;
        const kernel = d('Slab') + d('KernelStack') + d('PageTables') + d('Percpu');
        const pss = per('smaps_rollup', 'Pss');
        samples.push({
          initPssKiB: pss, initRssKiB: per('status', 'VmRSS'), kernelKiB: kernel, totalKiB: pss + kernel,
          slabKiB: d('Slab'), percpuKiB: d('Percpu'),
          memAvailableDropKiB: -d('MemAvailable') - (rss1 - rss0) / 1024 / memCount, // noisy cross-check
        });
        for (let i = 0; i < memCount; i++) await destroy(`m${rep}-${i}`);
      }
      return Object.fromEntries(Object.keys(samples[0]).map((k) => [k, median(samples.map((x) => x[k]))]));
    };
    const memory = {};
    log('memory of created containers');
    let berthCgroups = 0; // hierarchies in which berth's init is in another cgroup than this process
    if (!failures.berth) {
      const held = {};
      memory.berth = await memoryOf(async (id) => (held[id] = await berthCreate(id)).pid, (id) => held[id].delete({ force: true }));
      const probe = await berthCreate('cgroup-probe');
      const own = new Set(readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n'));
      berthCgroups = readFileSync(`/proc/${probe.pid}/cgroup`, 'utf8').trim().split('\n').filter((l) => !own.has(l)).length;
      await probe.delete({ force: true });
    }
    for (const name of ['runc', 'crun']) {
      if (!impls[name]) continue;
      const [bin, g] = peer(name);
      memory[name] = await memoryOf(async (id) => {
        const pidFile = path.join(work, `${id}.pid`);
        await exec(bin, [...g, 'create', '--bundle', bundles[0], '--pid-file', pidFile, id]);
        return Number(readFileSync(pidFile, 'utf8'));
      }, (id) => exec(bin, [...g, 'delete', '--force', id]));
    }

    // Latency rounds.
    const timeIt = async (fn) => { const t = process.hrtime.bigint(); await fn(); return Number(process.hrtime.bigint() - t) / 1e6; };
    const names = Object.keys(impls);
    const results = Object.fromEntries(names.map((k) => [k, { sequential: [], parallel: [] }]));
    for (let r = 0; r < rounds; r++) {
      log(`round ${r + 1}/${rounds}`);
      for (const name of [...names.slice(r % names.length), ...names.slice(0, r % names.length)]) {
        await sleep(500);
        const each = [];
        for (let i = 0; i < runs; i++) each.push(await timeIt(impls[name]));
        results[name].sequential.push(median(each));
        await sleep(500);
        results[name].parallel.push(await timeIt(() => Promise.all(Array.from({ length: parallel }, (_, slot) => impls[name](slot)))));
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
      log(`node RSS over ${rssRuns} runs`);
      await settle();
      const newSpace = () => v8.getHeapSpaceStatistics().find((sp) => sp.space_name === 'new_space').space_size / 2 ** 20;
      const m0 = process.memoryUsage(); const fd0 = fds(); const new0 = newSpace();
      for (let i = 0; i < rssRuns; i++) {
        await berthOnce();
        if ((i + 1) % Math.ceil(rssRuns / 4) === 0) { global.gc(); nodeRss.checkpointsMiB.push(+(process.memoryUsage().rss / 2 ** 20).toFixed(1)); }
      }
      await settle();
      const m = process.memoryUsage();
      Object.assign(nodeRss, {
        beforeMiB: m0.rss / 2 ** 20, afterMiB: m.rss / 2 ** 20, growthMiB: (m.rss - m0.rss) / 2 ** 20,
        heapUsedGrowthMiB: (m.heapUsed - m0.heapUsed) / 2 ** 20, heapTotalGrowthMiB: (m.heapTotal - m0.heapTotal) / 2 ** 20,
        openFdsBefore: fd0, openFdsAfter: fds(),
        v8NewSpaceMiB: [new0, newSpace()], // V8 grows its young generation with allocation rate: RSS, not a leak
      });
    }

    const peers = Object.fromEntries(Object.entries(peerBins).filter(([, b]) => existsSync(b))
      .map(([p, b]) => [p, execFileSync(b, ['--version'], { encoding: 'utf8' }).split('\n')[0]]));
    const ratios = Object.fromEntries(Object.keys(summary).filter((k) => k !== 'berth' && summary.berth).map((k) => [k, {
      sequential: summary.berth.sequentialMedianMs / summary[k].sequentialMedianMs,
      parallel: summary.berth.parallelBatchMs / summary[k].parallelBatchMs,
    }]));
    notes.push(`cgroups: berth ${berthCgroups ? `puts each container in a cgroup of its own (${berthCgroups} hierarchies)` : 'sets up no cgroup'}; `
      + 'runc and crun create and remove one per container in each v1 hierarchy; "crun, no cgroup" runs crun --cgroup-manager=disabled');
    const report = {
      date: new Date().toISOString(), berthBuilt: distBuilt(), loadavg1m: [loadAtStart, os.loadavg()[0]], host: `${os.cpus().length} cpus, Linux ${os.release()}, Node ${process.version}`,
      runs, parallel, rounds, peers, summary, ratios, failures, memory, nodeRss, notes,
    };
    const f = (x, d = 1) => x.toFixed(d);
    const out = [`\n${report.host}; ${peers.runc ?? 'no runc'}; ${peers.crun ?? 'no crun'}; berth built ${report.berthBuilt}; median of ${rounds} rounds; load average ${report.loadavg1m.map((x) => f(x, 2)).join(' → ')}`,
      `\n| runtime | one run, median (ms) [round range] | ${parallel} at once, batch (ms) [range] | berth ÷ it, one run | berth ÷ it, batch |`,
      '|---|---|---|---|---|'];
    for (const [name, s] of Object.entries(summary)) {
      const r = ratios[name];
      out.push(`| ${name} | ${f(s.sequentialMedianMs, 2)} [${s.sequentialRangeMs.map((x) => f(x, 2)).join('–')}] | ${f(s.parallelBatchMs)} [${s.parallelRangeMs.map((x) => f(x)).join('–')}] | ${r ? f(r.sequential, 2) : '—'} | ${r ? f(r.parallel, 2) : '—'} |`);
    }
    out.push(`\nCreated, not started (KiB per container: mean of ${memCount}, median of 3 batches):\n`, '| runtime | init Pss | init Rss | kernel: Δ(Slab+KernelStack+PageTables+Percpu) | total (Pss + kernel) |', '|---|---|---|---|---|');
    for (const [name, m] of Object.entries(memory)) out.push(`| ${name} | ${f(m.initPssKiB, 0)} | ${f(m.initRssKiB, 0)} | ${f(m.kernelKiB, 0)} | ${f(m.totalKiB, 0)} |`);
    if (nodeRss.beforeMiB) out.push(`\nNode RSS over ${rssRuns} berth runs: ${f(nodeRss.beforeMiB)} → ${f(nodeRss.afterMiB)} MiB (${nodeRss.growthMiB >= 0 ? '+' : ''}${f(nodeRss.growthMiB, 2)} MiB; checkpoints ${nodeRss.checkpointsMiB.join(', ')}; V8 heapUsed ${f(nodeRss.heapUsedGrowthMiB, 2)}, heapTotal ${f(nodeRss.heapTotalGrowthMiB, 2)} MiB; new space ${nodeRss.v8NewSpaceMiB.join(' → ')} MiB; fds ${nodeRss.openFdsBefore} → ${nodeRss.openFdsAfter})`);
    for (const [name, msg] of Object.entries(failures)) out.push(`\nFAILED ${name}: ${msg}`);
    for (const note of notes) out.push(`\nNote: ${note}`);
    console.log(out.join('\n'));
    if (opts.json) writeFileSync(opts.json, JSON.stringify(report, null, 2));
  } finally {
    for (const name of ['runc', 'crun']) { // peer containers left by a failure, and their cgroups
      const [bin, g] = peer(name);
      if (!existsSync(bin)) continue;
      try {
        const ids = execFileSync(bin, [...g, 'list', '-q'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter(Boolean);
        for (const id of ids) execFileSync(bin, [...g, 'delete', '--force', id], { stdio: 'ignore' });
      } catch { /* no state root: nothing left */ }
    }
    await rm(work, { recursive: true, force: true });
    await rm(state, { recursive: true, force: true });
  }
}
