#!/usr/bin/env node
// bench/network: the time to give a container a bridge network endpoint (veth pair, address,
// default route, and the rules that go with it), berth against the CNI `bridge` plugin with
// `host-local` IPAM (Debian's containernetworking-plugins), both on network namespaces the
// bench makes (`ip netns add`); and the start-to-answer time of 50 containers on one network.
//
//   node bench/network.mjs [--runs 50] [--containers 50] [--json FILE]   (as root; npm run build first)
//
// Endpoint: berth is `NetworkManager.connect()` from this process (IPAM under flock with an
// fsync'ed write, the veth with its peer born in the namespace, hairpin, address, route, the
// endpoint record); CNI is one `bridge` ADD (a Go binary exec'd per call, as a runtime does)
// with isGateway, hairpinMode and ipMasq (iptables rules per container) and host-local IPAM.
// The two are interleaved run by run; each endpoint is torn down (untimed) before the next.
// Start-to-answer: 50 busybox httpd containers run at once on one bridge network; the clock
// stops when every one has answered an HTTP GET from the host on its address.
// Everything uses 10.214.0.0/16 subnets (checked against the host's routes) and is removed at
// the end: bridges, namespaces, iptables chains CNI made, berth's nftables table.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const { values: opts } = parseArgs({
  options: { runs: { type: 'string', default: '50' }, containers: { type: 'string', default: '50' }, json: { type: 'string' } },
});
const RUNS = Number(opts.runs);
const COUNT = Number(opts.containers);
const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const { Engine, NetworkManager, createBusyboxRootfs } = await import(dist);
const CNI_PATH = '/usr/lib/cni';
if (!existsSync(`${CNI_PATH}/bridge`)) throw new Error('the CNI plugins are missing: apt-get install containernetworking-plugins (npm run host-deps)');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const routes = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all']).toString();
const subnet = (i) => {
  const s = `10.214.${i}.0/24`;
  if (routes.includes(`10.214.${i}.`) || /^10\.0\.0\.0\/8|^10\.214\.0\.0\/16/m.test(routes)) throw new Error(`${s} overlaps a host route`);
  return s;
};
const tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-netbench-'));
const nftBefore = execFileSync('nft', ['list', 'tables']).toString();

function netnsAdd(name) {
  execFileSync('ip', ['netns', 'add', name]);
  return `/run/netns/${name}`;
}
function netnsDel(name) {
  execFileSync('ip', ['netns', 'delete', name]);
}

/** Runs the CNI bridge plugin; resolves its wall time in ms. */
function cni(command, id, netns, config) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(`${CNI_PATH}/bridge`, [], {
      env: { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH, PATH: process.env.PATH },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`cni ${command}: ${out}`))));
    child.stdin.end(JSON.stringify(config));
  });
}

const results = {};
// --- endpoint setup -------------------------------------------------------------------------
{
  const manager = await NetworkManager.open({ dir: path.join(tmp, 'berth'), bridge: { ipForward: false } });
  const net = await manager.create('netbench', { subnet: subnet(1) });
  const cniConfig = {
    cniVersion: '1.0.0', name: 'netbench', type: 'bridge', bridge: 'cnibench0', isGateway: true, ipMasq: true, hairpinMode: true,
    ipam: { type: 'host-local', subnet: subnet(2), dataDir: path.join(tmp, 'cni-ipam'), routes: [{ dst: '0.0.0.0/0' }] },
  };
  const berthTimes = [];
  const cniTimes = [];
  try {
    for (let i = -3; i < RUNS; i++) { // 3 warm-up rounds
      const ns = `berthbench${i + 3}`;
      const file = netnsAdd(ns);
      const fd = openSync(file, 'r');
      const id = `bench${i + 3}`.padEnd(64, '0');
      let t0 = performance.now();
      await net.connect({ containerId: id, containerName: ns, hostname: ns, netns: fd });
      const tb = performance.now() - t0;
      await net.disconnect(id);
      closeSync(fd);
      netnsDel(ns);
      const cns = `cnibench${i + 3}`;
      const cfile = netnsAdd(cns);
      const tc = await cni('ADD', `cni${i + 3}`, cfile, cniConfig);
      await cni('DEL', `cni${i + 3}`, cfile, cniConfig);
      netnsDel(cns);
      if (i >= 0) {
        berthTimes.push(tb);
        cniTimes.push(tc);
      }
      t0 = 0;
    }
  } finally {
    await net.remove({ force: true });
    try {
      execFileSync('ip', ['link', 'delete', 'cnibench0']);
    } catch {
      // not made
    }
  }
  results.endpoint = { berthMs: median(berthTimes), cniMs: median(cniTimes), ratio: median(berthTimes) / median(cniTimes), runs: RUNS };
  console.log(`endpoint (veth, address, route, rules), median of ${RUNS}:`);
  console.log(`  berth NetworkManager.connect   ${results.endpoint.berthMs.toFixed(2)} ms`);
  console.log(`  CNI bridge + host-local ADD    ${results.endpoint.cniMs.toFixed(2)} ms`);
  console.log(`  ratio berth/CNI                ${results.endpoint.ratio.toFixed(3)}  (goal <= 0.5)`);
}

// --- start to answer --------------------------------------------------------------------------
function get(host) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port: 80, path: '/index.html', timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
async function answered(host) {
  for (;;) {
    try {
      return await get(host);
    } catch {
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}
{
  const rootfs = await createBusyboxRootfs(path.join(tmp, 'rootfs'));
  const tar = execFileSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 });
  const engine = await Engine.open({ root: path.join(tmp, 'root'), storageDriver: 'overlay2', bridge: { ipForward: false } });
  await engine.import(tar, { reference: 'bb:bench', config: { Cmd: ['sh'] } });
  const net = await engine.networks.create('fifty', { subnet: subnet(3) });
  const cmd = ['sh', '-c', 'mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 80 -h /www'];
  const rounds = [];
  for (let round = 0; round < 3; round++) {
    const t0 = performance.now();
    const cs = await Promise.all(Array.from({ length: COUNT }, (_, i) => engine.run('bb:bench', { name: `fifty-${round}-${i}`, network: 'fifty', cmd })));
    const started = performance.now() - t0;
    const eps = await net.endpoints();
    await Promise.all(eps.map((e) => answered(e.IPAddress)));
    const all = performance.now() - t0;
    await Promise.all(cs.map((c) => c.remove({ force: true })));
    // The same containers without a network, for the share the network takes.
    const t1 = performance.now();
    const bare = await Promise.all(Array.from({ length: COUNT }, (_, i) => engine.run('bb:bench', { name: `bare-${round}-${i}`, network: 'none', cmd })));
    const bareStarted = performance.now() - t1;
    await Promise.all(bare.map((c) => c.remove({ force: true })));
    rounds.push({ started, all, bareStarted });
  }
  await net.remove({ force: true });
  results.fifty = {
    containers: COUNT,
    startedMs: median(rounds.map((r) => r.started)),
    answeringMs: median(rounds.map((r) => r.all)),
    noneNetworkStartedMs: median(rounds.map((r) => r.bareStarted)),
  };
  console.log(`${COUNT} httpd containers on one bridge network, run at once (median of 3):`);
  console.log(`  all started                    ${results.fifty.startedMs.toFixed(0)} ms`);
  console.log(`  all answering HTTP             ${results.fifty.answeringMs.toFixed(0)} ms`);
  console.log(`  (same, network none: started   ${results.fifty.noneNetworkStartedMs.toFixed(0)} ms)`);
}

await rm(tmp, { recursive: true, force: true });
// CNI's ipMasq made iptables-nft's `ip nat` table if it was not there: leave the host as found.
if (!nftBefore.includes('table ip nat') && execFileSync('nft', ['list', 'tables']).toString().includes('table ip nat')) execFileSync('nft', ['delete', 'table', 'ip', 'nat']);
if (opts.json) writeFileSync(opts.json, JSON.stringify(results, null, 2));
