#!/usr/bin/env node
// The demo: make an image from the host's busybox-static, run a container from it through the
// engine (image → overlay2 snapshot → runtime spec → container), and show from inside that it
// has its own pid 1, hostname, network (lo, and eth0 on the default bridge network) and mounts —
// the rootfs an overlay that the host's mount table never holds. Run as root: `npm run demo`.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createBusyboxRootfs, Engine } from 'berth';

const work = await mkdtemp(path.join(os.tmpdir(), 'berth-demo-'));
try {
  const rootfs = await createBusyboxRootfs(path.join(work, 'rootfs'));
  const engine = await Engine.open({ root: path.join(work, 'root') });
  await engine.import(execFileSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 }), { reference: 'busybox:demo', config: { Cmd: ['sh'] } });
  console.log(`image busybox:demo imported; storage driver ${engine.driver.name}`);

  const started = process.hrtime.bigint();
  const container = await engine.run('busybox:demo', {
    name: 'demo',
    hostname: 'berth-demo',
    stdio: 'inherit',
    cmd: ['sh', '-c', [
      'echo "my pid:       $$"',
      'echo "my hostname:  $(hostname)"',
      'echo "my links:     $(ls /sys/class/net | tr "\\n" " ")"',
      'echo "my mounts:"; cat /proc/self/mounts | sed "s/^/  /"',
    ].join('; ')],
  });
  const result = await container.wait();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  await container.remove();
  console.log(`\ncontainer exited with ${result.exitCode} after ${ms.toFixed(1)} ms (snapshot + create + start + run + exit)`);
  // The default network outlives its containers (as docker0 does): this throwaway root takes its bridge down.
  await engine.networks.remove('bridge');
} finally {
  await rm(work, { recursive: true, force: true });
}
