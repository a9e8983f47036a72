#!/usr/bin/env node
// bench/cli-run: `berth run --rm busybox true` end to end from the shell (issue 7), against
// `podman run --rm` on the same image and `runc run` on a prepared bundle with the same rootfs;
// then the memory of berth-monitor per running container against podman's conmon.
//
//   node bench/cli-run.mjs [--runs 20] [--rounds 5] [--mem-count 5] [--dir /var/tmp]
//                          [--json FILE]                         (as root; npm run build:ts first)
//
// Each command is a spawned process timed from spawn to exit (stdout ignored, stderr kept for
// the error message), --runs in a row, the median of those per round, and the median over
// --rounds rounds (commands interleaved, order rotated each round). Timed: `node -e 0` and
// `berth version` (how much of berth's time is Node start-up and the CLI's own loading);
// `berth run --rm` with the default network (a bridge endpoint; the network itself, made by the
// first run, stays as Docker's docker0 does, while podman's netavark makes and removes its
// bridge on every run) and with `--network none`;
// `podman run --rm` likewise, with crun (podman's default here) and with `--runtime runc`;
// `runc run` of a bundle from `runc spec` (args `true`, terminal false; its own net namespace
// with only lo, like `--network none`). Goal: berth at most 0.5x podman.
// The image is the host's busybox-static as a rootfs (createBusyboxRootfs), `tar -c`, then
// `berth import -c 'CMD ["sh"]'` into a temp root with `--storage-driver overlay2`; podman gets
// the same image through `berth save` | `podman load` into a private --root/--runroot/--tmpdir
// (overlay). podman on these machines: the host lacks CAP_SYS_RESOURCE, so the runtime cannot
// raise an rlimit. podman asks for rlimits above its own by default, and lowers its own
// RLIMIT_NPROC to 32768 at start-up (strace shows it), so even `--ulimit nproc=<host's>` is a
// raise for the runtime. The bench tries, in order: no --ulimit, `--ulimit host`, nofile and
// nproc at the host's limits (ulimit -Sn/-Hn/-Su/-Hu), and nofile at the host's with nproc at
// the limit the runtime inherits from podman (read by a wrapper runtime that records
// /proc/self/limits); each error is printed, and the first combination that runs is timed. If
// none runs, the podman ratio is reported as not measurable on this host.
// It all runs in a private mount namespace: a tmpfs over /sys/fs/cgroup/unified (crun refuses
// this host's hybrid cgroup layout otherwise: "cgroups in hybrid mode not supported") and over
// /run/containers and /var/lib/containers, where podman keeps state whatever --root says (its
// netavark IPAM db, the blob-info cache), so the system's podman state is not touched.
// Memory: --mem-count detached containers (`berth run -d busybox sleep 600`); each monitor's
// VmRSS (/proc/PID/status) and Rss/Pss (/proc/PID/smaps_rollup), the pid from
// <root>/containers/<id>/monitor.json; the same for conmon of `podman run -d` containers.
// A run that fails (exit status not 0) is counted and left out of the times, its error shown.
// At the end: berth rm -f of every container in the temp root, podman rm -f, mounts under the temp dirs unmounted, temp dirs removed.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '5' },
    'mem-count': { type: 'string', default: '5' },
    dir: { type: 'string', default: '/var/tmp' },
    json: { type: 'string' },
    inner: { type: 'boolean', default: false },
  },
});

function log(msg) { process.stderr.write(`cli-run: ${msg}\n`); }
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const f1 = (x) => (x === undefined ? '—' : x.toFixed(1));
const f2 = (x) => (x === undefined ? '—' : x.toFixed(2));
/** The telling line of a failed command's stderr (a Node crash ends with "Node.js vX": take its error line). */
function errorLine(stderr) {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/^Node\.js v/.test(l));
  return lines.find((l) => /^(berth:|Error\b|\w*Error\b)/.test(l)) ?? lines.at(-1) ?? '';
}
const sh = (cmd) => execFileSync('bash', ['-c', cmd], { encoding: 'utf8' }).trim();

/** Spawns a command, resolves with {ms, code, stderr} (wall clock from spawn to exit). */
function timed(bin, args) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    let ms;
    child.on('exit', () => { ms = Number(process.hrtime.bigint() - t0) / 1e6; });
    child.on('close', (code, sig) => resolve({ ms, code: code ?? 128 + (os.constants.signals[sig] ?? 0), stderr: err.trim() }));
  });
}

/** Runs a command to its end and returns its stdout; throws with its stderr on failure. */
function run(bin, args, { input } = {}) {
  try {
    return execFileSync(bin, args, { encoding: 'utf8', input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } catch (e) {
    throw new Error(`${path.basename(bin)} ${args.join(' ')}: ${e.status ?? e.signal}: ${String(e.stderr ?? '').trim()}`);
  }
}

/** Mount points at or under `dir`, deepest first. */
function mountsUnder(dir) {
  const unesc = (s) => s.replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n').map((l) => unesc(l.split(' ')[4]))
    .filter((m) => m === dir || m.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
}
const unmountUnder = (dir) => { for (const m of mountsUnder(dir)) { try { execFileSync('umount', ['-l', m], { stdio: 'ignore' }); } catch { /* gone already */ } } };

/** When berth's dist/ was last compiled (others rebuild it while benchmarks run). */
function distBuilt(dist) {
  const files = readdirSync(dist, { recursive: true }).filter((f) => f.endsWith('.js'));
  return new Date(Math.max(...files.map((f) => statSync(path.join(dist, f)).mtimeMs))).toISOString();
}

/** VmRSS (status) and Rss/Pss (smaps_rollup) of a pid, KiB. */
function memOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kib = (text, key) => Number(text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))?.[1]);
  return { vmRss: kib(status, 'VmRSS'), rss: kib(rollup, 'Rss'), pss: kib(rollup, 'Pss'), name: status.match(/^Name:\s+(.*)$/m)?.[1] };
}

async function main() {
  const runs = Number(opts.runs);
  const rounds = Number(opts.rounds);
  const memCount = Number(opts['mem-count']);
  const repo = fileURLToPath(new URL('../', import.meta.url));
  const dist = path.join(repo, 'dist');
  const BERTH = path.join(repo, 'bin/berth');
  const { createBusyboxRootfs } = await import(path.join(dist, 'index.js'));
  const work = await mkdtemp(path.join(opts.dir, 'berth-cli-run-'));
  const runDir = await mkdtemp('/run/berth-cli-run-'); // podman's runroot and runc's state: tmpfs, as their defaults are
  const root = path.join(work, 'berth-root');
  const berthArgs = ['--root', root, '--storage-driver', 'overlay2'];
  const podmanGlobal = ['--root', path.join(work, 'podman-root'), '--runroot', path.join(runDir, 'podman-run'), '--tmpdir', path.join(runDir, 'podman-tmp'),
    '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none'];
  const PODMAN = '/usr/bin/podman';
  const RUNC = '/usr/sbin/runc';
  const notes = [];
  const versions = {};
  const results = { date: new Date().toISOString(), distBuilt: distBuilt(dist), loadAtStart: os.loadavg()[0], runs, rounds, cpus: os.cpus().length };
  const berthIds = [];
  const podmanIds = [];
  try {
    // The image, in berth.
    const rootfs = await createBusyboxRootfs(path.join(work, 'rootfs'));
    run('tar', ['-C', rootfs, '-cf', path.join(work, 'busybox.tar'), '.']);
    run(BERTH, [...berthArgs, 'import', '-c', 'CMD ["sh"]', path.join(work, 'busybox.tar'), 'busybox:latest']);
    versions.berth = run(BERTH, ['version']).match(/Version:\s+(\S+)/)?.[1];
    versions.node = process.version;

    // The runc bundle: same rootfs, `runc spec`, args true, no terminal.
    const bundle = path.join(work, 'bundle');
    await mkdir(bundle);
    await cp(rootfs, path.join(bundle, 'rootfs'), { recursive: true, verbatimSymlinks: true });
    execFileSync(RUNC, ['spec'], { cwd: bundle }); // writes ./config.json
    const spec = JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    spec.process.args = ['true'];
    spec.process.terminal = false;
    writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
    versions.runc = run(RUNC, ['--version']).split('\n')[0].replace(/^runc version /, '');
    const runcRoot = path.join(runDir, 'runc');
    let runcN = 0;

    // podman: load the same image, then find the rlimit flags (if any) its runtimes accept here.
    const podman = { available: existsSync(PODMAN), runtimes: {}, attempts: [] };
    if (podman.available) {
      versions.podman = run(PODMAN, ['--version']).trim().replace(/^podman version /, '');
      const saved = path.join(work, 'busybox-save.tar');
      run(BERTH, [...berthArgs, 'save', '-o', saved, 'busybox:latest']);
      run(PODMAN, [...podmanGlobal, 'load', '-i', saved]);
      const host = { nofileSoft: sh('ulimit -Sn'), nofileHard: sh('ulimit -Hn'), nprocSoft: sh('ulimit -Su'), nprocHard: sh('ulimit -Hu') };
      // What the runtime inherits from podman: a wrapper runtime records its limits, then execs runc.
      const wrapper = path.join(work, 'limits-runtime.sh');
      const limitsFile = path.join(work, 'runtime-limits.txt');
      writeFileSync(wrapper, `#!/bin/sh\ncat /proc/self/limits > ${limitsFile}\nexec ${RUNC} "$@"\n`, { mode: 0o755 });
      await timed(PODMAN, [...podmanGlobal, '--runtime', wrapper, 'run', '--rm', '--network', 'none', 'busybox', 'true']);
      const inherited = {};
      if (existsSync(limitsFile)) {
        const limits = readFileSync(limitsFile, 'utf8');
        const row = (name) => limits.match(new RegExp(`^${name}\\s+(\\S+)\\s+(\\S+)`, 'm'));
        const np = row('Max processes'); const nf = row('Max open files');
        Object.assign(inherited, { nprocSoft: np?.[1], nprocHard: np?.[2], nofileSoft: nf?.[1], nofileHard: nf?.[2] });
      }
      podman.hostLimits = host;
      podman.inheritedLimits = inherited;
      log(`host limits: nofile ${host.nofileSoft}:${host.nofileHard}, nproc ${host.nprocSoft}:${host.nprocHard}; the runtime inherits from podman: nofile ${inherited.nofileSoft}:${inherited.nofileHard}, nproc ${inherited.nprocSoft}:${inherited.nprocHard}`);
      const combos = [
        ['no --ulimit', []],
        ['--ulimit host', ['--ulimit', 'host']],
        ['--ulimit nofile,nproc = host\'s', ['--ulimit', `nofile=${host.nofileSoft}:${host.nofileHard}`, '--ulimit', `nproc=${host.nprocSoft}:${host.nprocHard}`]],
      ];
      if (inherited.nprocHard && (inherited.nprocSoft !== host.nprocSoft || inherited.nprocHard !== host.nprocHard)) {
        combos.push(['--ulimit nofile = host\'s, nproc = podman\'s own', ['--ulimit', `nofile=${host.nofileSoft}:${host.nofileHard}`, '--ulimit', `nproc=${inherited.nprocSoft}:${inherited.nprocHard}`]]);
      }
      for (const rt of ['crun', 'runc']) {
        for (const [label, flags] of combos) {
          const r = await timed(PODMAN, [...podmanGlobal, '--runtime', rt, 'run', '--rm', '--network', 'none', ...flags, 'busybox', 'true']);
          const error = r.code === 0 ? '' : errorLine(r.stderr);
          podman.attempts.push({ runtime: rt, ulimit: label, code: r.code, error });
          log(`podman --runtime ${rt} run --rm --network none, ${label}: ${r.code === 0 ? 'runs' : `exit ${r.code}: ${error}`}`);
          if (r.code === 0) { podman.runtimes[rt] = { label, flags }; break; }
        }
      }
      if (Object.keys(podman.runtimes).length === 0) {
        notes.push(`podman cannot run a container on this host with any of the --ulimit settings tried (e.g. "${podman.attempts.at(-1).error}"): the berth ÷ podman ratio cannot be measured here, nor conmon's memory`);
      }
    } else {
      notes.push('podman is not installed: no podman ratio, no conmon figure');
    }

    // The timed commands.
    const cmds = [
      { name: 'node -e 0', bin: process.execPath, args: ['-e', '0'] },
      { name: 'berth version', bin: BERTH, args: ['version'] },
      { name: 'berth run --rm (bridge)', bin: BERTH, args: [...berthArgs, 'run', '--rm', 'busybox', 'true'] },
      { name: 'berth run --rm --network none', bin: BERTH, args: [...berthArgs, 'run', '--rm', '--network', 'none', 'busybox', 'true'] },
      { name: 'runc run', bin: RUNC, args: () => ['--root', runcRoot, 'run', '--bundle', bundle, `bench-${runcN++}`] },
    ];
    for (const [rt, { flags }] of Object.entries(podman.runtimes)) {
      const base = [...podmanGlobal, '--runtime', rt, 'run', '--rm', ...flags];
      cmds.push({ name: `podman run --rm (${rt}, bridge)`, bin: PODMAN, args: [...base, 'busybox', 'true'] });
      cmds.push({ name: `podman run --rm --network none (${rt})`, bin: PODMAN, args: [...base, '--network', 'none', 'busybox', 'true'] });
    }
    // Warm-up: each must succeed once in three tries.
    for (const c of cmds) {
      for (let attempt = 1; ; attempt++) {
        const r = await timed(c.bin, typeof c.args === 'function' ? c.args() : c.args);
        if (r.code === 0) break;
        if (attempt === 3) throw new Error(`${c.name}: exit ${r.code}: ${r.stderr}`);
        log(`warm-up: ${c.name}: exit ${r.code}: ${errorLine(r.stderr)}`);
      }
    }
    const perRound = Object.fromEntries(cmds.map((c) => [c.name, []]));
    const failures = Object.fromEntries(cmds.map((c) => [c.name, []]));
    // A failed run is counted, its error kept and its time left out; containers it left behind
    // (a berth run that fails leaves its created container and monitor) are removed at once.
    const removeLeftovers = () => {
      for (const id of run(BERTH, [...berthArgs, 'ps', '-aq']).split('\n').filter(Boolean)) run(BERTH, [...berthArgs, 'rm', '-f', id]);
    };
    for (let round = 0; round < rounds; round++) {
      const order = cmds.map((_, i) => cmds[(i + round) % cmds.length]);
      for (const c of order) {
        const times = [];
        for (let i = 0; i < runs; i++) {
          const r = await timed(c.bin, typeof c.args === 'function' ? c.args() : c.args);
          if (r.code !== 0) {
            failures[c.name].push(`exit ${r.code}: ${errorLine(r.stderr)}`);
            log(`${c.name}: failed (${failures[c.name].at(-1)})`);
            if (failures[c.name].length > (runs * rounds) / 4) throw new Error(`${c.name}: too many failures: ${failures[c.name].at(-1)}`);
            if (c.bin === BERTH) removeLeftovers();
            continue;
          }
          times.push(r.ms);
        }
        perRound[c.name].push(median(times));
      }
      log(`round ${round + 1}/${rounds}: ${cmds.map((c) => `${c.name} ${f1(perRound[c.name].at(-1))}`).join(', ')}; load ${os.loadavg()[0].toFixed(2)}`);
    }
    const med = Object.fromEntries(cmds.map((c) => [c.name, { median: median(perRound[c.name]), min: Math.min(...perRound[c.name]), max: Math.max(...perRound[c.name]), rounds: perRound[c.name] }]));
    results.times = med;
    results.failures = failures;

    // Memory per running container: berth-monitor against conmon.
    const mem = { berth: [], conmon: [] };
    for (let i = 0; i < memCount; i++) {
      const id = run(BERTH, [...berthArgs, 'run', '-d', 'busybox', 'sleep', '600']).trim();
      berthIds.push(id);
    }
    await new Promise((r) => setTimeout(r, 500));
    for (const id of berthIds) {
      const state = JSON.parse(readFileSync(path.join(root, 'containers', id, 'monitor.json'), 'utf8'));
      mem.berth.push({ pid: state.monitorPid, ...memOf(state.monitorPid) });
    }
    const memRt = podman.runtimes.crun ? 'crun' : Object.keys(podman.runtimes)[0];
    if (memRt) {
      for (let i = 0; i < memCount; i++) {
        const id = run(PODMAN, [...podmanGlobal, '--runtime', memRt, 'run', '-d', ...podman.runtimes[memRt].flags, 'busybox', 'sleep', '600']).trim();
        podmanIds.push(id);
      }
      await new Promise((r) => setTimeout(r, 500));
      for (const id of podmanIds) {
        const pid = Number(run(PODMAN, [...podmanGlobal, 'inspect', '-f', '{{.State.ConmonPid}}', id]).trim());
        mem.conmon.push({ pid, ...memOf(pid) });
      }
      versions.conmon = run('/usr/bin/conmon', ['--version']).split('\n')[0].replace(/^conmon version /, '');
    }
    results.memory = mem;
    results.memRuntime = memRt;
    results.loadAtEnd = os.loadavg()[0];

    // Report.
    const t = (name) => med[name]?.median;
    const rows = cmds.map((c) => [c.name, t(c.name), med[c.name].min, med[c.name].max]);
    console.log(`\ncli-run: ${runs} runs in a row, median per round, median of ${rounds} rounds (ms); ${results.cpus} CPUs, load ${results.loadAtStart.toFixed(2)} → ${results.loadAtEnd.toFixed(2)}; dist built ${results.distBuilt}`);
    console.log(`versions: ${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    console.log('\n| command | median (ms) | round medians min–max |\n|---|---|---|');
    for (const [name, m, lo, hi] of rows) console.log(`| ${name} | ${f1(m)} | ${f1(lo)}–${f1(hi)} |`);
    const ratios = [];
    const ratio = (a, b) => (t(a) !== undefined && t(b) !== undefined ? t(a) / t(b) : undefined);
    for (const rt of Object.keys(podman.runtimes)) {
      ratios.push([`berth (bridge) ÷ podman (${rt}, bridge)`, ratio('berth run --rm (bridge)', `podman run --rm (${rt}, bridge)`)]);
      ratios.push([`berth --network none ÷ podman --network none (${rt})`, ratio('berth run --rm --network none', `podman run --rm --network none (${rt})`)]);
    }
    ratios.push(['berth --network none ÷ runc run', ratio('berth run --rm --network none', 'runc run')]);
    ratios.push(['berth (bridge) ÷ runc run', ratio('berth run --rm (bridge)', 'runc run')]);
    console.log('\n| ratio | value |\n|---|---|');
    for (const [name, v] of ratios) console.log(`| ${name} | ${f2(v)} |`);
    results.ratios = Object.fromEntries(ratios);
    console.log(`\nNode start-up: node -e 0 ${f1(t('node -e 0'))} ms; berth version ${f1(t('berth version'))} ms = ${f2(t('berth version') / t('berth run --rm --network none'))} of berth run --rm --network none; the bridge adds ${f1(t('berth run --rm (bridge)') - t('berth run --rm --network none'))} ms`);
    const memLine = (label, xs) => (xs.length ? `${label}: VmRSS median ${median(xs.map((x) => x.vmRss))} KiB, Pss median ${median(xs.map((x) => x.pss))} KiB (Pss each: ${xs.map((x) => x.pss).join(', ')})` : `${label}: not measured`);
    console.log(`\nMemory per running container (${memCount} detached \`sleep 600\`):`);
    console.log(`  ${memLine(`berth-monitor (${mem.berth[0]?.name})`, mem.berth)}`);
    console.log(`  ${memLine(`conmon ${versions.conmon ?? ''} (podman --runtime ${memRt ?? '—'})`, mem.conmon)}`);
    if (podman.available) {
      console.log('\npodman attempts (run --rm --network none busybox true):');
      for (const a of podman.attempts) console.log(`  --runtime ${a.runtime}, ${a.ulimit}: ${a.code === 0 ? 'runs' : `exit ${a.code}: ${a.error}`}`);
      const chosen = Object.entries(podman.runtimes).map(([rt, { flags }]) => `${rt}: ${flags.join(' ') || '(none)'}`).join('; ');
      console.log(`  timed with: ${chosen || 'nothing (podman cannot run here)'}`);
    }
    for (const [name, errs] of Object.entries(failures)) {
      if (errs.length) console.log(`\nFAILED: ${name}: ${errs.length} of ${runs * rounds} timed runs (left out of the times); first: ${errs[0]}`);
    }
    for (const n of notes) console.log(`\nNOTE: ${n}`);
    results.podman = podman;
    results.versions = versions;
    results.notes = notes;
    if (opts.json) writeFileSync(opts.json, JSON.stringify(results, null, 2));
  } finally {
    try {
      for (const id of run(BERTH, [...berthArgs, 'ps', '-aq']).split('\n').filter(Boolean)) run(BERTH, [...berthArgs, 'rm', '-f', id]);
    } catch (e) { log(`cleanup: ${e.message}`); }
    try {
      run(BERTH, [...berthArgs, 'network', 'rm', 'bridge']);
    } catch (e) { if (!/no such network/.test(e.message)) log(`cleanup: ${e.message}`); }
    if (existsSync(path.join(work, 'podman-root'))) {
      try { run(PODMAN, [...podmanGlobal, 'rm', '-af', '-t', '0']); } catch (e) { log(`cleanup: ${e.message}`); }
    }
    unmountUnder(runDir);
    unmountUnder(work);
    await rm(runDir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  }
}

if (process.getuid() !== 0) { console.error('cli-run: run as root'); process.exit(1); }
if (!opts.inner) {
  // Re-exec inside a private mount namespace (see the header).
  const self = fileURLToPath(import.meta.url);
  const json = opts.json ? ['--json', path.resolve(opts.json)] : [];
  const args = process.argv.slice(2).filter((a, i, all) => a !== '--json' && all[i - 1] !== '--json' && !a.startsWith('--json='));
  const script = [
    'mount --make-rprivate /',
    '{ [ ! -d /sys/fs/cgroup/unified ] || mount -t tmpfs none /sys/fs/cgroup/unified; }',
    'mkdir -p /run/containers /var/lib/containers',
    'mount -t tmpfs none /run/containers',
    'mount -t tmpfs none /var/lib/containers',
    'exec "$0" "$@"',
  ].join(' && ');
  const child = spawn('unshare', ['-m', 'sh', '-c', script, process.execPath, self, '--inner', ...args, ...json], { stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 1));
} else {
  await main();
}
