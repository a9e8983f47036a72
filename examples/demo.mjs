#!/usr/bin/env node
// The demo: build a busybox root filesystem from the host's busybox-static, run a container in
// it, and show from inside that it has its own pid 1, hostname, network (only lo) and mounts.
// Run as root: `npm run demo`.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Container, createBusyboxRootfs, defaultSpec } from 'berth';

const work = await mkdtemp(path.join(os.tmpdir(), 'berth-demo-'));
try {
  await createBusyboxRootfs(path.join(work, 'rootfs'));
  const spec = defaultSpec();
  spec.hostname = 'berth-demo';
  spec.process.args = ['sh', '-c', [
    'echo "my pid:       $$"',
    'echo "my hostname:  $(hostname)"',
    'echo "my links:     $(ls /sys/class/net | tr "\\n" " ")"',
    'echo "my mounts:"; cat /proc/self/mounts | sed "s/^/  /"',
  ].join('; ')];

  const started = process.hrtime.bigint();
  const container = await Container.create({ id: `demo-${process.pid}`, bundle: work, spec, root: path.join(work, 'state'), stdio: 'inherit' });
  await container.start();
  const result = await container.wait();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  await container.delete();
  console.log(`\ncontainer exited with ${result.exitCode} after ${ms.toFixed(1)} ms (create + start + run + exit)`);
} finally {
  await rm(work, { recursive: true, force: true });
}
