/**
 * berth's one nftables table, `ip berth`, driven through the `nft` command (`nft -f -`, JSON
 * listings). It holds:
 *
 * - `prerouting`/`output` (nat): traffic to a local address jumps to `publish`, whose DNAT
 *   rules are the published ports (so they answer on 127.0.0.1, on the host's addresses and on
 *   every network's gateway, i.e. to containers of other networks through the host);
 * - `postrouting` (nat): per network, masquerade of what leaves it, and of DNAT'ed traffic that
 *   enters it from 127.0.0.0/8 or from the network itself (hairpin);
 * - `forward` (filter): DNAT'ed connections pass; otherwise a berth bridge may not forward
 *   into another berth bridge (networks are isolated).
 *
 * Every rule carries a comment saying whose it is — `berth net <network>` or
 * `berth ep <network> <container> <proto> <hostIp> <hostPort>` — which is how rules are found,
 * removed, and how a host port already published is detected. The table is made with the
 * first network and deleted when no network rule is left in it. Callers hold the host-wide
 * network lock around every change.
 * @module
 */
import { spawn } from 'node:child_process';
import { NetworkError } from './errors.js';
import type { PortMapping } from './publish.js';

/** The table's name (family `ip`). */
export const TABLE = 'berth';

/** A published port as its rule's comment records it. */
export interface PublishedPort {
  /** `tcp` or `udp`. */
  protocol: string;
  /** Host address (`0.0.0.0`: every local address). */
  hostIp: string;
  /** Host port. */
  hostPort: number;
  /** `<network id prefix> <container id prefix>`. */
  owner: string;
}

/** One rule of the table. */
export interface NftRule {
  /** Chain name. */
  chain: string;
  /** Rule handle. */
  handle: number;
  /** Its comment (berth's ownership tag), if any. */
  comment?: string;
}

const SKELETON = `table ip ${TABLE} {
  chain prerouting { type nat hook prerouting priority dstnat; policy accept; fib daddr type local jump publish; }
  chain output { type nat hook output priority -100; policy accept; fib daddr type local jump publish; }
  chain publish { }
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; }
  chain forward { type filter hook forward priority filter; policy accept; ct status dnat accept; }
}
`;

function netTag(netId: string): string {
  return `berth net ${netId.slice(0, 12)}`;
}

function epTag(netId: string, containerId: string): string {
  return `berth ep ${netId.slice(0, 12)} ${containerId.slice(0, 12)}`;
}

/** Runs `nft` with `args`, feeding `input`; resolves stdout. NetworkError ENFT with nft's message. */
function nft(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('nft', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new NetworkError(`nft: ${e.message} (is nftables installed?)`, 'ENFT', 'nft', e)));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new NetworkError(`nft ${args.join(' ')}: ${err.trim() || `exit ${code}`}`, 'ENFT', 'nft'))));
    child.stdin.on('error', () => undefined); // nft may exit before reading (it reports on stderr)
    child.stdin.end(input ?? '');
  });
}

/** berth's nftables table. */
export class Nftables {
  /** The table's rules, or null when the table does not exist. */
  async rules(): Promise<NftRule[] | null> {
    let out: string;
    try {
      out = await nft(['-a', '-j', 'list', 'table', 'ip', TABLE]);
    } catch (err) {
      if (err instanceof NetworkError && /No such file or directory/.test(err.message)) return null;
      throw err;
    }
    const parsed = JSON.parse(out) as { nftables: Array<{ rule?: { chain: string; handle: number; comment?: string } }> };
    return parsed.nftables.filter((x) => x.rule !== undefined).map((x) => ({ chain: x.rule!.chain, handle: x.rule!.handle, comment: x.rule!.comment }));
  }

  /** Applies `script` (lines of nft commands), making the table first when it is absent. */
  private async apply(script: string[]): Promise<void> {
    const exists = (await this.rules()) !== null;
    await nft(['-f', '-'], (exists ? '' : SKELETON) + script.join('\n') + '\n');
  }

  /** Adds a network's masquerade and isolation rules (the table is made if needed). */
  async addNetwork(netId: string, bridge: string, subnet: string): Promise<void> {
    const c = `comment "${netTag(netId)}"`;
    await this.apply([
      `add rule ip ${TABLE} postrouting ip saddr ${subnet} oifname != "${bridge}" masquerade ${c}`,
      `add rule ip ${TABLE} postrouting oifname "${bridge}" ct status dnat ip saddr { 127.0.0.0/8, ${subnet} } masquerade ${c}`,
      `add rule ip ${TABLE} forward iifname "${bridge}" oifname "berth*" oifname != "${bridge}" drop ${c}`,
      `add rule ip ${TABLE} forward iifname "berth*" iifname != "${bridge}" oifname "${bridge}" drop ${c}`,
    ]);
  }

  /**
   * Removes a network's rules and those of its endpoints; deletes the table when no network
   * rule is left in it. Resolves true when the table is gone.
   */
  async removeNetwork(netId: string): Promise<boolean> {
    const rules = await this.rules();
    if (rules === null) return true;
    const mine = (r: NftRule): boolean => r.comment === netTag(netId) || (r.comment?.startsWith(`berth ep ${netId.slice(0, 12)} `) ?? false);
    const left = rules.filter((r) => !mine(r));
    if (!left.some((r) => r.comment?.startsWith('berth net ') ?? false)) {
      await nft(['delete', 'table', 'ip', TABLE]);
      return true;
    }
    const doomed = rules.filter(mine);
    if (doomed.length > 0) await nft(['-f', '-'], doomed.map((r) => `delete rule ip ${TABLE} ${r.chain} handle ${r.handle}`).join('\n') + '\n');
    return false;
  }

  /** Whether the table holds a network's rules (of `rules`, a listing already made, if given). */
  async hasNetwork(netId: string, rules?: NftRule[] | null): Promise<boolean> {
    return ((rules === undefined ? await this.rules() : rules) ?? []).some((r) => r.comment === netTag(netId));
  }

  /** The published ports of every berth network on this host, from the rule comments (of `rules`, a listing already made, if given). */
  async publishedPorts(rules?: NftRule[] | null): Promise<PublishedPort[]> {
    const out: PublishedPort[] = [];
    for (const r of (rules === undefined ? await this.rules() : rules) ?? []) {
      const m = /^berth ep (\S+) (\S+) (tcp|udp) (\S+) (\d+)$/.exec(r.comment ?? '');
      if (m !== null) out.push({ protocol: m[3]!, hostIp: m[4]!, hostPort: Number(m[5]), owner: `${m[1]} ${m[2]}` });
    }
    return out;
  }

  /** Adds DNAT rules for a container's published ports. */
  async addPorts(netId: string, containerId: string, containerIp: string, ports: readonly PortMapping[]): Promise<void> {
    if (ports.length === 0) return;
    await this.apply(
      ports.map((p) => {
        const daddr = p.hostIp === '0.0.0.0' ? '' : `ip daddr ${p.hostIp} `;
        return `add rule ip ${TABLE} publish ${daddr}${p.protocol} dport ${p.hostPort} dnat to ${containerIp}:${p.containerPort} comment "${epTag(netId, containerId)} ${p.protocol} ${p.hostIp} ${p.hostPort}"`;
      }),
    );
  }

  /** Removes a container's published-port rules on a network. */
  async removePorts(netId: string, containerId: string): Promise<void> {
    const rules = await this.rules();
    const doomed = (rules ?? []).filter((r) => r.comment?.startsWith(`${epTag(netId, containerId)} `) ?? false);
    if (doomed.length > 0) await nft(['-f', '-'], doomed.map((r) => `delete rule ip ${TABLE} ${r.chain} handle ${r.handle}`).join('\n') + '\n');
  }
}
