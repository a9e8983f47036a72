// Unit tests of the spec types' defaults and of validateSpec: every refusal names its JSON path.
import { describe, expect, it } from 'vitest';
import { ConfigError, UnsupportedError } from '../src/errors.js';
import { defaultSpec, type Spec } from '../src/runtime/spec.js';
import { validateProcess, validateSpec } from '../src/runtime/validate.js';

const FILESYSTEMS = new Set(['proc', 'tmpfs', 'devpts', 'mqueue', 'sysfs', 'cgroup', 'cgroup2', 'overlay', 'ext4']);

/** A default spec (no cgroup namespace) with `edit` applied. */
function spec(edit?: (s: Spec) => void): Spec {
  const s = defaultSpec({ cgroupNamespace: false });
  edit?.(s);
  return s;
}

/** Asserts validateSpec refuses `value` with `cls` and the field path `field`. */
function expectRefused(value: unknown, field: string, cls: typeof ConfigError | typeof UnsupportedError = ConfigError, opts = {}): Error {
  let caught: unknown;
  try {
    validateSpec(value, { filesystems: FILESYSTEMS, ...opts });
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(cls);
  const e = caught as ConfigError;
  expect(e.code).toBe(cls === UnsupportedError ? 'ENOTSUP' : 'EINVALIDSPEC');
  expect(e.path).toBe(field);
  expect(e.message.startsWith(`${field}: `)).toBe(true);
  expect(e.stage).toBe('config');
  return e;
}

describe('defaultSpec', () => {
  it('looks like runc spec', () => {
    const s = defaultSpec({ cgroupNamespace: false });
    expect(s.ociVersion).toBe('1.2.0');
    expect(s.process?.args).toEqual(['sh']);
    expect(s.process?.terminal).toBe(false);
    expect(s.process?.cwd).toBe('/');
    expect(s.process?.env?.[0]).toMatch(/^PATH=\/usr\/local\/sbin:/);
    expect(s.process?.noNewPrivileges).toBe(true);
    expect(s.process?.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }]);
    const caps = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
    expect(s.process?.capabilities).toEqual({ bounding: caps, effective: caps, permitted: caps });
    expect(s.root).toEqual({ path: 'rootfs' });
    expect(s.mounts?.map((m) => `${m.type}:${m.destination}`)).toEqual([
      'proc:/proc', 'tmpfs:/dev', 'devpts:/dev/pts', 'tmpfs:/dev/shm', 'mqueue:/dev/mqueue', 'sysfs:/sys', 'cgroup:/sys/fs/cgroup',
    ]);
    expect(s.mounts?.[1]?.options).toEqual(['nosuid', 'strictatime', 'mode=755', 'size=65536k']);
    expect(s.mounts?.[2]?.options).toEqual(['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
    expect(s.mounts?.[0]?.options).toBeUndefined();
    expect(s.linux?.namespaces?.map((n) => n.type)).toEqual(['pid', 'network', 'ipc', 'uts', 'mount']);
    expect(s.linux?.maskedPaths).toContain('/proc/kcore');
    expect(s.linux?.maskedPaths).toHaveLength(10);
    expect(s.linux?.readonlyPaths).toEqual(['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
    expect(defaultSpec({ cgroupNamespace: true }).linux?.namespaces?.map((n) => n.type)).toContain('cgroup');
  });

  it('returns a fresh object each time', () => {
    const a = defaultSpec();
    a.process!.args!.push('x');
    a.mounts![1]!.options!.push('ro');
    expect(defaultSpec().process!.args).toEqual(['sh']);
    expect(defaultSpec().mounts![1]!.options).not.toContain('ro');
  });

  it('is valid', () => {
    expect(() => validateSpec(defaultSpec(), { filesystems: FILESYSTEMS })).not.toThrow();
    expect(() => validateSpec(JSON.parse(JSON.stringify(defaultSpec())))).not.toThrow(); // real /proc/filesystems
  });
});

describe('validateSpec', () => {
  it('refuses a config that is not an object', () => {
    expectRefused(null, 'config');
    expectRefused([], 'config');
    expectRefused('{}', 'config');
  });

  it('checks ociVersion', () => {
    expectRefused(spec((s) => delete (s as Partial<Spec>).ociVersion), 'ociVersion');
    expectRefused(spec((s) => { s.ociVersion = '2.0.0'; }), 'ociVersion');
  });

  it('requires process.args unless the process may be absent', () => {
    expectRefused(spec((s) => { s.process!.args = []; }), 'process.args');
    expectRefused(spec((s) => { delete s.process!.args; }), 'process.args');
    expectRefused(spec((s) => { (s.process as unknown as { args: unknown }).args = 'sh'; }), 'process.args');
    expectRefused(spec((s) => { (s.process!.args as unknown[]) = ['sh', 3]; }), 'process.args[1]');
    expectRefused(spec((s) => { delete s.process; }), 'process');
    expect(() => validateSpec(spec((s) => { delete s.process; }), { requireProcess: false, filesystems: FILESYSTEMS })).not.toThrow();
  });

  it('refuses a relative or missing cwd', () => {
    expectRefused(spec((s) => { s.process!.cwd = 'tmp'; }), 'process.cwd');
    expectRefused(spec((s) => { delete (s.process as Partial<NonNullable<Spec['process']>>).cwd; }), 'process.cwd');
  });

  it('refuses bad uids and gids', () => {
    expectRefused(spec((s) => { s.process!.user.uid = -1; }), 'process.user.uid');
    expectRefused(spec((s) => { s.process!.user.uid = 2 ** 32 - 1; }), 'process.user.uid');
    expectRefused(spec((s) => { s.process!.user.gid = 1.5; }), 'process.user.gid');
    expectRefused(spec((s) => { (s.process!.user as unknown as { gid: string }).gid = '0'; }), 'process.user.gid');
    expectRefused(spec((s) => { s.process!.user.additionalGids = [1, -2]; }), 'process.user.additionalGids[1]');
    expect(() => validateSpec(spec((s) => { s.process!.user.uid = 2 ** 32 - 2; }), { filesystems: FILESYSTEMS })).not.toThrow();
  });

  it('refuses a non-absolute mount destination', () => {
    expectRefused(spec((s) => { s.mounts![3]!.destination = 'dev/shm'; }), 'mounts[3].destination');
  });

  it('refuses an unknown filesystem type but takes any type for a bind', () => {
    const e = expectRefused(spec((s) => { s.mounts!.push({ destination: '/x', type: 'nosuchfs', source: 'x' }); }), 'mounts[7].type');
    expect(e.message).toContain('nosuchfs');
    expectRefused(spec((s) => { s.mounts!.push({ destination: '/x', source: 'x' }); }), 'mounts[7].type');
    expectRefused(spec((s) => { s.mounts!.push({ destination: '/x', type: 'none', source: 'x' }); }), 'mounts[7].type');
    expectRefused(spec((s) => { s.mounts!.push({ destination: '/x', type: 'bind' }); }), 'mounts[7].source');
    for (const m of [
      { destination: '/x', type: 'nosuchfs', source: '/tmp', options: ['rbind', 'ro'] },
      { destination: '/x', type: 'none', source: '/tmp', options: ['bind'] },
      { destination: '/x', source: '/tmp', options: ['bind'] },
      { destination: '/x', type: 'bind', source: '/tmp' },
    ]) {
      expect(() => validateSpec(spec((s) => { s.mounts!.push(m); }), { filesystems: FILESYSTEMS })).not.toThrow();
    }
  });

  it('refuses recursive mount attributes and id-mapped mounts as unsupported', () => {
    expectRefused(spec((s) => { s.mounts!.push({ destination: '/x', type: 'bind', source: '/tmp', options: ['rbind', 'rro'] }); }), 'mounts[7].options', UnsupportedError);
    expectRefused(
      spec((s) => { s.mounts!.push({ destination: '/x', type: 'bind', source: '/tmp', uidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }); }),
      'mounts[7].uidMappings',
      UnsupportedError,
    );
  });

  it('refuses unknown and duplicate namespace types', () => {
    const e = expectRefused(spec((s) => { (s.linux!.namespaces![2] as { type: string }).type = 'ipcc'; }), 'linux.namespaces[2].type');
    expect(e.message).toContain('"ipcc"');
    expectRefused(spec((s) => { s.linux!.namespaces!.push({ type: 'pid' }); }), 'linux.namespaces[5].type');
  });

  it('refuses a namespace path that cannot be joined', () => {
    expectRefused(spec((s) => { s.linux!.namespaces![1]!.path = 'proc/1/ns/net'; }), 'linux.namespaces[1].path');
    expectRefused(spec((s) => { (s.linux!.namespaces![1] as { path: unknown }).path = 7; }), 'linux.namespaces[1].path');
    expect(() => validateSpec(spec((s) => { s.linux!.namespaces![1]!.path = '/proc/1/ns/net'; }), { filesystems: FILESYSTEMS })).not.toThrow();
  });

  it('refuses id mappings without a user namespace, and a new user namespace without them', () => {
    const maps = [{ containerID: 0, hostID: 100000, size: 65536 }];
    expectRefused(spec((s) => { s.linux!.uidMappings = maps; }), 'linux.uidMappings');
    expectRefused(spec((s) => { s.linux!.gidMappings = maps; }), 'linux.gidMappings');
    expectRefused(spec((s) => { s.linux!.namespaces!.push({ type: 'user' }); s.linux!.gidMappings = maps; }), 'linux.uidMappings');
    expectRefused(
      spec((s) => { s.linux!.namespaces!.push({ type: 'user' }); s.linux!.uidMappings = maps; s.linux!.gidMappings = maps; s.process!.user.uid = 70000; }),
      'process.user.uid',
    );
    expectRefused(spec((s) => { s.linux!.namespaces!.push({ type: 'user' }); s.linux!.uidMappings = [{ containerID: 0, hostID: 1, size: 0 }]; }), 'linux.uidMappings[0].size');
    expect(() =>
      validateSpec(spec((s) => { s.linux!.namespaces!.push({ type: 'user' }); s.linux!.uidMappings = maps; s.linux!.gidMappings = maps; }), { filesystems: FILESYSTEMS }),
    ).not.toThrow();
  });

  it('refuses timeOffsets without a new time namespace', () => {
    expectRefused(spec((s) => { s.linux!.timeOffsets = { monotonic: { secs: 10 } }; }), 'linux.timeOffsets');
    expectRefused(spec((s) => { s.linux!.namespaces!.push({ type: 'time', path: '/proc/1/ns/time' }); s.linux!.timeOffsets = { monotonic: { secs: 1 } }; }), 'linux.timeOffsets');
    expectRefused(
      spec((s) => { s.linux!.namespaces!.push({ type: 'time' }); (s.linux!.timeOffsets as Record<string, unknown>) = { realtime: { secs: 1 } }; }),
      'linux.timeOffsets.realtime',
    );
    expectRefused(spec((s) => { s.linux!.namespaces!.push({ type: 'time' }); s.linux!.timeOffsets = { boottime: { nanosecs: 1e9 } }; }), 'linux.timeOffsets.boottime.nanosecs');
    expect(() => validateSpec(spec((s) => { s.linux!.namespaces!.push({ type: 'time' }); s.linux!.timeOffsets = { monotonic: { secs: -5 } }; }), { filesystems: FILESYSTEMS })).not.toThrow();
  });

  it('refuses unknown capability names, naming them', () => {
    const e = expectRefused(spec((s) => { s.process!.capabilities!.permitted!.push('CAP_FOO'); }), 'process.capabilities.permitted[3]');
    expect(e.message).toContain('CAP_FOO');
    expectRefused(spec((s) => { s.process!.capabilities!.ambient = ['KILL']; }), 'process.capabilities.ambient[0]');
  });

  it('refuses unknown and duplicate rlimits and soft above hard', () => {
    expectRefused(spec((s) => { s.process!.rlimits = [{ type: 'RLIMIT_FOO', soft: 1, hard: 1 }]; }), 'process.rlimits[0].type');
    expectRefused(
      spec((s) => { s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1, hard: 1 }, { type: 'RLIMIT_CORE', soft: 0, hard: 0 }, { type: 'RLIMIT_NOFILE', soft: 2, hard: 2 }]; }),
      'process.rlimits[2].type',
    );
    expectRefused(spec((s) => { s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2048, hard: 1024 }]; }), 'process.rlimits[0].soft');
    expectRefused(spec((s) => { s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: -1, hard: 1024 }]; }), 'process.rlimits[0].soft');
    expect(() => validateSpec(spec((s) => { s.process!.rlimits = [{ type: 'RLIMIT_CORE', soft: 0, hard: 2n ** 64n - 1n }]; }), { filesystems: FILESYSTEMS })).not.toThrow();
  });

  it('refuses a hostname or domainname without a uts namespace', () => {
    const noUts = (s: Spec): void => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'uts'); };
    expectRefused(spec(noUts), 'hostname');
    expectRefused(spec((s) => { noUts(s); delete s.hostname; s.domainname = 'example.org'; }), 'domainname');
    expectRefused(spec((s) => { s.hostname = 'x'.repeat(65); }), 'hostname');
    expect(() => validateSpec(spec((s) => { noUts(s); delete s.hostname; }), { filesystems: FILESYSTEMS })).not.toThrow();
  });

  it('allows only sysctls namespaced by the config', () => {
    expectRefused(spec((s) => { s.linux!.sysctl = { 'vm.swappiness': '10' }; }), 'linux.sysctl["vm.swappiness"]');
    expectRefused(spec((s) => { s.linux!.sysctl = { 'kernel.pid_max': '10' }; }), 'linux.sysctl["kernel.pid_max"]');
    const noNs = (type: string) => (s: Spec): void => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== type); };
    expectRefused(spec((s) => { noNs('network')(s); s.linux!.sysctl = { 'net.ipv4.ip_forward': '1' }; }), 'linux.sysctl["net.ipv4.ip_forward"]');
    expectRefused(spec((s) => { noNs('ipc')(s); s.linux!.sysctl = { 'kernel.shmmax': '1' }; }), 'linux.sysctl["kernel.shmmax"]');
    expectRefused(spec((s) => { noNs('ipc')(s); s.linux!.sysctl = { 'fs.mqueue.msg_max': '1' }; }), 'linux.sysctl["fs.mqueue.msg_max"]');
    expectRefused(spec((s) => { noNs('uts')(s); delete s.hostname; s.linux!.sysctl = { 'kernel.domainname': 'x' }; }), 'linux.sysctl["kernel.domainname"]');
    expect(() =>
      validateSpec(
        spec((s) => {
          s.linux!.sysctl = {
            'net.ipv4.ip_forward': '1', 'net/ipv4/conf/all/forwarding': '1', 'kernel.shmmax': '1', 'kernel.msgmax': '1', 'kernel.sem': '1 2 3 4',
            'fs.mqueue.queues_max': '1', 'kernel.hostname': 'h',
          };
        }),
        { filesystems: FILESYSTEMS },
      ),
    ).not.toThrow();
  });

  it('checks seccomp, and refuses its agent and other unsupported features', () => {
    expect(() => validateSpec(spec((s) => { s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW' }; }), { filesystems: FILESYSTEMS })).not.toThrow();
    const e = expectRefused(spec((s) => { s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] }; }), 'linux.seccomp.syscalls[0].action', UnsupportedError);
    expect(e.message).toContain('SCMP_ACT_NOTIFY is not supported');
    expectRefused(spec((s) => { s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock' }; }), 'linux.seccomp.listenerPath', UnsupportedError);
    expectRefused(spec((s) => { s.linux!.seccomp = { defaultAction: 'SCMP_ACT_DENY' }; }), 'linux.seccomp.defaultAction');
    expectRefused(spec((s) => { s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_ABOUT' }] }] }; }), 'linux.seccomp.syscalls[0].args[0].op');
    expectRefused(spec((s) => { s.process!.scheduler = { policy: 'SCHED_OTHER' }; }), 'process.scheduler', UnsupportedError);
    expectRefused(spec((s) => { s.linux!.personality = { domain: 'LINUX32' }; }), 'linux.personality', UnsupportedError);
  });

  it('accepts and ignores LSM labels', () => {
    expect(() =>
      validateSpec(spec((s) => { s.process!.apparmorProfile = 'docker-default'; s.process!.selinuxLabel = 'system_u:system_r:container_t:s0'; s.linux!.mountLabel = 'x'; }), {
        filesystems: FILESYSTEMS,
      }),
    ).not.toThrow();
  });

  it('checks devices, masked paths, propagation, hooks and the rest', () => {
    expectRefused(spec((s) => { s.linux!.devices = [{ path: 'dev/fuse', type: 'c', major: 10, minor: 229 }]; }), 'linux.devices[0].path');
    expectRefused(spec((s) => { (s.linux!.devices as unknown[]) = [{ path: '/dev/fuse', type: 'x', major: 10, minor: 229 }]; }), 'linux.devices[0].type');
    expectRefused(spec((s) => { s.linux!.devices = [{ path: '/dev/fuse', type: 'c', minor: 229 }]; }), 'linux.devices[0].major');
    expectRefused(spec((s) => { s.linux!.maskedPaths!.push('proc/x'); }), 'linux.maskedPaths[10]');
    expectRefused(spec((s) => { s.linux!.readonlyPaths = [3 as unknown as string]; }), 'linux.readonlyPaths[0]');
    expectRefused(spec((s) => { s.linux!.rootfsPropagation = 'sideways'; }), 'linux.rootfsPropagation');
    expectRefused(spec((s) => { s.hooks = { prestart: [{ path: 'hook' }] }; }), 'hooks.prestart[0].path');
    expectRefused(spec((s) => { s.process!.oomScoreAdj = 1001; }), 'process.oomScoreAdj');
    expectRefused(spec((s) => { s.process!.env = ['A=1', 'B\0=2']; }), 'process.env[1]');
    expectRefused(spec((s) => { s.root = { path: '' }; }), 'root.path');
  });

  it('validates an exec process on its own', () => {
    expect(() => validateProcess({ user: { uid: 0, gid: 0 }, cwd: '/', args: ['ls'] })).not.toThrow();
    try {
      validateProcess({ user: { uid: 0, gid: 0 }, cwd: '/', args: [] });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).path).toBe('process.args');
    }
  });
  it('refuses hooks it would not run, and unknown hook kinds, naming the field', () => {
    const base = (): Spec => defaultSpec({ cgroupNamespace: false });
    const withHooks = (hooks: unknown): Spec => ({ ...base(), hooks } as Spec);
    expect(() => validateSpec(withHooks({ startContainer: [{ path: '/bin/true' }] }), { filesystems: FILESYSTEMS }))
      .toThrow(expect.objectContaining({ name: 'UnsupportedError', path: 'hooks.startContainer' }));
    expect(() => validateSpec(withHooks({ onBoot: [{ path: '/bin/true' }] }), { filesystems: FILESYSTEMS }))
      .toThrow(expect.objectContaining({ name: 'ConfigError', path: 'hooks.onBoot' }));
    expect(() => validateSpec(withHooks({ poststop: [{ path: '/bin/true' }], createContainer: [] }), { filesystems: FILESYSTEMS })).not.toThrow();
  });
});
