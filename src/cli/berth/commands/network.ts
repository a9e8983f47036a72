/**
 * `berth network ls|create|rm|inspect|connect|disconnect`.
 * @module
 */
import { closeSync } from 'node:fs';
import path from 'node:path';
import { openNetns } from '../../../engine/network-config.js';
import { flag, list, parseOptions, str, type OptionSpecs } from '../argv.js';
import type { CliContext, Command } from '../command.js';
import { UsageError } from '../errors.js';
import { shortId, table } from '../format.js';

/** One `network` subcommand. */
interface Sub {
  usage: string;
  options: OptionSpecs;
  run(ctx: CliContext, values: ReturnType<typeof parseOptions>): Promise<number>;
}

const SUBCOMMANDS: Record<string, Sub> = {
  ls: {
    usage: 'network ls [-q]',
    options: { quiet: { short: 'q', type: 'boolean' } },
    async run(ctx, p) {
      const nets = await (await ctx.engine()).networks.list();
      if (flag(p, 'quiet')) ctx.out(nets.map((n) => `${shortId(n.id)}\n`).join(''));
      else ctx.out(table([['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], ...nets.map((n) => [shortId(n.id), n.name, n.driver, 'local'])]));
      return 0;
    },
  },
  create: {
    usage: 'network create [--driver bridge] [--subnet CIDR] [--gateway IP] [--ip-range CIDR] [--opt com.docker.network.driver.mtu=N] [--label K=V] NAME',
    options: {
      driver: { short: 'd', type: 'string' },
      subnet: { type: 'string' },
      gateway: { type: 'string' },
      'ip-range': { type: 'string' },
      opt: { short: 'o', type: 'list' },
      label: { type: 'list' },
    },
    async run(ctx, p) {
      const name = p.positionals[0];
      if (name === undefined) throw new UsageError('"network create" requires exactly 1 argument');
      const opts = Object.fromEntries(list(p, 'opt').map((o) => [o.slice(0, o.indexOf('=')), o.slice(o.indexOf('=') + 1)]));
      const mtu = opts['com.docker.network.driver.mtu'];
      const net = await (await ctx.engine()).networks.create(name, {
        ...(str(p, 'driver') === undefined ? {} : { driver: str(p, 'driver') }),
        ...(str(p, 'subnet') === undefined ? {} : { subnet: str(p, 'subnet') }),
        ...(str(p, 'gateway') === undefined ? {} : { gateway: str(p, 'gateway') }),
        ...(str(p, 'ip-range') === undefined ? {} : { ipRange: str(p, 'ip-range') }),
        ...(mtu === undefined ? {} : { mtu: Number(mtu) }),
        ...(opts['com.docker.network.bridge.name'] === undefined ? {} : { bridgeName: opts['com.docker.network.bridge.name'] }),
        labels: Object.fromEntries(list(p, 'label').map((l) => [l.split('=')[0]!, l.slice(l.indexOf('=') + 1)])),
      });
      ctx.out(`${net.id}\n`);
      return 0;
    },
  },
  rm: {
    usage: 'network rm [-f] NETWORK [NETWORK...]',
    options: { force: { short: 'f', type: 'boolean' } },
    async run(ctx, p) {
      if (p.positionals.length === 0) throw new UsageError('"network rm" requires at least 1 argument');
      const networks = (await ctx.engine()).networks;
      let status = 0;
      for (const name of p.positionals) {
        try {
          await networks.remove(name, { force: flag(p, 'force') });
          ctx.out(`${name}\n`);
        } catch (err) {
          ctx.err(`Error response from daemon: ${(err as Error).message}\n`);
          status = 1;
        }
      }
      return status;
    },
  },
  inspect: {
    usage: 'network inspect NETWORK [NETWORK...]',
    options: {},
    async run(ctx, p) {
      if (p.positionals.length === 0) throw new UsageError('"network inspect" requires at least 1 argument');
      const networks = (await ctx.engine()).networks;
      const out = [];
      for (const name of p.positionals) out.push(await (await networks.get(name)).inspect());
      ctx.out(`${JSON.stringify(out, null, 4)}\n`);
      return 0;
    },
  },
  connect: {
    usage: 'network connect [--alias NAME] NETWORK CONTAINER',
    options: { alias: { type: 'list' } },
    async run(ctx, p) {
      const [netName, cName] = p.positionals;
      if (netName === undefined || cName === undefined) throw new UsageError('"network connect" requires exactly 2 arguments');
      const engine = await ctx.engine();
      const c = await engine.container(cName);
      if ((await c.status()) !== 'running') throw new UsageError(`container ${c.name} is not running`);
      const netns = openNetns(c.runtime);
      try {
        await engine.networks.connect(netName, {
          containerId: c.id,
          containerName: c.name,
          hostname: c.record.Spec.hostname ?? '',
          aliases: list(p, 'alias'),
          netns,
          ports: [],
          hostsPath: path.join(engine.containersDir, c.id, 'hosts'),
        });
      } finally {
        closeSync(netns);
      }
      return 0;
    },
  },
  disconnect: {
    usage: 'network disconnect NETWORK CONTAINER',
    options: { force: { short: 'f', type: 'boolean' } },
    async run(ctx, p) {
      const [netName, cName] = p.positionals;
      if (netName === undefined || cName === undefined) throw new UsageError('"network disconnect" requires exactly 2 arguments');
      const engine = await ctx.engine();
      await engine.networks.disconnect(netName, (await engine.container(cName)).id);
      return 0;
    },
  },
};

/** `berth network`. */
const network: Command = {
  usage: 'network COMMAND (ls, create, rm, inspect, connect, disconnect)',
  summary: 'Manage networks',
  options: {},
  stopAtPositional: true,
  async run(ctx, p) {
    const [subName, ...rest] = p.positionals;
    const sub = subName === undefined ? undefined : SUBCOMMANDS[subName === 'list' ? 'ls' : subName === 'remove' ? 'rm' : subName];
    if (sub === undefined) throw new UsageError(`"network" needs a subcommand: ${Object.keys(SUBCOMMANDS).join(', ')}`);
    if (rest.includes('--help')) {
      ctx.out(`Usage:  berth ${sub.usage}\n`);
      return 0;
    }
    return sub.run(ctx, parseOptions(rest, sub.options));
  },
};

/** The network command. */
export const networkCommands: Record<string, Command> = { network };
