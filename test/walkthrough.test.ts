// The seed's usage walkthrough, command by command, with `berth` in place of `docker`: version,
// pull (from a registry on 127.0.0.1 the test starts, holding a busybox image the test built
// and pushed), images, save/load, rmi, run hello world, run -d --name, logs -f, attach, exec,
// ps, ps -a, inspect, --rm, stop, rm. The detached container outlives a `kill -9` of the berth
// process that started it. (run -it is driven through tmux in berth-interactive.test.ts.)
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBusyboxRootfs } from '../src/index.js';
import { REGISTRY_BIN, startRegistry, type RunningRegistry } from './registry-support.js';
import { installed, removeDefaultNetwork, removeIdleCgroupParents } from './support.js';
import { BERTH_BIN, berthRunner } from './cli-support.js';

const BIN = BERTH_BIN;
const haveRegistry = installed(import.meta.url, REGISTRY_BIN);
let dir: string;
let root: string;
let registry: RunningRegistry;
let image: string;

/** Runs `berth` against the test's root, with its registry reachable over plain HTTP. */
const berth = berthRunner(() => ({ dir, args: ['--root', root, '--insecure-registry', registry.host], env: { BERTH_CONFIG: path.join(dir, 'config.json'), DOCKER_CONFIG: dir } }));

describe.skipIf(!haveRegistry)('the seed walkthrough', () => {
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-walk-'));
    root = path.join(dir, 'root');
    await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify({ 'storage-driver': 'overlay2' }));
    registry = await startRegistry(dir);
    image = `${registry.host}/library/busybox:latest`;
    // Build the image in a scratch root and push it: the walkthrough's root starts empty.
    const rootfs = await createBusyboxRootfs(path.join(dir, 'rootfs'));
    execFileSync('tar', ['-C', rootfs, '-cf', path.join(dir, 'busybox.tar'), '.']);
    const scratch = ['--root', path.join(dir, 'scratch'), '--insecure-registry', registry.host];
    execFileSync(BIN, [...scratch, 'import', '-c', 'CMD ["sh"]', path.join(dir, 'busybox.tar'), image], { env: { ...process.env, BERTH_CONFIG: path.join(dir, 'config.json') } });
    execFileSync(BIN, [...scratch, 'push', image], { env: { ...process.env, BERTH_CONFIG: path.join(dir, 'config.json'), DOCKER_CONFIG: dir } });
  }, 60_000);

  afterAll(async () => {
    for (const id of (await berth('ps', '-aq')).stdout.split('\n').filter(Boolean)) await berth('rm', '-f', id);
    await registry?.stop();
    await removeDefaultNetwork(root);
    await fs.rm(dir, { recursive: true, force: true });
    removeIdleCgroupParents();
  });

  it('version', async () => {
    expect((await berth('version')).stdout).toMatch(/^Client: berth/);
  });

  it('pull, images', async () => {
    const pull = await berth('pull', image);
    expect(pull.code).toBe(0);
    expect(pull.stdout).toMatch(/^latest: Pulling from 127\.0\.0\.1:\d+\/library\/busybox\n/);
    expect(pull.stdout).toMatch(/[0-9a-f]{12}: Pull complete\n/);
    expect(pull.stdout).toMatch(/\nDigest: sha256:[0-9a-f]{64}\n/);
    expect(pull.stdout).toContain(`Status: Downloaded newer image for ${image}`);
    const images = await berth('images');
    expect(images.stdout).toMatch(new RegExp(`\\n${registry.host.replace(/\./g, '\\.')}/library/busybox +latest +[0-9a-f]{12} `));
  });

  it('save, rmi, load', async () => {
    const file = path.join(dir, 'busybox-save.tar');
    expect((await berth('save', '-o', file, image)).code).toBe(0);
    const rmi = await berth('rmi', image);
    expect(rmi.stdout).toMatch(/^Untagged: .*busybox:latest\nDeleted: sha256:/);
    expect((await berth('images', '-q')).stdout).toBe('');
    const load = await berth('load', '-i', file);
    expect(load.stdout).toContain(`Loaded image: ${image}`);
  });

  it('run hello world, --rm', async () => {
    const hello = await berth('run', image, 'echo', 'Hello from berth!');
    expect(hello).toMatchObject({ code: 0, stdout: 'Hello from berth!\n' });
    const rm = await berth('run', '--rm', image, 'sh', '-c', 'echo gone soon');
    expect(rm.stdout).toBe('gone soon\n');
    const all = (await berth('ps', '-a')).stdout.split('\n').filter(Boolean);
    expect(all).toHaveLength(2); // the header and the hello-world container; the --rm one is gone
  });

  it('run -d --name, logs -f, exec, attach, ps, inspect, kill -9 of the starter, stop, rm', async () => {
    // Started by a berth process that is then killed with SIGKILL while the container runs.
    // Its stdin is a pipe this test keeps open and never writes to.
    const starter = spawn(BIN, ['--root', root, 'run', '--name', 'web', '-i', image, 'sh', '-c', 'i=0; while read line; do i=$((i+1)); echo "got $i: $line"; done; echo bye'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, BERTH_CONFIG: path.join(dir, 'config.json') },
    });
    const starterGone = once(starter, 'exit');
    let starterErr = '';
    starter.stderr.on('data', (d: Buffer) => (starterErr += d.toString()));
    const deadline = Date.now() + 10_000;
    while (!(await berth('ps')).stdout.includes('web') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(starter.exitCode, starterErr).toBeNull();
    starter.kill('SIGKILL');
    await starterGone;
    const ps = await berth('ps');
    expect(ps.stdout).toMatch(/ Up .* web\n/);
    // A follower of the logs, started before anything is written.
    const follower = spawn(BIN, ['--root', root, 'logs', '-f', 'web'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BERTH_CONFIG: path.join(dir, 'config.json') } });
    const followerGone = once(follower, 'exit');
    let followed = '';
    follower.stdout.on('data', (d: Buffer) => (followed += d.toString()));
    // attach from a later process: its stdin feeds the container's.
    const attach = spawn(BIN, ['--root', root, 'attach', 'web'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, BERTH_CONFIG: path.join(dir, 'config.json') } });
    const attachGone = once(attach, 'exit');
    let attached = '';
    attach.stdout.on('data', (d: Buffer) => (attached += d.toString()));
    await new Promise((r) => setTimeout(r, 500));
    attach.stdin.write('first\nsecond\n');
    while (!attached.includes('got 2: second') && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 50));
    expect(attached).toBe('got 1: first\ngot 2: second\n');
    const ex = await berth('exec', 'web', 'sh', '-c', 'echo exec sees $(cat /proc/1/cmdline | tr "\\0" " ")');
    expect(ex.stdout).toMatch(/^exec sees sh -c i=0/);
    const info = JSON.parse((await berth('inspect', 'web')).stdout) as Array<{ State: { Running: boolean; Pid: number } }>;
    expect(info[0]!.State.Running).toBe(true);
    // Closing stdin ends the loop: the container exits 0 and the attach with it.
    attach.stdin.end();
    const [attachCode] = (await attachGone) as [number];
    expect(attachCode).toBe(0);
    const [followCode] = (await followerGone) as [number];
    expect(followCode).toBe(0);
    expect(followed).toBe('got 1: first\ngot 2: second\nbye\n');
    expect((await berth('logs', '--tail', '1', 'web')).stdout).toBe('bye\n');
    expect((await berth('ps', '-a')).stdout).toMatch(/Exited \(0\) .* web\n/);
    expect((await berth('rm', 'web')).stdout).toBe('web\n');
  }, 60_000);

  it('stop a detached container, then rm it', async () => {
    const run = await berth('run', '-d', '--name', 'sleeper', image, 'sleep', '600');
    expect(run.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const started = Date.now();
    expect((await berth('stop', '-t', '1', 'sleeper')).stdout).toBe('sleeper\n');
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await berth('ps', '-a')).stdout).toMatch(/Exited \(137\) .* sleeper\n/);
    expect((await berth('rm', 'sleeper')).stdout).toBe('sleeper\n');
    expect((await berth('ps', '-a')).stdout.split('\n').filter(Boolean)).toHaveLength(2);
  }, 30_000);
});
