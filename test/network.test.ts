// Networks against the real kernel: bridge networks with their own subnets (picked so that they
// overlap no route of this host), containers reaching each other by IP and by name, a
// published port fetched from 127.0.0.1 and from a container on another network, isolation
// between networks, 50 containers at once, the none and host drivers, bad input, and the
// IPs of dead containers freed after kill -9 of their owner. Traffic goes only to 127.0.0.1
// and to the containers and networks made here; afterAll checks that no link, address,
// route or nftables rule of these networks is left.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBusyboxRootfs, Engine, Ipam, NetworkError, type EngineContainer, type Network } from '../src/index.js';
import { removeIdleCgroupParents } from './support.js';
import { freePort } from './registry-support.js';
import { expectNetworksGone, freeSubnets, hostLinks, hostRoutes, httpGet, sh } from './network-support.js';

const distIndex = fileURLToPath(new URL('../dist/index.js', import.meta.url));


/**
 * The host's network state that this file's networks (all in 10.213.0.0/16) account for, as
 * text: berth links on or being bridges with such an address (or none yet), those addresses,
 * routes and nftables rules. Other test files' default networks (other pools) are left out.
 */
function hostState(): string {
  const links = JSON.parse(execFileSync('ip', ['-j', 'addr']).toString()) as Array<{ ifname: string; master?: string; addr_info: Array<{ family: string; local: string }> }>;
  const v4 = (l: (typeof links)[number]): string[] => l.addr_info.filter((a) => a.family === 'inet').map((a) => a.local);
  // Only this file's bridges (by their 10.213 addresses) and what hangs on them: other test
  // files running at the same time make bridges and veths of their own for a moment.
  const ours = new Set(links.filter((l) => l.ifname.startsWith('berth') && v4(l).some((a) => a.startsWith('10.213.'))).map((l) => l.ifname));
  const mine = links.filter((l) => ours.has(l.ifname) || ours.has(l.master ?? ''));
  const addrs = links.flatMap((l) => v4(l).filter((a) => a.startsWith('10.213.')).map((a) => `${l.ifname} ${a}`)).sort();
  const routes = hostRoutes().filter((r) => r.dst.startsWith('10.213.') || ours.has(r.dev)).map((r) => `${r.dst} ${r.dev}`).sort();
  const nft = execFileSync('nft', ['list', 'ruleset']).toString().split('\n').filter((l) => l.includes('10.213.') || [...ours].some((b) => l.includes(b))).sort();
  return JSON.stringify({ links: mine.map((l) => `${l.ifname}@${l.master ?? ''}`).sort(), addrs, routes, nft });
}




/** Retries `fn` until it resolves (or `ms` pass). */
async function eventually<T>(fn: () => Promise<T>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}


/** A busybox httpd serving `hello <tag>` at /index.html, in the foreground. */
function httpdCmd(tag: string): string[] {
  return ['sh', '-c', `mkdir -p /www && echo "hello ${tag}" > /www/index.html && exec httpd -f -p 80 -h /www`];
}

describe('networks', () => {
  let dir: string;
  let engine: Engine;
  let subnets: string[];
  const made: Network[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-network-'));
    const rootfs = await createBusyboxRootfs(path.join(dir, 'rootfs'));
    const tar = execFileSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 });
    engine = await Engine.open({ root: path.join(dir, 'root'), storageDriver: 'overlay2', bridge: { ipForward: false } });
    await engine.import(tar, { reference: 'bb:net', config: { Cmd: ['sh'] } });
    subnets = freeSubnets(213, 8);
    expect(subnets).toHaveLength(8);
  }, 60_000);

  afterAll(async () => {
    for (const c of await engine.containers()) await c.remove({ force: true }).catch(() => undefined);
    for (const n of await engine.networks.list()) if (n.record.Predefined !== true) await n.remove({ force: true });
    await rm(dir, { recursive: true, force: true });
    removeIdleCgroupParents();
    expectNetworksGone(made, subnets);
  }, 120_000);

  it('lets two containers on one network reach each other by IP and by name', async () => {
    const n = await engine.networks.create('t-pair', { subnet: subnets[0] });
    made.push(n);
    const a = await engine.run('bb:net', { name: 'pair-a', network: 't-pair', cmd: httpdCmd('a') });
    const b = await engine.run('bb:net', { name: 'pair-b', network: 't-pair', cmd: httpdCmd('b'), networkAliases: ['bee'] });
    const eps = await n.endpoints();
    const ipOf = (c: EngineContainer): string => eps.find((e) => e.ContainerId === c.id)!.IPAddress;
    expect(ipOf(a)).not.toBe(ipOf(b));
    for (const [from, to, tag] of [[a, b, 'b'], [b, a, 'a']] as const) {
      const r = await sh(from, `ping -c1 -W2 ${ipOf(to)} && ping -c1 -W2 ${to.name} && timeout 3 wget -q -O- http://${ipOf(to)}/index.html && timeout 3 wget -q -O- http://${to.name}/index.html`);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain(`hello ${tag}\nhello ${tag}\n`);
    }
    expect((await sh(a, 'timeout 3 wget -q -O- http://bee/index.html')).out).toBe('hello b\n');
    // eth0 has the address and the default route goes through the gateway; lo is up.
    const inside = await sh(a, 'ip -o -4 addr show eth0; ip route; cat /etc/hostname');
    expect(inside.out).toContain(`inet ${ipOf(a)}/24`);
    expect(inside.out).toContain(`default via ${n.record.IPAM.Gateway} dev eth0`);
    expect(inside.out).toContain(`${a.id.slice(0, 12)}\n`);
    // Removing a container frees its address and veth, and its peers forget its name.
    const hostIf = eps.find((e) => e.ContainerId === b.id)!.HostInterface;
    await b.remove({ force: true });
    expect(execFileSync('ip', ['-o', 'link']).toString()).not.toContain(hostIf);
    expect((await n.endpoints()).map((e) => e.ContainerName)).toEqual(['pair-a']);
    expect((await sh(a, 'cat /etc/hosts')).out).not.toContain('pair-b');
    await a.remove({ force: true });
    const removal = await n.remove().catch((e: unknown) => e);
    expect(removal).toBeUndefined();
  }, 60_000);

  it('publishes a port on 127.0.0.1 and to containers of other networks through the host, and keeps networks apart', async () => {
    const n1 = await engine.networks.create('t-pub1', { subnet: subnets[1] });
    const n2 = await engine.networks.create('t-pub2', { subnet: subnets[2] });
    made.push(n1, n2);
    const port = await freePort();
    const server = await engine.run('bb:net', { name: 'pub-server', network: 't-pub1', cmd: httpdCmd('published'), publish: [`${port}:80`] });
    const client = await engine.run('bb:net', { name: 'pub-client', network: 't-pub2', cmd: ['sleep', '600'] });
    expect(await eventually(() => httpGet('127.0.0.1', port, '/index.html'))).toBe('hello published\n');
    const serverIp = (await n1.endpoints())[0]!.IPAddress;
    const viaHost = await sh(client, `timeout 3 wget -q -O- http://${n2.record.IPAM.Gateway}:${port}/index.html`);
    expect(viaHost.out).toBe('hello published\n');
    // Isolation: the other network's container cannot reach the server directly.
    const direct = await sh(client, `ping -c1 -W1 ${serverIp}; timeout 2 wget -q -O- http://${serverIp}/index.html`);
    expect(direct.code).not.toBe(0);
    expect(direct.out).not.toContain('hello');
    // A network with containers is not removed unless forced.
    const busy = await n1.remove().catch((e: unknown) => e);
    expect((busy as NetworkError).code).toBe('EBUSY');
    await server.remove({ force: true });
    await client.remove({ force: true });
    await expect(httpGet('127.0.0.1', port, '/', 500)).rejects.toThrow();
    await n1.remove();
    await n2.remove();
  }, 60_000);

  it('gives 50 containers started at once 50 distinct addresses, and all answer', async () => {
    const n = await engine.networks.create('t-fifty', { subnet: subnets[3] });
    made.push(n);
    const t0 = performance.now();
    const cs = await Promise.all(Array.from({ length: 50 }, (_, i) => engine.run('bb:net', { name: `fifty-${i}`, network: 't-fifty', cmd: httpdCmd(`n${i}`) })));
    const eps = await n.endpoints();
    const ips = new Set(eps.map((e) => e.IPAddress));
    expect(ips.size).toBe(50);
    const answers = await Promise.all(cs.map(async (c) => eventually(() => httpGet(eps.find((e) => e.ContainerId === c.id)!.IPAddress, 80, '/index.html'))));
    const elapsed = performance.now() - t0;
    expect(answers.sort()).toEqual(Array.from({ length: 50 }, (_, i) => `hello n${i}\n`).sort());
    console.log(`50 containers: start to all answering ${elapsed.toFixed(0)} ms`);
    // None has only lo: each has eth0 with its address (checked through its namespace's links).
    const c0 = await sh(cs[49]!, 'ip -o link | grep -c eth0');
    expect(c0.out.trim()).toBe('1');
    await Promise.all(cs.map((c) => c.remove({ force: true })));
    expect(await n.endpoints()).toEqual([]);
    await n.remove();
  }, 180_000);

  it('keeps the default network after its last container leaves, as docker0 stays; removes it on request when idle', async () => {
    const c = await engine.run('bb:net', { cmd: ['sleep', '600'] });
    const def = (await engine.networks.list()).find((n) => n.record.Default === true)!;
    expect(def.name).toBe('bridge');
    const bridge = def.record.Options.bridge!;
    const rulesOf = (): string => execFileSync('nft', ['list', 'ruleset']).toString().split('\n').filter((l) => l.includes(`berth net ${def.id.slice(0, 12)}`)).join('\n');
    const rules = rulesOf();
    expect(rules).not.toBe('');
    await expect(engine.networks.remove('bridge')).rejects.toMatchObject({ code: 'EBUSY' });
    await c.remove({ force: true });
    // Idle: bridge, address and rules stay, and the next container joins the same network.
    expect(hostLinks().some((l) => l.ifname === bridge)).toBe(true);
    expect(rulesOf()).toBe(rules);
    const again = await engine.run('bb:net', { cmd: ['true'] });
    await again.wait();
    expect((await engine.networks.list()).find((n) => n.record.Default === true)!.id).toBe(def.id);
    await again.remove();
    await engine.networks.remove('bridge');
    expect((await engine.networks.list()).some((n) => n.record.Default === true)).toBe(false);
    expectNetworksGone([def], []);
  }, 60_000);

  it('none has only lo; host sees the host interfaces', async () => {
    const none = await engine.run('bb:net', { network: 'none', cmd: ['sleep', '600'] });
    const links = await sh(none, 'ip -o link | sed "s/^[0-9]*: \\([^:@]*\\).*/\\1/"');
    expect(links.out.trim().split('\n')).toEqual(['lo']);
    expect((await sh(none, 'ip -o link show lo')).out).toMatch(/UP/);
    const hostLinkNames = hostLinks().map((l) => l.ifname);
    const onHost = await engine.run('bb:net', { network: 'host', cmd: ['sleep', '600'] });
    const seen = (await sh(onHost, 'ip -o link | sed "s/^[0-9]*: \\([^:@]*\\).*/\\1/"')).out.trim().split('\n');
    for (const l of hostLinkNames.filter((x) => !x.startsWith('vberth') && !x.startsWith('berth'))) expect(seen).toContain(l);
    await none.remove({ force: true });
    await onHost.remove({ force: true });
  }, 60_000);

  it('refuses bad input with typed errors and leaves the host network as it was', async () => {
    const n = await engine.networks.create('t-bad', { subnet: subnets[4], ipRange: subnets[4]!.replace(/0\/24$/, '0/30') });
    made.push(n);
    const snapshot = hostState();
    const code = async (p: Promise<unknown>): Promise<[string, string | undefined]> => {
      const e = await p.then(() => undefined, (err: unknown) => err);
      expect(e).toBeInstanceOf(NetworkError);
      return [(e as NetworkError).code, (e as NetworkError).path];
    };
    expect(await code(engine.networks.create('t-overlap', { subnet: subnets[4]!.replace(/\/24$/, '/25') }))).toEqual(['EOVERLAP', 'subnet']);
    const hostRoute = hostRoutes().find((r) => /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(r.dst) && !r.dev.startsWith('berth'))!;
    expect(await code(engine.networks.create('t-hostroute', { subnet: hostRoute.dst }))).toEqual(['EOVERLAP', 'subnet']);
    expect(await code(engine.networks.create('t-gw', { subnet: subnets[5], gateway: '10.99.0.1' }))).toEqual(['EINVAL', 'gateway']);
    expect(await code(engine.networks.create('t-bad', { subnet: subnets[5] }))).toEqual(['EEXIST', 'name']);
    expect(await code(engine.networks.create('t-range', { subnet: subnets[5], ipRange: '10.1.0.0/30' }))).toEqual(['EINVAL', 'ipRange']);
    expect(await code(engine.create('bb:net', { network: 't-bad', publish: ['80/sctp'] }))).toEqual(['EINVAL', 'publish[0]']);
    expect(await code(engine.create('bb:net', { network: 't-bad', publish: ['70000:80'] }))).toEqual(['EINVAL', 'publish[0]']);
    expect(await code(engine.create('bb:net', { network: 't-nosuch' }))).toEqual(['ENOENT', 't-nosuch']);
    // A host port a host socket holds.
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const held = (holder.address() as net.AddressInfo).port;
    expect(await code(engine.create('bb:net', { network: 't-bad', publish: [`127.0.0.1:${held}:80`], cmd: ['sleep', '60'] }))).toEqual(['EADDRINUSE', 'publish[0]']);
    await new Promise<void>((r) => holder.close(() => r()));
    expect(hostState()).toBe(snapshot);
    // The range .0/30 holds 2 assignable addresses (.0 is the network's, .1 the gateway): the 3rd is refused.
    const port = await freePort();
    const cs: EngineContainer[] = [];
    cs.push(await engine.run('bb:net', { network: 't-bad', cmd: ['sleep', '600'], publish: [`${port}:80`] }));
    // A host port berth published already.
    expect(await code(engine.create('bb:net', { network: 't-bad', publish: [`127.0.0.1:${port}:81`], cmd: ['sleep', '60'] }))).toEqual(['EADDRINUSE', 'publish[0]']);
    cs.push(await engine.run('bb:net', { network: 't-bad', cmd: ['sleep', '600'] }));
    expect((await n.endpoints()).map((e) => e.IPAddress).sort()).toEqual([2, 3].map((x) => subnets[4]!.replace(/0\/24$/, String(x))));
    const full = hostState();
    expect(await code(engine.create('bb:net', { network: 't-bad', cmd: ['sleep', '60'] }))).toEqual(['EEXHAUSTED', 'ipRange']);
    expect(hostState()).toBe(full);
    await Promise.all(cs.map((c) => c.remove({ force: true })));
    await n.remove();
  }, 60_000);

  it('collects the bridge of a root deleted without removing its networks', async () => {
    const other = path.join(dir, 'doomed-root');
    const doomed = await Engine.open({ root: other, storageDriver: 'vfs', bridge: { ipForward: false } });
    const n = await doomed.networks.create('t-doomed', { subnet: subnets[5] });
    const bridge = n.record.Options.bridge!;
    expect(execFileSync('ip', ['-o', 'link']).toString()).toContain(bridge);
    await rm(other, { recursive: true, force: true });
    // The next network made on the host (any root) collects it and its rules.
    const probe = await engine.networks.create('t-probe', { subnet: subnets[5] });
    made.push(probe);
    expect(execFileSync('ip', ['-o', 'link']).toString()).not.toContain(`${bridge}:`);
    expect(execFileSync('nft', ['list', 'ruleset']).toString()).not.toContain(`berth net ${n.id.slice(0, 12)}`);
    await probe.remove();
  }, 60_000);

  it('asks nftables nothing on the open of a healthy root, and remakes a bridge and its rules lost as in a reboot', async () => {
    const root = path.join(dir, 'root');
    const n = await engine.networks.create('t-restore', { subnet: subnets[6] });
    made.push(n);
    const bridge = n.record.Options.bridge!;
    const tag = `berth net ${n.id.slice(0, 12)}`;
    const ruleHandles = (): number[] => {
      const out = JSON.parse(execFileSync('nft', ['-a', '-j', 'list', 'table', 'ip', 'berth']).toString()) as { nftables: Array<{ rule?: { chain: string; handle: number; comment?: string } }> };
      return out.nftables.flatMap((e) => (e.rule?.comment === tag ? [e.rule.handle] : []));
    };
    const rules = ruleHandles().length;
    expect(rules).toBeGreaterThan(0);
    // Every nft this process starts goes through a wrapper that logs it.
    const shim = path.join(dir, 'nft-shim');
    await mkdir(shim, { recursive: true });
    const log = path.join(shim, 'calls');
    await writeFile(path.join(shim, 'nft'), `#!/bin/sh\necho "$*" >> ${log}\nexec ${execFileSync('sh', ['-c', 'command -v nft']).toString().trim()} "$@"\n`);
    await chmod(path.join(shim, 'nft'), 0o755);
    const savedPath = process.env.PATH;
    process.env.PATH = `${shim}:${savedPath}`;
    const calls = (): string[] => { try { return readFileSync(log, 'utf8').trim().split('\n').filter(Boolean); } catch { return []; } };
    try {
      await Engine.open({ root, bridge: { ipForward: false } });
      expect(calls()).toEqual([]);
      // A reboot: the bridge and its rules are gone, the records stay.
      execFileSync('ip', ['link', 'del', bridge]);
      const chains = JSON.parse(execFileSync('nft', ['-a', '-j', 'list', 'table', 'ip', 'berth']).toString()) as { nftables: Array<{ rule?: { chain: string; handle: number; comment?: string } }> };
      for (const e of chains.nftables) if (e.rule?.comment === tag) execFileSync('nft', ['delete', 'rule', 'ip', 'berth', e.rule.chain, 'handle', String(e.rule.handle)]);
      expect(ruleHandles()).toEqual([]);
      await Engine.open({ root, bridge: { ipForward: false } });
      expect(calls().length).toBeGreaterThan(0);
    } finally {
      process.env.PATH = savedPath;
    }
    expect(hostLinks().some((l) => l.ifname === bridge)).toBe(true);
    expect(ruleHandles()).toHaveLength(rules);
    const c = await engine.run('bb:net', { network: 't-restore', cmd: ['sleep', '600'] });
    expect((await sh(c, `ping -c1 -W2 ${n.record.IPAM.Gateway}`)).code).toBe(0);
    await c.remove({ force: true });
    await n.remove();
  }, 60_000);

  it('publishing a port repairs what a crash or a firewall reload left: a port rule without its container, the network\'s own rules', async () => {
    const n = await engine.networks.create('t-repair', { subnet: subnets[7] });
    made.push(n);
    const net12 = n.id.slice(0, 12);
    const port = await freePort();
    const nftRules = (): Array<{ chain: string; handle: number; comment?: string }> =>
      (JSON.parse(execFileSync('nft', ['-a', '-j', 'list', 'table', 'ip', 'berth']).toString()) as { nftables: Array<{ rule?: { chain: string; handle: number; comment?: string } }> }).nftables.flatMap((e) => (e.rule ? [e.rule] : []));
    // A crash between a port's rule and its endpoint's record: the rule holds the port, no one owns it.
    execFileSync('nft', ['add', 'rule', 'ip', 'berth', 'publish', 'tcp', 'dport', String(port), 'dnat', 'to', '10.213.99.99:80', 'comment', `"berth ep ${net12} 0123456789ab tcp 0.0.0.0 ${port}"`]);
    // A firewall reload: the network's own rules are gone.
    for (const r of nftRules()) if (r.comment === `berth net ${net12}`) execFileSync('nft', ['delete', 'rule', 'ip', 'berth', r.chain, 'handle', String(r.handle)]);
    const c = await engine.run('bb:net', { network: 't-repair', publish: [`127.0.0.1:${port}:80`], cmd: httpdCmd('repaired') });
    expect(await eventually(() => httpGet('127.0.0.1', port, '/index.html'))).toBe('hello repaired\n');
    const comments = nftRules().map((r) => r.comment ?? '');
    expect(comments.filter((x) => x.includes('0123456789ab'))).toEqual([]);
    expect(comments.filter((x) => x === `berth net ${net12}`)).toHaveLength(4);
    await c.remove({ force: true });
    await n.remove();
  }, 60_000);

  it('frees the addresses of dead containers on the next open after kill -9 of their owner', async () => {
    const root = path.join(dir, 'root');
    const n = await engine.networks.create('t-crash', { subnet: subnets[5] });
    made.push(n);
    const script = `
      import { Engine } from ${JSON.stringify(distIndex)};
      const engine = await Engine.open({ root: ${JSON.stringify(root)}, bridge: { ipForward: false } });
      const c = await engine.run('bb:net', { name: 'crash-victim', network: 't-crash', cmd: ['sleep', '600'] });
      process.stdout.write(JSON.stringify({ pid: (await c.inspect()).State.Pid }) + '\\n');
      setInterval(() => {}, 1000);
    `;
    const scriptFile = path.join(dir, 'crash.mjs');
    await writeFile(scriptFile, script);
    const child = spawn(process.execPath, [scriptFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (d: Buffer) => resolve(d.toString()));
      child.once('exit', (code) => reject(new Error(`the child exited (${code}) before its container ran`)));
    });
    const { pid } = JSON.parse(line) as { pid: number };
    expect(Object.keys(await new Ipam(path.join(root, 'network', 'networks', n.id), n.record.IPAM.Subnet!, n.record.IPAM.Gateway!).allocations())).toHaveLength(1);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    process.kill(pid, 'SIGKILL'); // the container dies too (its init is its own process)
    // A signal is delivered asynchronously: wait until the init is dead (gone, or a zombie its
    // new parent, pid 1, has not reaped yet) before the next open looks.
    const dead = (): boolean => {
      try {
        return /^\d+ \(.*\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return true;
      }
    };
    for (const until = Date.now() + 5000; !dead() && Date.now() < until; ) await new Promise((r) => setTimeout(r, 10));
    const reopened = await Engine.open({ root, bridge: { ipForward: false } });
    const net2 = await reopened.networks.get('t-crash');
    expect(await net2.endpoints()).toEqual([]);
    expect(await new Ipam(path.join(root, 'network', 'networks', n.id), n.record.IPAM.Subnet!, n.record.IPAM.Gateway!).allocations()).toEqual({});
    // The veth went with the container's namespace (which the kernel tears down a moment later).
    const onBridge = (): Array<{ ifname: string; master?: string }> =>
      (JSON.parse(execFileSync('ip', ['-j', 'link']).toString()) as Array<{ ifname: string; master?: string }>).filter((l) => l.master === n.record.Options.bridge);
    for (const until = Date.now() + 5000; onBridge().length > 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
    expect(onBridge()).toEqual([]);
    for (const c of await reopened.containers()) await c.remove({ force: true });
    await net2.remove();
  }, 60_000);
});
