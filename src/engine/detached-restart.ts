/**
 * `node detached-restart.js ROOT ID PID`: the restart hook the monitor of a detached container
 * on a network runs each time it restarts the container, once the new init (pid PID) is set up
 * and before it lets it start the program. A restarted init has a new, empty network namespace
 * (the first run was connected by the berth process that created it, between create and
 * start); this reconnects it to every network the container has an endpoint on, with the same
 * address and published host ports, so nothing of the user's runs before its network is in
 * place. Exit status 0 when done; otherwise a message on stderr and 1, and the monitor kills
 * the new init and counts a failed restart.
 *
 * Cheap on purpose (it delays every restart): no {@link Engine.open} (its repair, graph driver
 * and image store are not needed here), only the root's network manager, whose locks order this
 * with every other network change of the root and host.
 * @module
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { NetworkManager } from '../network/manager.js';
import { reconnectNetworks } from './network-config.js';

const [root, id, pidText] = process.argv.slice(2);
try {
  if (root === undefined || id === undefined || pidText === undefined || !/^[1-9]\d*$/.test(pidText)) throw new Error('usage: detached-restart ROOT ID PID');
  if (!/^[0-9a-f]{64}$/.test(id) || !existsSync(path.join(root, 'containers', id, 'container.json'))) throw new Error(`no container ${id} in ${root}`);
  const networks = await NetworkManager.open({ dir: path.join(root, 'network') });
  await reconnectNetworks(networks, id, Number(pidText));
} catch (err) {
  process.stderr.write(`berth: reconnecting the networks of container ${id?.slice(0, 12)}: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
