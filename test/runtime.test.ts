// The runtime against the real kernel: each namespace, mount, device, credential and limit
// proven from inside a busybox container.
import { closeSync, existsSync, openSync, readlinkSync, readFileSync, readdirSync, promises as fs } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Container } from '../src/index.js';
import { run, shSpec, workspace, collect, type Workspace } from './support.js';

let ws: Workspace;
beforeAll(async () => { ws = await workspace('rt'); });
afterAll(async () => { await ws.cleanup(); });

describe('namespaces, proven from inside', () => {
  it('runs as pid 1 with its own hostname, network, ipc, uts and mount namespaces', async () => {
    const r = await run(ws, shSpec([
      'echo pid=$$',
      'echo host=$(hostname)',
      'echo links=$(ls /sys/class/net)',
      'for n in pid net ipc uts mnt; do echo ns.$n=$(readlink /proc/self/ns/$n); done',
      'echo mounts=$(wc -l < /proc/self/mountinfo)',
    ].join('; '), (s) => { s.hostname = 'inside'; }));
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const out = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split('=') as [string, string]));
    expect(out.pid).toBe('1');
    expect(out.host).toBe('inside');
    expect(out.links).toBe('lo');
    for (const n of ['pid', 'net', 'ipc', 'uts', 'mnt']) {
      expect(out[`ns.${n}`]).toMatch(/^\w+:\[\d+\]$/);
      expect(out[`ns.${n}`]).not.toBe(readlinkSync(`/proc/self/ns/${n}`));
    }
    expect(Number(out.mounts)).toBeGreaterThan(3);
  });

  it('sees only its own mount table', async () => {
    const r = await run(ws, shSpec('cat /proc/self/mountinfo'));
    expect(r.exitCode).toBe(0);
    const mountPoints = (text: string): string[] => text.trim().split('\n').map((l) => l.split(' ')[4]);
    const inside = mountPoints(r.stdout);
    // Nothing is stacked twice (a read-only mount point is remounted, not bound over itself).
    expect(inside.filter((m, i) => inside.indexOf(m) !== i)).toEqual([]);
    // Its root is the bundle's rootfs; none of the host's other mount points is there.
    expect(r.stdout.split('\n').find((l) => l.split(' ')[4] === '/')?.split(' ')[3]).toBe(ws.rootfs);
    const hostOnly = mountPoints(readFileSync('/proc/self/mountinfo', 'utf8'))
      .filter((m) => !/^\/(proc|sys|dev)?(\/|$)/.test(m) && m !== '/');
    expect(hostOnly.length).toBeGreaterThan(0);
    for (const m of hostOnly) expect(inside).not.toContain(m);
  });

  it('maps uids in a user namespace', async () => {
    const r = await run(ws, shSpec('cat /proc/self/uid_map /proc/self/gid_map; id -u', (s) => {
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    }));
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').map((l) => l.trim().split(/\s+/).join(' '))).toEqual(['0 100000 65536', '0 100000 65536', '0', '']);
  });

  it('has its own cgroup namespace root', async () => {
    const r = await run(ws, shSpec('cat /proc/self/cgroup', (s) => { s.linux!.namespaces!.push({ type: 'cgroup' }); }));
    expect(r.exitCode).toBe(0);
    for (const line of r.stdout.trim().split('\n')) expect(line.split(':')[2]).toBe('/');
  });

  it('applies time namespace offsets', async () => {
    const r = await run(ws, shSpec('cut -d" " -f1 /proc/uptime', (s) => {
      s.linux!.namespaces!.push({ type: 'time' });
      s.linux!.timeOffsets = { boottime: { secs: 86400 * 365, nanosecs: 0 }, monotonic: { secs: 1000, nanosecs: 0 } };
    }));
    const hostUptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    expect(Number(r.stdout.trim()) - hostUptime).toBeGreaterThan(86400 * 365 - 60);
  });

  it('joins an existing namespace by path', async () => {
    const holder = await Container.create({ id: ws.id('holder'), bundle: ws.dir, spec: shSpec('sleep 30', (s) => { s.hostname = 'shared-uts'; }), root: ws.stateRoot });
    try {
      await holder.start();
      const r = await run(ws, shSpec('hostname', (s) => {
        delete s.hostname;
        s.linux!.namespaces = s.linux!.namespaces!.map((ns) => (ns.type === 'uts' ? { type: 'uts', path: `/proc/${holder.pid}/ns/uts` } : ns));
      }));
      expect(r.stdout.trim()).toBe('shared-uts');
    } finally {
      await holder.delete({ force: true });
    }
  });
});

describe('filesystem', () => {
  it('mounts tmpfs and read-only binds, and makes default devices and /dev links', async () => {
    const hostDir = path.join(ws.dir, 'shared');
    await fs.mkdir(hostDir, { recursive: true });
    await fs.writeFile(path.join(hostDir, 'hello'), 'from host');
    const r = await run(ws, shSpec([
      'cat /data/hello; echo',
      '(echo x > /data/new) 2>/dev/null && echo bind-writable || echo bind-readonly',
      'echo x > /scratch/new && echo tmpfs-writable',
      'grep " /scratch " /proc/self/mounts | cut -d" " -f3',
      'stat -c "%n %t:%T" /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/mydev',
      'readlink /dev/fd; readlink /dev/stdin',
    ].join('; '), (s) => {
      s.mounts!.push({ destination: '/data', type: 'bind', source: hostDir, options: ['rbind', 'ro'] });
      s.mounts!.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'size=1m'] });
      s.linux!.devices = [{ path: '/dev/mydev', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 }];
    }));
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')).toEqual([
      'from host', 'bind-readonly', 'tmpfs-writable', 'tmpfs',
      '/dev/null 1:3', '/dev/zero 1:5', '/dev/full 1:7', '/dev/random 1:8', '/dev/urandom 1:9', '/dev/tty 5:0', '/dev/mydev 1:3',
      '/proc/self/fd', '/proc/self/fd/0', '',
    ]);
  });

  it('masks and write-protects paths, and can make the rootfs read-only', async () => {
    const r = await run(ws, shSpec([
      'wc -c < /proc/keys',
      'ls /sys/firmware | wc -l',
      '(echo 1 > /proc/sys/kernel/domainname) 2>/dev/null && echo sys-writable || echo sys-readonly',
      'touch /newfile 2>/dev/null && echo root-writable || echo root-readonly',
    ].join('; '), (s) => { s.root!.readonly = true; }));
    expect(r.stdout.split('\n')).toEqual(['0', '0', 'sys-readonly', 'root-readonly', '']);
  });
});

describe('process', () => {
  it('gets its capabilities, no_new_privs, user, groups, rlimits, env, cwd and umask', async () => {
    const r = await run(ws, shSpec([
      'grep -E "^(CapEff|CapBnd|CapPrm|NoNewPrivs)" /proc/self/status | tr -s "\\t" " "',
      'id', 'ulimit -n', 'ulimit -Hn', 'echo $GREETING', 'pwd', 'umask',
    ].join('; '), (s) => {
      s.process!.user = { uid: 1000, gid: 1000, additionalGids: [2000, 3000], umask: 0o027 };
      s.process!.env!.push('GREETING=hello');
      s.process!.cwd = '/tmp';
      s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 512, hard: 1000 }];
      s.process!.capabilities = {
        bounding: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'], effective: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'],
        permitted: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'], inheritable: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'],
        ambient: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'],
      };
      s.process!.noNewPrivileges = true;
    }));
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')).toEqual([
      'CapPrm: 0000000000000420', 'CapEff: 0000000000000420', 'CapBnd: 0000000000000420', 'NoNewPrivs: 1',
      'uid=1000 gid=1000 groups=2000,3000', '512', '1000', 'hello', '/tmp', '0027', '',
    ]);
  });

  it('sets sysctls, domainname and oom_score_adj, and starts with no blocked or ignored signal', async () => {
    const r = await run(ws, shSpec([
      'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/domainname /proc/self/oom_score_adj',
      'grep -E "^Sig(Blk|Ign)" /proc/self/status | tr -s "\\t" " "',
    ].join('; '), (s) => {
      s.linux!.sysctl = { 'net.ipv4.ip_forward': '1' };
      s.domainname = 'example.org';
      s.process!.oomScoreAdj = 123;
      s.linux!.readonlyPaths = [];
    }));
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')).toEqual(['1', 'example.org', '123', 'SigBlk: 0000000000000000', 'SigIgn: 0000000000000000', '']);
  });

  it('clamps rlimits to the host on request, and passes a file descriptor as stdio', async () => {
    const hostHard = readFileSync('/proc/self/limits', 'utf8').match(/^Max open files\s+\d+\s+(\d+)/m)![1];
    const outFile = path.join(ws.dir, 'stdout-file');
    const fd = openSync(outFile, 'w');
    try {
      const c = await Container.create({
        id: ws.id('clamp'), bundle: ws.dir, root: ws.stateRoot, rlimits: 'clamp', stdio: ['ignore', fd, 'ignore'],
        spec: shSpec('ulimit -Hn', (s) => { s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1e9 }]; }),
      });
      await c.start();
      expect((await c.wait()).exitCode).toBe(0);
      await c.delete();
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(outFile, 'utf8')).toBe(`${hostHard}\n`);
  });

  it('defaults never ask for more than the host allows: under a hard NOFILE of 512 the default spec runs with 512', () => {
    const script = `
      import { Container, defaultSpec } from ${JSON.stringify(path.resolve('dist/index.js'))};
      const spec = defaultSpec();
      spec.process.args = ['sh', '-c', 'ulimit -n; ulimit -Hn'];
      const c = await Container.create({ id: ${JSON.stringify(ws.id('lowlimit'))}, bundle: ${JSON.stringify(ws.dir)}, spec, root: ${JSON.stringify(ws.stateRoot)}, stdio: ['ignore', 'inherit', 'inherit'] });
      await c.start(); await c.wait(); await c.delete();`;
    const r = spawnSync('prlimit', ['--nofile=512:512', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('512\n512\n');
  });

  it('reports exit codes and signals', async () => {
    expect((await run(ws, shSpec('exit 42'))).exitCode).toBe(42);
    // Without a pid namespace, so that the shell is not an init the kernel shields from signals.
    const killed = await run(ws, shSpec('kill -9 $$', (s) => { s.linux!.namespaces = s.linux!.namespaces!.filter((ns) => ns.type !== 'pid'); }));
    expect(killed).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
  });

  it('kills on request and reports the signal', async () => {
    // An init only gets the signals it handles: this one traps TERM and exits 3.
    const c = await Container.create({ id: ws.id('kill'), bundle: ws.dir, spec: shSpec('trap "exit 3" TERM; sleep 100 & wait'), root: ws.stateRoot });
    await c.start();
    expect((await c.state()).status).toBe('running');
    await new Promise((r) => setTimeout(r, 100)); // let the shell install its trap
    await c.kill('SIGTERM');
    expect(await c.wait()).toMatchObject({ signal: null, exitCode: 3 });
    expect((await c.state()).status).toBe('stopped');
    await c.delete();
    const k = await Container.create({ id: ws.id('kill9'), bundle: ws.dir, spec: shSpec('sleep 100'), root: ws.stateRoot });
    await k.start();
    await k.kill('KILL');
    expect(await k.wait()).toMatchObject({ signal: 'SIGKILL', exitCode: 137 });
    expect((await k.state()).status).toBe('stopped');
    await k.delete();
  });
});

describe('lifecycle', () => {
  it('runs nothing of the user before start, and the state follows the lifecycle', async () => {
    const marker = path.join(ws.rootfs, 'tmp', 'started');
    const c = await Container.create({ id: ws.id('split'), bundle: ws.dir, spec: shSpec('touch /tmp/started; sleep 100'), root: ws.stateRoot });
    const st = await c.state();
    expect(st).toMatchObject({ id: c.id, status: 'created', pid: c.pid, bundle: ws.dir });
    await new Promise((r) => setTimeout(r, 100));
    await expect(fs.access(marker)).rejects.toThrow();
    await c.start();
    await expect.poll(() => fs.access(marker).then(() => true, () => false)).toBe(true);
    const again = await Container.load(c.id, { root: ws.stateRoot });
    expect((await again.state()).status).toBe('running');
    expect((await Container.list({ root: ws.stateRoot })).map((x) => x.id)).toContain(c.id);
    await expect(c.delete()).rejects.toMatchObject({ code: 'EBUSY' });
    await again.delete({ force: true });
    await fs.rm(marker);
    await expect(c.state()).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('execs into a running container and reads the output', async () => {
    const c = await Container.create({ id: ws.id('exec'), bundle: ws.dir, spec: shSpec('echo ready > /tmp/ready; sleep 100', (s) => { s.hostname = 'exec-host'; }), root: ws.stateRoot });
    await c.start();
    const p = c.exec({ args: ['sh', '-c', 'echo $$ $(hostname); ls /'], stdio: ['ignore', 'pipe', 'pipe'] });
    const out = await collect(p.stdout);
    expect((await p.wait()).exitCode).toBe(0);
    const [first] = out.split('\n');
    expect(first).toMatch(/^\d+ exec-host$/);
    expect(first.split(' ')[0]).not.toBe('1');
    expect(out).toContain('bin');
    expect(await c.exec({ args: ['sh', '-c', 'exit 3'] })).toMatchObject({ exitCode: 3, signal: null });
    await expect(c.exec({ args: ['nosuch'] }).spawned).rejects.toMatchObject({ code: 'ENOENT', stage: 'executable' });
    await c.delete({ force: true });
  });

  it('pipes stdin to the container', async () => {
    const c = await Container.create({ id: ws.id('stdin'), bundle: ws.dir, spec: shSpec('tr a-z A-Z'), root: ws.stateRoot, stdio: 'pipe' });
    const out = collect(c.process.stdout);
    await c.start();
    c.process.stdin!.end('shout\n');
    expect(await out).toBe('SHOUT\n');
    expect((await c.process).exitCode).toBe(0);
    await c.delete();
  });
});

/** Pids of this process's children (alive or zombie). */
function childProcesses(): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).filter((n) => {
    try {
      const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid;
    } catch {
      return false;
    }
  }).map(Number);
}

describe('bad input: typed errors and nothing left behind', () => {
  async function expectCleanFailure(promise: Promise<unknown>, match: Record<string, unknown>, id: string): Promise<void> {
    await expect(promise).rejects.toMatchObject(match);
    await expect(fs.access(path.join(ws.stateRoot, id))).rejects.toThrow();
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(ws.rootfs);
    expect(childProcesses()).toEqual([]);
  }

  it('missing executable', async () => {
    const id = ws.id('noexe');
    const p = Container.create({ id, bundle: ws.dir, spec: shSpec('', (s) => { s.process!.args = ['/bin/nosuch']; }), root: ws.stateRoot });
    await expectCleanFailure(p, { name: 'ContainerSetupError', code: 'ENOENT', stage: 'executable', path: '/bin/nosuch' }, id);
    await expect(p).rejects.toThrow(`ENOENT: executable /bin/nosuch not found in rootfs ${ws.rootfs}`);
  });

  it('non-executable program', async () => {
    const id = ws.id('noexec');
    await expectCleanFailure(Container.create({ id, bundle: ws.dir, spec: shSpec('', (s) => { s.process!.args = ['/etc/passwd']; }), root: ws.stateRoot }),
      { code: 'EACCES', stage: 'executable' }, id);
  });

  it('missing rootfs', async () => {
    const id = ws.id('norootfs');
    await expectCleanFailure(Container.create({ id, bundle: ws.dir, spec: shSpec('true', (s) => { s.root!.path = 'nosuch'; }), root: ws.stateRoot }),
      { name: 'ConfigError', code: 'ENOENT', path: 'root.path' }, id);
  });

  it('cwd that is not a directory', async () => {
    const id = ws.id('cwd');
    await expectCleanFailure(Container.create({ id, bundle: ws.dir, spec: shSpec('true', (s) => { s.process!.cwd = '/etc/passwd'; }), root: ws.stateRoot }),
      { code: 'ENOTDIR', stage: 'cwd' }, id);
  });

  it('bad uid', async () => {
    const id = ws.id('uid');
    await expectCleanFailure(Container.create({ id, bundle: ws.dir, spec: shSpec('true', (s) => { (s.process!.user as { uid: unknown }).uid = -1; }), root: ws.stateRoot }),
      { name: 'ConfigError' }, id);
  });

  it('namespace path that does not exist, and one of the wrong kind', async () => {
    const id = ws.id('nspath');
    await expectCleanFailure(Container.create({ id, bundle: ws.dir, root: ws.stateRoot, spec: shSpec('true', (s) => {
      s.linux!.namespaces!.push({ type: 'cgroup', path: '/proc/self/ns/nosuch' });
    }) }), { code: 'ENOENT', stage: 'join_namespace', path: '/proc/self/ns/nosuch' }, id);
    await expectCleanFailure(Container.create({ id, bundle: ws.dir, root: ws.stateRoot, spec: shSpec('true', (s) => {
      s.linux!.namespaces!.push({ type: 'cgroup', path: '/proc/self/ns/uts' });
    }) }), { code: 'EINVAL', stage: 'join_namespace' }, id);
  });

  it('a limit the kernel refuses while the helper starts (the cgroup is made meanwhile): that error, and no process, cgroup or state left', async () => {
    const id = ws.id('cgfail');
    const p = Container.create({ id, bundle: ws.dir, root: ws.stateRoot, spec: shSpec('true', (s) => {
      s.linux!.resources = { cpu: { quota: 500, period: 1000 } }; // valid JSON, below the kernel's 1 ms minimum
    }) });
    await expectCleanFailure(p, { name: 'CgroupLimitError', code: 'EINVAL', path: 'linux.resources.cpu.quota' }, id);
    expect(existsSync(`/sys/fs/cgroup/cpu/berth/${id}`)).toBe(false);
  });

  it('malformed config.json', async () => {
    const bundle = path.join(ws.dir, 'badbundle');
    await fs.mkdir(bundle, { recursive: true });
    await fs.writeFile(path.join(bundle, 'config.json'), '{ "ociVersion": ');
    const id = ws.id('json');
    await expectCleanFailure(Container.create({ id, bundle, root: ws.stateRoot }), { name: 'ConfigError', path: 'config.json' }, id);
  });

  it('unknown mount type', async () => {
    const id = ws.id('mtype');
    await expectCleanFailure(Container.create({ id, bundle: ws.dir, root: ws.stateRoot, spec: shSpec('true', (s) => {
      s.mounts!.push({ destination: '/x', type: 'nosuchfs', source: 'none' });
    }) }), { name: 'ConfigError' }, id);
  });

  it('an id left half-created by a killed creator is reclaimed; one being created is not', async () => {
    const id = ws.id('stale');
    const dir = path.join(ws.stateRoot, id);
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'exec.fifo'), ''); // what a creator killed mid-way leaves
    const c = await Container.create({ id, bundle: ws.dir, spec: shSpec('true'), root: ws.stateRoot });
    await c.delete({ force: true });
    // Another process holds the lock of an id it is creating: EEXIST, and its directory stays.
    await fs.mkdir(dir);
    const holder = spawn('python3', ['-c', `import fcntl, os, sys, time\nfd = os.open(${JSON.stringify(dir)}, os.O_RDONLY)\nfcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(30)`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await once(holder.stdout!, 'data');
      await expect(Container.create({ id, bundle: ws.dir, spec: shSpec('true'), root: ws.stateRoot })).rejects.toMatchObject({ code: 'EEXIST' });
      await fs.access(dir);
    } finally {
      holder.kill('SIGKILL');
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('duplicate id, and operations on a deleted container', async () => {
    const id = ws.id('dup');
    const c = await Container.create({ id, bundle: ws.dir, spec: shSpec('true'), root: ws.stateRoot });
    await expect(Container.create({ id, bundle: ws.dir, spec: shSpec('true'), root: ws.stateRoot })).rejects.toMatchObject({ name: 'ContainerStateError', code: 'EEXIST' });
    await c.delete({ force: true });
    for (const op of [() => c.start(), () => c.kill(), () => c.state(), () => c.delete(), () => c.exec({ args: ['true'] }).spawned]) {
      await expect(op()).rejects.toMatchObject({ name: 'ContainerStateError', code: 'ENOENT' });
    }
    await expect(Container.load(id, { root: ws.stateRoot })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('bad stdio: a TypeError naming the stream, and the id stays free', async () => {
    const id = ws.id('stdio');
    await expectCleanFailure(Container.create({ id, bundle: ws.dir, root: ws.stateRoot, spec: shSpec('true'), stdio: ['ignore', 'bogus' as never, 'ignore'] }),
      { name: 'TypeError', message: expect.stringContaining('stdio[1]') }, id);
    const c = await Container.create({ id, bundle: ws.dir, root: ws.stateRoot, spec: shSpec('true') });
    await c.delete({ force: true });
  });

  it('no mount namespace: refused rather than mounting on the host', async () => {
    const id = ws.id('nomnt');
    await expectCleanFailure(Container.create({ id, bundle: ws.dir, root: ws.stateRoot, spec: shSpec('true', (s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((ns) => ns.type !== 'mount');
    }) }), { name: 'UnsupportedError', path: 'linux.namespaces' }, id);
  });

  it('a seccomp profile with an unknown action names the field, and a notify agent is refused', async () => {
    const id = ws.id('seccomp');
    await expectCleanFailure(Container.create({ id, bundle: ws.dir, root: ws.stateRoot, spec: shSpec('true', (s) => {
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_DENY' }] };
    }) }), { name: 'ConfigError', path: 'linux.seccomp.syscalls[0].action' }, id);
    await expectCleanFailure(Container.create({ id, bundle: ws.dir, root: ws.stateRoot, spec: shSpec('true', (s) => {
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_NOTIFY' };
    }) }), { name: 'UnsupportedError', path: 'linux.seccomp.defaultAction' }, id);
  });

  it('an rlimit above the host hard limit names the limit', async () => {
    const id = ws.id('rlimit');
    await expectCleanFailure(Container.create({ id, bundle: ws.dir, root: ws.stateRoot, spec: shSpec('true', (s) => {
      s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: Number.MAX_SAFE_INTEGER }];
    }) }), { name: 'ConfigError' }, id);
  });
});
