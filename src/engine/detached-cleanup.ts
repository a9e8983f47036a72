/**
 * `node detached-cleanup.js ROOT ID`: what the monitor of a detached `--rm` container execs in
 * its own place after the container's last exit. It removes the container (snapshot, runtime
 * state, network endpoints, directory, name) as `berth rm -f` would. Its exit status is 0 when
 * the container is gone.
 * @module
 */
import { Engine } from './engine.js';

const [root, id] = process.argv.slice(2);
try {
  if (root === undefined || id === undefined) throw new Error('usage: detached-cleanup ROOT ID');
  const engine = await Engine.open({ root });
  const c = await engine.container(id).catch(() => undefined);
  if (c !== undefined) await c.remove({ force: true });
} catch (err) {
  process.stderr.write(`berth: removing container ${id}: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
