// Shared by the network tests: the host's routes, free subnets in a test's own /16, HTTP GETs,
// and a shell command run in a container.
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { expect } from 'vitest';
import type { EngineContainer, Network } from '../src/index.js';
import { collect } from './support.js';

/** The host's IPv4 routes (every table) as `dst dev`. */
export function hostRoutes(): Array<{ dst: string; dev: string }> {
  const rows = JSON.parse(execFileSync('ip', ['-j', '-4', 'route', 'show', 'table', 'all']).toString()) as Array<{ dst: string; dev?: string }>;
  return rows.map((r) => ({ dst: r.dst, dev: r.dev ?? '' }));
}

/** `n` /24 subnets of `10.<second>.0.0/16`, from `10.<second>.<first>.0` on, that overlap no host route. */
export function freeSubnets(second: number, n: number, first = 10): string[] {
  const used = hostRoutes().map((r) => r.dst);
  const out: string[] = [];
  for (let i = first; out.length < n && i < 250; i++) {
    const cand = `10.${second}.${i}`;
    if (!used.some((d) => (d === 'default' ? false : d.startsWith(`${cand}.`) || d === '10.0.0.0/8' || d === `10.${second}.0.0/16`))) out.push(`${cand}.0/24`);
  }
  return out;
}

/** GET http://host:port/path, resolving the body (rejects after `timeout` ms). */
export function httpGet(host: string, port: number, p = '/', timeout = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: p, timeout }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Runs `sh -c script` in a running container; exit code and output. */
export async function sh(c: EngineContainer, script: string): Promise<{ code: number | null; out: string }> {
  const p = c.exec({ args: ['sh', '-c', script], stdio: ['ignore', 'pipe', 'pipe'] });
  const [out, err, r] = await Promise.all([collect(p.stdout), collect(p.stderr), p]);
  return { code: r.exitCode, out: out + err };
}

/** The host's links, with the bridge each is enslaved to. */
export function hostLinks(): Array<{ ifname: string; master?: string }> {
  return JSON.parse(execFileSync('ip', ['-j', 'link']).toString()) as Array<{ ifname: string; master?: string }>;
}

/** Checks that nothing of these networks is left on the host: links, addresses, routes, nft rules. */
export function expectNetworksGone(networks: readonly Network[], subnets: readonly string[]): void {
  const bridges = networks.map((n) => n.record.Options.bridge);
  const tags = networks.map((n) => `berth net ${n.id.slice(0, 12)}`);
  expect(hostLinks().filter((l) => bridges.includes(l.ifname) || bridges.includes(l.master ?? ''))).toEqual([]);
  const addrs = execFileSync('ip', ['-4', '-o', 'addr']).toString();
  for (const s of subnets) expect(addrs).not.toContain(s.replace(/0\/24$/, ''));
  expect(hostRoutes().filter((r) => subnets.includes(r.dst) || bridges.includes(r.dev))).toEqual([]);
  const ruleset = execFileSync('nft', ['list', 'ruleset']).toString();
  for (const t of tags) {
    expect(ruleset).not.toContain(t);
    expect(ruleset).not.toContain(t.replace('berth net', 'berth ep'));
  }
}
