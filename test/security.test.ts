// The security invariants of DESIGN.md, each an attack that must fail.
import { existsSync, openSync, closeSync, readFileSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Container, type Spec } from '../src/index.js';
import { run, shSpec, workspace, collect, type Workspace } from './support.js';

let ws: Workspace;
beforeAll(async () => { ws = await workspace('sec'); });
afterAll(async () => { await ws.cleanup(); });

const ALL_CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_KILL', 'CAP_SETUID', 'CAP_SETGID',
  'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE', 'CAP_SYS_CHROOT', 'CAP_MKNOD', 'CAP_NET_ADMIN'];

function allCaps(s: Spec): void {
  s.process!.capabilities = { bounding: ALL_CAPS, effective: ALL_CAPS, permitted: ALL_CAPS };
  s.process!.noNewPrivileges = false;
}

describe('CVE-2024-21626: no host fd or cwd leaks in', () => {
  it('the process sees only its stdio fds', async () => {
    const r = await run(ws, shSpec('ls /proc/self/fd', allCaps));
    // ls itself opens one fd for the directory it lists.
    expect(r.stdout.trim().split('\n').map(Number).filter((fd) => fd > 2).length).toBeLessThanOrEqual(1);
  });

  it('a cwd through /proc/self/fd/N of any fd the setup holds is refused', async () => {
    for (let fd = 3; fd <= 16; fd++) {
      const spec = shSpec('pwd; ls ..', (s) => { s.process!.cwd = `/proc/self/fd/${fd}`; allCaps(s); });
      await expect(run(ws, spec, `cwd${fd}`), `cwd /proc/self/fd/${fd}`).rejects.toMatchObject({ name: 'ContainerSetupError', stage: 'cwd' });
    }
  });
});

describe('CVE-2021-30465: mount targets resolve inside the rootfs', () => {
  it('a symlink in the target path cannot redirect a mount onto the host', async () => {
    const outside = path.join(ws.dir, 'outside-target');
    await fs.mkdir(outside, { recursive: true });
    await fs.rm(path.join(ws.rootfs, 'evil'), { force: true });
    await fs.symlink(`/../../../../../../..${outside}`, path.join(ws.rootfs, 'evil'));
    try {
      const r = await run(ws, shSpec('grep -c " /evil/x \\| /outside" /proc/self/mounts; ls /', (s) => {
        s.mounts!.push({ destination: '/evil/x', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
      }));
      expect(r.exitCode).toBe(0);
      // The tmpfs went into the rootfs (the link resolved against the container's root).
      expect(existsSync(path.join(ws.rootfs, ws.dir.slice(1), 'outside-target', 'x'))).toBe(true);
      expect(existsSync(path.join(outside, 'x'))).toBe(false);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(outside);
    } finally {
      await fs.rm(path.join(ws.rootfs, 'evil'), { force: true });
      await fs.rm(path.join(ws.rootfs, ws.dir.split('/')[1]), { recursive: true, force: true });
    }
  });

  it('/proc replaced by a symlink is refused', async () => {
    const bundle = path.join(ws.dir, 'procbundle');
    await fs.mkdir(bundle, { recursive: true });
    await fs.cp(ws.rootfs, path.join(bundle, 'rootfs'), { recursive: true, verbatimSymlinks: true });
    await fs.rm(path.join(bundle, 'rootfs/proc'), { recursive: true });
    await fs.mkdir(path.join(bundle, 'rootfs/fakeproc'));
    await fs.symlink('/fakeproc', path.join(bundle, 'rootfs/proc'));
    const id = ws.id('proclink');
    await expect(Container.create({ id, bundle, spec: shSpec('true'), root: ws.stateRoot }))
      .rejects.toMatchObject({ name: 'ContainerSetupError', stage: 'mount', code: 'ELOOP', path: '/proc' });
    await expect(fs.access(path.join(ws.stateRoot, id))).rejects.toThrow();
  });
});

describe('/proc must be procfs', () => {
  it('masked paths are refused when the container\'s /proc is not procfs (an image could aim them elsewhere)', async () => {
    const bundle = path.join(ws.dir, 'fakeproc');
    await fs.mkdir(bundle, { recursive: true });
    await fs.cp(ws.rootfs, path.join(bundle, 'rootfs'), { recursive: true, verbatimSymlinks: true });
    // An image that fakes /proc/self/fd/N so that every mask would land on /decoy.
    await fs.mkdir(path.join(bundle, 'rootfs/fake/fd'), { recursive: true });
    await fs.mkdir(path.join(bundle, 'rootfs/decoy'));
    for (let fd = 0; fd < 64; fd++) await fs.symlink('/decoy', path.join(bundle, `rootfs/fake/fd/${fd}`));
    await fs.symlink('/fake', path.join(bundle, 'rootfs/proc/self'));
    await fs.mkdir(path.join(bundle, 'rootfs/secret'));
    const id = ws.id('fakeproc');
    await expect(Container.create({ id, bundle, root: ws.stateRoot, spec: shSpec('true', (s) => {
      s.mounts = s.mounts!.filter((m) => m.destination !== '/proc');
      s.linux!.maskedPaths = ['/secret'];
      s.linux!.readonlyPaths = [];
    }) })).rejects.toMatchObject({ name: 'ContainerSetupError', stage: 'masked_path', code: 'ENODEV' });
    await expect(fs.access(path.join(ws.stateRoot, id))).rejects.toThrow();
  });
});

describe('CVE-2019-5736: no container process can open a host binary for writing', () => {
  it('the helper a container process runs is a sealed memfd, even for root with all caps', async () => {
    const c = await Container.create({ id: ws.id('seal'), bundle: ws.dir, spec: shSpec('sleep 100', allCaps), root: ws.stateRoot });
    try {
      // The init waits for start inside the helper: its /proc/PID/exe is the helper image.
      expect(() => closeSync(openSync(`/proc/${c.pid}/exe`, 'r+'))).toThrow(/EPERM|ETXTBSY|EACCES/);
      // From inside: a process exec'd into the created container tries the same on its pid 1.
      const p = c.exec({
        args: ['sh', '-c', 'readlink /proc/1/exe; (echo x >> /proc/1/exe) 2>&1 && echo WROTE || echo refused'],
        stdio: ['ignore', 'pipe', 'pipe'],
        process: { capabilities: { bounding: ALL_CAPS, effective: ALL_CAPS, permitted: ALL_CAPS } },
      });
      const out = await collect(p.stdout);
      await p.wait();
      expect(out).toMatch(/memfd:berth-init/);
      expect(out).toContain('refused');
      expect(out).not.toContain('WROTE');
    } finally {
      await c.delete({ force: true });
    }
  });

  it('the node binary cannot be opened for writing from a container sharing the host pid namespace', async () => {
    const r = await run(ws, shSpec(`(echo x >> /proc/${process.pid}/exe) 2>&1 && echo WROTE || echo refused`, (s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((ns) => ns.type !== 'pid');
      allCaps(s);
    }));
    expect(r.stdout).toContain('refused');
    expect(r.stdout).not.toContain('WROTE');
  });
});
