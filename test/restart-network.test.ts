// Restarts of detached containers keep their network, on the real kernel. The monitor re-launches
// berth-init for a restart, which makes a new, empty network namespace; its restart hook
// (dist/engine/detached-restart.js) must reconnect it before the program runs: after a restart
// the container has eth0 with the same address, a peer on the network reaches it by IP and by
// name, and its published port answers on 127.0.0.1. A container on `none` restarts without
// the hook (the monitor brings lo up itself), and a hook that fails makes the restart fail
// (error recorded, the policy gives up). Networks are in 10.219.0.0/16; traffic goes only to
// these containers and 127.0.0.1; afterAll checks that nothing of them is left on the host.
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBusyboxRootfs, Engine, readMonitorState, type Network } from '../src/index.js';
import { monitorOptions } from '../src/engine/detached.js';
import { removeIdleCgroupParents } from './support.js';
import { freePort } from './registry-support.js';
import { expectNetworksGone, freeSubnets, hostLinks, httpGet, sh } from './network-support.js';





/** Polls `fn` until it returns a truthy value (or throws after `ms`). */
async function eventually<T>(fn: () => T | Promise<T>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await Promise.resolve(fn()).catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}



describe('restarts keep the network', () => {
  let dir: string;
  let root: string;
  let engine: Engine;
  let subnets: string[];
  const made: Network[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-restart-net-'));
    root = path.join(dir, 'root');
    const rootfs = await createBusyboxRootfs(path.join(dir, 'rootfs'));
    const tar = execFileSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 });
    engine = await Engine.open({ root, storageDriver: 'overlay2', bridge: { ipForward: false } });
    await engine.import(tar, { reference: 'bb:restart', config: { Cmd: ['sh'] } });
    subnets = freeSubnets(219, 2, 20);
    expect(subnets).toHaveLength(2);
  }, 60_000);

  afterAll(async () => {
    for (const c of await engine.containers()) await c.remove({ force: true }).catch(() => undefined);
    for (const n of await engine.networks.list()) if (n.record.Predefined !== true) await n.remove({ force: true });
    await rm(dir, { recursive: true, force: true });
    removeIdleCgroupParents();
    expectNetworksGone(made, subnets);
  }, 120_000);

  it('reconnects a restarted container: same address on eth0, reached by IP and by name from a peer, its published port answers on 127.0.0.1', async () => {
    const n = await engine.networks.create('t-restart-net', { subnet: subnets[0] });
    made.push(n);
    const port = await freePort();
    // Each run serves for six seconds, then fails: on-failure restarts it (at most 3 times).
    const server = await engine.run('bb:restart', {
      name: 'rs-server', detach: true, restart: 'on-failure:3', network: 't-restart-net', publish: [`${port}:80`],
      cmd: ['sh', '-c', 'mkdir -p /www && echo "hello restart" > /www/index.html && httpd -f -p 80 -h /www & sleep 6; exit 1'],
    });
    const client = await engine.run('bb:restart', { name: 'rs-client', network: 't-restart-net', cmd: ['sleep', '600'] });
    const before = (await n.endpoints()).find((e) => e.ContainerId === server.id)!;
    expect(before.IPAddress).toMatch(/^10\.219\./);
    expect(await eventually(() => httpGet('127.0.0.1', port, '/index.html'), 5000, 'the first run to serve')).toBe('hello restart\n');
    // The peer talks to it before the restart too: the host and the peer both cache its MAC.
    expect((await sh(client, `timeout 3 wget -q -O- http://${before.IPAddress}/index.html`)).out).toBe('hello restart\n');

    // The first restart: its new init is running (the hook finished before the program started).
    await eventually(() => { const s = readMonitorState(server.dir); return s !== undefined && s.restartCount >= 1 && s.status === 'running'; }, 20_000, 'a restart');
    // Another open of the root repairs what dead containers left: a restarted one (whose runtime
    // record still names its first init) keeps its endpoint.
    await Engine.open({ root, bridge: { ipForward: false } });
    const restarted = await engine.container(server.id);
    const inspect = await restarted.inspect();
    expect(inspect.RestartCount).toBeGreaterThanOrEqual(1);
    const s = readMonitorState(server.dir)!;
    expect(s.error).toBe('');
    expect(inspect.State.Pid).toBe(s.pid);

    // Same address on eth0, the default route and lo up, in the new namespace.
    const inside = await sh(restarted, 'ip -o -4 addr show eth0; ip route; ip -o link show lo; cat /sys/class/net/eth0/address');
    expect(inside.out).toContain(`inet ${before.IPAddress}/24`);
    // Its MAC too (derived from the address), so the host's and peers' neighbour caches stay right.
    expect(inside.out).toContain(`02:42:${before.IPAddress.split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':')}\n`);
    expect(inside.out).toContain(`default via ${n.record.IPAM.Gateway} dev eth0`);
    expect(inside.out).toMatch(/lo: <LOOPBACK,UP/);
    // The endpoint record: same address and host port, a new veth on the bridge, the old one gone.
    const after = (await n.endpoints()).find((e) => e.ContainerId === server.id)!;
    expect(after.IPAddress).toBe(before.IPAddress);
    expect(after.EndpointId).toBe(before.EndpointId);
    expect(after.Ports).toEqual(before.Ports);
    expect(after.HostInterface).not.toBe(before.HostInterface);
    const links = hostLinks();
    expect(links.find((l) => l.ifname === after.HostInterface)?.master).toBe(n.record.Options.bridge);
    expect(links.some((l) => l.ifname === before.HostInterface)).toBe(false);

    // A peer reaches it by IP and by name; the published port answers on 127.0.0.1.
    const r = await sh(client, `timeout 3 wget -q -O- http://${before.IPAddress}/index.html && timeout 3 wget -q -O- http://rs-server/index.html`);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toBe('hello restart\nhello restart\n');
    expect(await eventually(() => httpGet('127.0.0.1', port, '/index.html'), 3000, 'the published port')).toBe('hello restart\n');
    // All of that within the same run.
    expect(readMonitorState(server.dir)!.pid).toBe(s.pid);

    await restarted.remove({ force: true });
    await client.remove({ force: true });
    expect(await n.endpoints()).toEqual([]);
    await expect(httpGet('127.0.0.1', port, '/', 500)).rejects.toThrow();
    await n.remove();
  }, 60_000);

  it('restarts a container on none without the hook: lo up, nothing else', async () => {
    const c = await engine.run('bb:restart', { name: 'rs-none', detach: true, restart: 'on-failure:5', network: 'none', cmd: ['sh', '-c', 'sleep 1.5; exit 1'] });
    // The monitor is given no restart hook, only the loopback flag.
    const options = monitorOptions(root, c.dir, c.id, c.record.Options);
    expect(options.restartHook).toBeUndefined();
    expect(options.loopback).toBe(true);
    expect(monitorOptions(root, c.dir, c.id, { ...c.record.Options, network: 't-any' }).restartHook).toBeDefined();
    // The hook would rewrite the endpoint record on `none`; it stays as the first start wrote it.
    const none = await engine.networks.get('none');
    const epFile = path.join(root, 'network', 'networks', none.id, 'endpoints', `${c.id}.json`);
    const st = statSync(epFile);
    await eventually(() => { const s = readMonitorState(c.dir); return s !== undefined && s.restartCount >= 1 && s.status === 'running'; }, 15_000, 'a restart');
    const restarted = await engine.container(c.id);
    const links = await sh(restarted, 'ip -o link | sed "s/^[0-9]*: \\([^:@]*\\).*/\\1/"; ip -o link show lo');
    expect(links.out.split('\n')[0]).toBe('lo');
    expect(links.out).not.toContain('eth0');
    expect(links.out).toMatch(/lo: <LOOPBACK,UP/);
    const st2 = statSync(epFile);
    expect([st2.ino, st2.mtimeMs]).toEqual([st.ino, st.mtimeMs]);
    expect(readMonitorState(c.dir)!.error).toBe('');
    await restarted.remove({ force: true });
  }, 30_000);

  it('fails a restart whose network cannot be reconnected: the init is killed, the error recorded, the policy applied', async () => {
    const n = await engine.networks.create('t-restart-broken', { subnet: subnets[1] });
    made.push(n);
    const c = await engine.run('bb:restart', { name: 'rs-broken', detach: true, restart: 'on-failure:2', network: 't-restart-broken', cmd: ['sh', '-c', 'echo run; sleep 1; exit 1'] });
    // The bridge disappears under the running container: reconnecting must fail.
    execFileSync('ip', ['link', 'del', n.record.Options.bridge!]);
    const s = await eventually(() => { const s = readMonitorState(c.dir); return s?.status === 'exited' ? s : undefined; }, 20_000, 'the policy to give up');
    expect(s.restartCount).toBe(2);
    expect(s.exitCode).toBe(127);
    expect(s.error).toMatch(/restart hook failed \(exit status 1\): berth: reconnecting the networks of container/);
    expect(s.startedAt).not.toBe('');
    // The program never ran again: one run's output in the log.
    const runs: string[] = [];
    for await (const e of c.logs()) runs.push(e.log);
    expect(runs).toEqual(['run\n']);
    // Its address stays reserved with its record until it is removed.
    expect((await n.endpoints()).map((e) => e.ContainerId)).toEqual([c.id]);
    await (await engine.container(c.id)).remove({ force: true });
    expect(await n.endpoints()).toEqual([]);
    await n.remove();
  }, 40_000);
});
