// The `berth` command line as a person uses it, command by command, with a busybox image the
// test makes: output formats, exit statuses (the container's own, 125 for berth's errors, 126
// and 127 for the command's), and one-line errors that name the thing at fault.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBusyboxRootfs } from '../src/index.js';
import { removeDefaultNetwork, removeIdleCgroupParents } from './support.js';
import { BERTH_BIN, berthRunner } from './cli-support.js';

const BIN = BERTH_BIN;
let dir: string;
let root: string;

/** Runs `berth --root <test root> ...args` with the test's config file. */
const berth = berthRunner(() => ({ dir, args: ['--root', root], env: { BERTH_CONFIG: path.join(dir, 'config.json') } }));

describe('berth CLI', () => {
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-cli-'));
    root = path.join(dir, 'root');
    await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify({ 'storage-driver': 'overlay2' }));
    const rootfs = await createBusyboxRootfs(path.join(dir, 'rootfs'));
    execFileSync('tar', ['-C', rootfs, '-cf', path.join(dir, 'busybox.tar'), '.']);
    const r = await berth('import', '-c', 'CMD ["sh"]', '-m', 'made by the test', path.join(dir, 'busybox.tar'), 'busybox:latest');
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
  }, 60_000);

  afterAll(async () => {
    for (const id of (await berth('ps', '-aq')).stdout.split('\n').filter(Boolean)) await berth('rm', '-f', id);
    await removeDefaultNetwork(root);
    await fs.rm(dir, { recursive: true, force: true });
    removeIdleCgroupParents();
  });

  it('prints version, info and help', async () => {
    expect((await berth('version')).stdout).toMatch(/^Client: berth\n Version: +\d+\.\d+\.\d+/);
    const info = await berth('info');
    expect(info.stdout).toContain('Storage Driver: overlay2');
    expect(info.stdout).toContain(`Berth Root Dir: ${root}`);
    const help = await berth('run', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]');
  });

  it('lists, tags and removes images as docker does', async () => {
    const images = await berth('images');
    expect(images.stdout.split('\n')[0]).toMatch(/^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$/);
    expect(images.stdout).toMatch(/\nbusybox +latest +[0-9a-f]{12} +(Less than a second|\d+ seconds?|About a minute) ago +\d/);
    expect((await berth('tag', 'busybox', 'mine/box:1')).code).toBe(0);
    expect((await berth('images', '-q')).stdout.trim().split('\n')).toHaveLength(1);
    expect((await berth('images', 'mine/box')).stdout).toContain('mine/box');
    expect((await berth('history', 'busybox')).stdout).toContain('made by the test');
    const rmi = await berth('rmi', 'mine/box:1');
    expect(rmi.stdout).toBe('Untagged: mine/box:1\n');
  });

  it('runs containers in the foreground with the exit status of their command', async () => {
    const hello = await berth('run', '--rm', 'busybox', 'echo', 'hello world');
    expect(hello).toEqual({ code: 0, stdout: 'hello world\n', stderr: '' });
    const env = await berth('run', '--rm', '-e', 'A=1', '--env', 'B=2', '-w', '/tmp', '-u', '1000:1000', 'busybox', 'sh', '-c', 'echo $A$B $(pwd) $(id -u):$(id -g)');
    expect(env.stdout).toBe('12 /tmp 1000:1000\n');
    expect((await berth('run', '--rm', 'busybox', 'sh', '-c', 'exit 7')).code).toBe(7);
    expect((await berth('run', '--rm', '--init', 'busybox', 'sh', '-c', 'kill -TERM $$')).code).toBe(143);
    const notFound = await berth('run', '--rm', 'busybox', 'nosuchcommand');
    expect(notFound.code).toBe(127);
    expect(notFound.stderr).toMatch(/^berth: ENOENT: executable nosuchcommand not found/);
    const noExec = await berth('run', '--rm', 'busybox', '/etc/passwd');
    expect(noExec.code).toBe(126);
    // Docker's default seccomp profile, unless --security-opt says otherwise.
    expect((await berth('run', '--rm', 'busybox', 'grep', 'Seccomp:', '/proc/self/status')).stdout).toBe('Seccomp:\t2\n');
    expect((await berth('run', '--rm', '--security-opt', 'seccomp=unconfined', 'busybox', 'grep', 'Seccomp:', '/proc/self/status')).stdout).toBe('Seccomp:\t0\n');
    expect((await berth('ps', '-aq')).stdout).toBe('');
  });

  it('keeps named containers for ps -a, inspect, start again and rm', async () => {
    const r = await berth('run', '--name', 'kept', 'busybox', 'sh', '-c', 'echo run >> /log; cat /log');
    expect(r.stdout).toBe('run\n');
    const ps = await berth('ps', '-a');
    expect(ps.stdout.split('\n')[0]).toMatch(/^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES$/);
    expect(ps.stdout).toMatch(/\n[0-9a-f]{12} +busybox +"sh -c echo run >> \/…" .* kept\n/);
    expect((await berth('ps')).stdout.split('\n')).toHaveLength(2); // header only: nothing runs
    const inspect = JSON.parse((await berth('inspect', 'kept')).stdout) as Array<{ Name: string; State: { Status: string } }>;
    expect(inspect[0]!.Name).toBe('/kept');
    expect(inspect[0]!.State.Status).toBe('stopped');
    expect((await berth('inspect', '-f', '{{.Config.Cmd}}', 'kept')).stdout).toBe('["sh","-c","echo run >> /log; cat /log"]\n');
    expect((await berth('start', 'kept')).stdout).toBe('kept\n');
    const dup = await berth('create', '--name', 'kept', 'busybox');
    expect(dup.code).toBe(125);
    expect(dup.stderr).toBe('berth: the container name "kept" is already in use\n');
    expect((await berth('rm', '-f', 'kept')).stdout).toBe('kept\n');
    const gone = await berth('rm', 'kept');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe('Error response from daemon: no such container: kept\n');
  });

  it('execs into, stops and commits a running container', async () => {
    const created = await berth('create', '--name', 'svc', '--init', 'busybox', 'sleep', '300');
    expect(created.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    await berth('start', 'svc');
    const ex = await berth('exec', '-e', 'X=y', 'svc', 'sh', '-c', 'echo $X > /marker; cat /marker');
    expect(ex).toEqual({ code: 0, stdout: 'y\n', stderr: '' });
    expect((await berth('exec', 'svc', 'sh', '-c', 'exit 4')).code).toBe(4);
    expect((await berth('top', 'svc')).stdout).toMatch(/sleep 300/);
    expect((await berth('stats', '--no-stream', 'svc')).stdout).toMatch(/svc/);
    const commit = await berth('commit', '-m', 'with marker', 'svc', 'busybox:marked');
    expect(commit.stdout).toMatch(/^sha256:/);
    expect((await berth('run', '--rm', 'busybox:marked', 'cat', '/marker')).stdout).toBe('y\n');
    const started = Date.now();
    expect((await berth('stop', '-t', '5', 'svc')).stdout).toBe('svc\n');
    expect(Date.now() - started).toBeLessThan(4000); // the init forwards SIGTERM: no 5 s wait for SIGKILL
    const stopped = await berth('exec', 'svc', 'true');
    expect(stopped.code).toBe(125);
    expect(stopped.stderr).toMatch(/container svc is not running/);
    await berth('rm', 'svc');
    await berth('rmi', 'busybox:marked');
  }, 30_000);

  it('exports a container and imports it back', async () => {
    await berth('run', '--name', 'exp', 'busybox', 'sh', '-c', 'echo exported > /e');
    const tarFile = path.join(dir, 'exp.tar');
    expect((await berth('export', '-o', tarFile, 'exp')).code).toBe(0);
    expect(execFileSync('tar', ['-tf', tarFile]).toString()).toMatch(/(^|\n)(\.\/)?e\n/);
    await berth('import', tarFile, 'exported:1');
    expect((await berth('run', '--rm', 'exported:1', 'cat', '/e')).stdout).toBe('exported\n');
    await berth('rm', 'exp');
    await berth('rmi', 'exported:1');
  });

  it('saves images and loads them into another root', async () => {
    const file = path.join(dir, 'saved.tar');
    await berth('tag', 'busybox', 'second:2');
    expect((await berth('save', '-o', file, 'busybox', 'second:2')).code).toBe(0);
    const listing = execFileSync('tar', ['-tf', file]).toString();
    expect(listing).toContain('manifest.json');
    expect(listing).toContain('index.json');
    const otherRoot = path.join(dir, 'other-root');
    const load = spawn(BIN, ['--root', otherRoot, 'load', '-i', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BERTH_CONFIG: path.join(dir, 'config.json') } });
    let out = '';
    load.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const [code] = (await once(load, 'exit')) as [number];
    expect(code).toBe(0);
    expect(out).toContain('Loaded image: busybox:latest\n');
    expect(out).toContain('Loaded image: second:2\n');
    expect(out).toMatch(/[0-9a-f]{12}: Loading layer\n/);
    const ids = execFileSync(BIN, ['--root', otherRoot, 'images', '-q'], { env: { ...process.env, BERTH_CONFIG: path.join(dir, 'config.json') } }).toString();
    expect(ids.trim()).toBe((await berth('images', '-q')).stdout.trim());
    await berth('rmi', 'second:2');
  }, 30_000);

  it('runs through a V8 code cache per command, which a mismatch (here: garbage) only makes slower', async () => {
    const cacheFile = path.join(BIN, '..', '..', 'dist', 'cli', 'berth.bundle.cjs.cache', 'version');
    const expected = await berth('version');
    expect(expected.code).toBe(0);
    const garbage = Buffer.from('not a V8 code cache');
    await fs.mkdir(path.dirname(cacheFile), { recursive: true });
    await fs.writeFile(`${cacheFile}.test.tmp`, garbage);
    await fs.rename(`${cacheFile}.test.tmp`, cacheFile);
    expect(await berth('version')).toEqual(expected);
    const rewritten = await fs.readFile(cacheFile);
    expect(rewritten.length).toBeGreaterThan(1000);
    expect(rewritten.equals(garbage)).toBe(false);
    expect(await berth('version')).toEqual(expected);
  });

  it('gives one-line errors and status 125 for bad input', async () => {
    // A host port this test holds.
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const held = (holder.address() as net.AddressInfo).port;
    const cases: Array<[string[], RegExp]> = [
      [['run', '-p', `127.0.0.1:${held}:80`, 'busybox', 'true'], new RegExp(`^berth: .*127\\.0\\.0\\.1:${held}.*(in use|EADDRINUSE)`, 'i')],
      [['run', '-p', '70000:80', 'busybox', 'true'], /^berth: .*70000/],
      [['run', '-p', '80/sctp', 'busybox', 'true'], /^berth: .*sctp/],
      [['run', '--network', 'nosuchnet', 'busybox', 'true'], /^berth: .*nosuchnet/],
      [['run', 'nosuch:image'], /^Unable to find image 'nosuch:image' locally\n[\s\S]*berth: cannot reach registry registry-1.docker.io/],
      [['run', 'Bad:Name!'], /^berth: invalid reference "Bad:Name!"/],
      [['run', '--bogus', 'busybox'], /^berth: unknown flag: --bogus\nSee 'berth run --help'.\n$/],
      [['run', '-m', 'lots', 'busybox'], /^berth: invalid --memory "lots"/],
      [['run', '--restart', 'sometimes', 'busybox'], /^berth: invalid restart policy "sometimes"/],
      [['run', '--rm', '--restart', 'always', 'busybox'], /^berth: conflicting options: cannot combine --restart and --rm/],
      [['run', '--cap-add', 'NOPE', 'busybox'], /^berth: unknown capability "NOPE"/],
      [['run', '-v', 'x:relative', 'busybox'], /container path must be absolute/],
      [['run', '--security-opt', 'apparmor=x', 'busybox', 'true'], /^berth: invalid --security-opt "apparmor=x": berth takes seccomp=unconfined, seccomp=PROFILE.json or no-new-privileges/],
      [['run', '--security-opt', 'seccomp=/nonexistent.json', 'busybox', 'true'], /^berth: invalid --security-opt "seccomp=\/nonexistent.json": cannot read \/nonexistent.json: ENOENT/],
      [['frobnicate'], /^berth: 'frobnicate' is not a berth command/],
      [['--root'], /^berth: flag needs an argument: --root/],
    ];
    for (const [args, re] of cases) {
      const r = await berth(...args);
      expect(r.code, args.join(' ')).toBe(125);
      expect(r.stderr, args.join(' ')).toMatch(re);
    }
    holder.close();
    expect((await berth('ps', '-aq')).stdout).toBe('');
    // inspect, like docker's, says which object is missing and exits 1.
    expect(await berth('inspect', '--type', 'image', 'nosuch:image')).toEqual({ code: 1, stdout: '[]\n', stderr: 'Error: No such object: nosuch:image\n' });
  });
});
