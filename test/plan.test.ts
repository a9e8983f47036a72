// Unit tests of the helper protocol codec and of the plan: payloads are decoded with the
// protocol's own decoder and their records checked.
import { describe, expect, it } from 'vitest';
import { ConfigError, NativeError } from '../src/errors.js';
import {
  ConfigTag,
  DeviceTag,
  FrameDecoder,
  FrameType,
  MountTag,
  NESTED_CONFIG_TAGS,
  NsTag,
  RecordWriter,
  RlimitTag,
  Stage,
  SymlinkTag,
  SysctlTag,
  decodeErrorFrame,
  decodePidFrame,
  decodeRecords,
  encodeErrorPayload,
  encodeFrame,
  encodePidPayload,
  readI32,
  readStr,
  readU32,
  readU32Array,
  readU64,
  readU64Array,
  stageName,
  type RawRecord,
} from '../src/native/protocol.js';
import { detectCgroupLayout, hostFactsFromText, parseMountinfo, type HostFacts } from '../src/runtime/host-facts.js';
import { MS, parseMountOptions } from '../src/runtime/mount-options.js';
import { CLONE } from '../src/runtime/namespace-kinds.js';
import { buildExecConfig, buildInitConfig, type InitContext } from '../src/runtime/plan.js';
import { parseProcLimits, RLIM_INFINITY } from '../src/runtime/rlimits.js';
import { defaultSpec, type Spec } from '../src/runtime/spec.js';

// --- host samples -------------------------------------------------------------------------

const HYBRID_MOUNTINFO = `\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio
37 31 0:34 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd,release_agent=/x
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 22 0:40 / /mnt/with\\040space rw - tmpfs tmpfs rw
`;

const V2_MOUNTINFO = `\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
25 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

const LIMITS = `\
Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max file size             unlimited            unlimited            bytes     
Max stack size            8388608              unlimited            bytes     
Max core file size        0                    unlimited            bytes     
Max processes             96365                96365                processes 
Max open files            20000                1048576              files     
Max locked memory         8388608              8388608              bytes     
Max nice priority         0                    0                    
Max realtime timeout      unlimited            unlimited            us        
`;

/** CapEff/CapBnd without CAP_SYS_RESOURCE (bit 24), as on the test machines. */
const STATUS_NO_SYS_RESOURCE = 'Name:\tnode\nCapInh:\t0000000000000000\nCapPrm:\t000001fffeffffff\nCapEff:\t000001fffeffffff\nCapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\n';
const STATUS_ALL = STATUS_NO_SYS_RESOURCE.replace(/fffeffffff/g, 'ffffffffff');

function facts(over: Partial<Parameters<typeof hostFactsFromText>[0]> = {}): HostFacts {
  return hostFactsFromText({ mountinfo: HYBRID_MOUNTINFO, limits: LIMITS, status: STATUS_NO_SYS_RESOURCE, uidMap: '         0          0 4294967295\n', ...over });
}

function ctx(over: Partial<InitContext> = {}): InitContext {
  return {
    rootfsPath: '/bundle/rootfs',
    bundlePath: '/bundle',
    startFifo: '/run/berth/c1/exec.fifo',
    stdioTargets: [0, 1, 2],
    cgroupProcs: ['/sys/fs/cgroup/pids/berth/c1/cgroup.procs'],
    hostFacts: facts(),
    ...over,
  };
}

function spec(edit?: (s: Spec) => void): Spec {
  const s = defaultSpec({ cgroupNamespace: false });
  edit?.(s);
  return s;
}

// --- payload decoding ---------------------------------------------------------------------

type Fields = Map<number, Buffer[]>;

function fields(records: RawRecord[]): Fields {
  const m: Fields = new Map();
  for (const r of records) m.set(r.tag, [...(m.get(r.tag) ?? []), r.value]);
  return m;
}

/** Decodes a config payload: the top records, and each nested one as a tag → values map. */
function decode(payload: Buffer): { records: RawRecord[]; all: (tag: number) => Buffer[]; nested: (tag: number) => Fields[]; one: (tag: number) => Buffer } {
  const records = decodeRecords(payload);
  const all = (tag: number): Buffer[] => records.filter((r) => r.tag === tag).map((r) => r.value);
  return {
    records,
    all,
    nested: (tag) => {
      expect(NESTED_CONFIG_TAGS.has(tag)).toBe(true);
      return all(tag).map((v) => fields(decodeRecords(v)));
    },
    one: (tag) => {
      const v = all(tag);
      expect(v, `tag ${tag} once`).toHaveLength(1);
      return v[0]!;
    },
  };
}

const s = (f: Fields, tag: number): string | undefined => (f.get(tag)?.[0] ? readStr(f.get(tag)![0]!) : undefined);
const u64 = (f: Fields, tag: number): bigint | undefined => (f.get(tag)?.[0] ? readU64(f.get(tag)![0]!) : undefined);
const u32 = (f: Fields, tag: number): number | undefined => (f.get(tag)?.[0] ? readU32(f.get(tag)![0]!) : undefined);

interface DecodedMount { source?: string; target?: string; fstype?: string; flags?: bigint; propagation?: bigint; data?: string; remount?: bigint }

function mounts(payload: Buffer): DecodedMount[] {
  return decode(payload).nested(ConfigTag.MOUNT).map((f) => ({
    source: s(f, MountTag.SOURCE),
    target: s(f, MountTag.TARGET),
    fstype: s(f, MountTag.FSTYPE),
    flags: u64(f, MountTag.FLAGS),
    propagation: u64(f, MountTag.PROPAGATION),
    data: s(f, MountTag.DATA),
    remount: u64(f, MountTag.REMOUNT_FLAGS),
  }));
}

const mountAt = (payload: Buffer, target: string): DecodedMount => mounts(payload).find((m) => m.target === target)!;

// --- protocol ----------------------------------------------------------------------------

describe('protocol', () => {
  it('encodes records little-endian and decodes them back', () => {
    const w = new RecordWriter()
      .u32(1, 0x01020304)
      .u64(2, 0x0102030405060708n)
      .i32(3, -5)
      .str(4, 'héllo')
      .u32array(5, [0, 1, 2])
      .nested(6, new RecordWriter().str(1, 'a').u32(2, 7));
    const buf = w.finish();
    expect(buf.subarray(0, 12)).toEqual(Buffer.from([1, 0, 0, 0, 4, 0, 0, 0, 4, 3, 2, 1]));
    const r = decodeRecords(buf);
    expect(r.map((x) => x.tag)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(readU32(r[0]!.value)).toBe(0x01020304);
    expect(readU64(r[1]!.value)).toBe(0x0102030405060708n);
    expect(readI32(r[2]!.value)).toBe(-5);
    expect(readStr(r[3]!.value)).toBe('héllo');
    expect(readU32Array(r[4]!.value)).toEqual([0, 1, 2]);
    const inner = decodeRecords(r[5]!.value);
    expect(readStr(inner[0]!.value)).toBe('a');
    expect(readU32(inner[1]!.value)).toBe(7);
    expect(() => new RecordWriter().str(1, 'a\0b')).toThrow(RangeError);
    expect(() => decodeRecords(buf.subarray(0, buf.length - 1))).toThrow(NativeError);
  });

  it('reassembles frames split anywhere', () => {
    const pid = encodeFrame(FrameType.PID, encodePidPayload(1234));
    const ready = encodeFrame(FrameType.READY);
    const err = encodeFrame(FrameType.ERROR, encodeErrorPayload(Stage.EXECUTABLE, 2, '/bin/sh'));
    const stream = Buffer.concat([pid, ready, err]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new FrameDecoder();
      const frames = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(frames.map((f) => f.type)).toEqual([FrameType.PID, FrameType.READY, FrameType.ERROR]);
      expect(d.pendingBytes).toBe(0);
      expect(decodePidFrame(frames[0]!.payload)).toBe(1234);
      expect(frames[1]!.payload.length).toBe(0);
      const e = decodeErrorFrame(frames[2]!.payload);
      expect(e).toEqual({ stage: 22, errno: 2, detail: '/bin/sh' });
      expect(stageName(e.stage)).toBe('executable');
    }
    const byteByByte = new FrameDecoder();
    const got = [...stream].flatMap((b) => byteByByte.push(Buffer.from([b])));
    expect(got).toHaveLength(3);
  });

  it('refuses oversized frames and names stages', () => {
    const header = Buffer.alloc(8);
    header.writeUInt32LE(FrameType.CONFIG, 0);
    header.writeUInt32LE(16 * 1024 * 1024 + 1, 4);
    expect(() => new FrameDecoder().push(header)).toThrow(NativeError);
    expect(stageName(Stage.MOUNT)).toBe('mount');
    expect(stageName(Stage.PIVOT_ROOT)).toBe('pivot_root');
    expect(stageName(Stage.NO_NEW_PRIVILEGES)).toBe('no_new_privileges');
    expect(stageName(99)).toBe('stage_99');
    expect(() => decodePidFrame(Buffer.alloc(3))).toThrow(NativeError);
  });
});

// --- host facts ----------------------------------------------------------------------------

describe('host facts', () => {
  it('detects a hybrid cgroup layout with controllers from the superblock options', () => {
    const layout = detectCgroupLayout(HYBRID_MOUNTINFO);
    expect(layout.mode).toBe('hybrid');
    expect(layout.unified).toBe(true);
    expect(layout.hierarchies).toEqual([
      { dir: 'cpu,cpuacct', options: 'cpu,cpuacct' },
      { dir: 'cpuset', options: 'cpuset' },
      { dir: 'memory', options: 'memory' },
      { dir: 'net_cls,net_prio', options: 'net_cls,net_prio' },
      { dir: 'pids', options: 'pids' },
      { dir: 'systemd', options: 'name=systemd' },
    ]);
    expect(detectCgroupLayout(V2_MOUNTINFO)).toEqual({ mode: 'v2', hierarchies: [], unified: false });
    expect(detectCgroupLayout(HYBRID_MOUNTINFO.split('\n').filter((l) => !l.includes('unified')).join('\n')).mode).toBe('v1');
    expect(detectCgroupLayout('').mode).toBe('none');
    expect(parseMountinfo(HYBRID_MOUNTINFO).at(-1)!.mountPoint).toBe('/mnt/with space');
  });

  it('parses /proc/self/limits', () => {
    const l = parseProcLimits(LIMITS);
    expect(l.get(7)).toEqual({ soft: 20000n, hard: 1048576n });
    expect(l.get(0)).toEqual({ soft: RLIM_INFINITY, hard: RLIM_INFINITY });
    expect(l.get(3)).toEqual({ soft: 8388608n, hard: RLIM_INFINITY });
    expect(l.get(13)).toEqual({ soft: 0n, hard: 0n });
    expect(l.has(2)).toBe(false);
  });
});

// --- mount options -------------------------------------------------------------------------

describe('mount options', () => {
  it('maps flags like runc', () => {
    expect(parseMountOptions(['nosuid', 'noexec', 'nodev', 'ro']).flags).toBe(MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY);
    expect(parseMountOptions(['ro', 'rw', 'suid', 'nosuid', 'exec']).flags).toBe(MS.NOSUID);
    expect(parseMountOptions(['noatime', 'atime', 'strictatime', 'nostrictatime', 'relatime']).flags).toBe(MS.RELATIME);
    const p = parseMountOptions(['rbind', 'rslave', 'mode=755', 'tmpcopyup', 'size=1m', 'defaults', 'private']);
    expect(p).toMatchObject({ flags: MS.BIND | MS.REC, bind: true, recursive: true, data: ['mode=755', 'size=1m'], propagation: [MS.SLAVE | MS.REC, MS.PRIVATE] });
    expect(parseMountOptions(['rro']).unsupported).toEqual(['rro']);
  });
});

// --- create plans --------------------------------------------------------------------------

describe('buildInitConfig', () => {
  it('starts with the version and create mode and carries the context', () => {
    const { payload } = buildInitConfig(spec(), ctx({ noPivot: true }));
    const d = decode(payload);
    expect(d.records[0]!.tag).toBe(ConfigTag.VERSION);
    expect(readU32(d.records[0]!.value)).toBe(1);
    expect(d.records[1]!.tag).toBe(ConfigTag.MODE);
    expect(readU32(d.records[1]!.value)).toBe(0);
    expect(readStr(d.one(ConfigTag.ROOTFS))).toBe('/bundle/rootfs');
    expect(readU32(d.one(ConfigTag.NO_PIVOT))).toBe(1);
    expect(readStr(d.one(ConfigTag.START_FIFO))).toBe('/run/berth/c1/exec.fifo');
    expect(readU32Array(d.one(ConfigTag.STDIO_FDS))).toEqual([0, 1, 2]);
    expect(d.all(ConfigTag.CGROUP_PROCS).map(readStr)).toEqual(['/sys/fs/cgroup/pids/berth/c1/cgroup.procs']);
    expect(readU32(d.one(ConfigTag.SETSID))).toBe(1);
    expect(d.all(ConfigTag.ARG).map(readStr)).toEqual(['sh']);
    expect(d.all(ConfigTag.ENV).map(readStr)).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    expect(readStr(d.one(ConfigTag.CWD))).toBe('/');
    expect(readU32(d.one(ConfigTag.UID))).toBe(0);
    expect(readU32Array(d.one(ConfigTag.ADDITIONAL_GIDS))).toEqual([]);
    expect(readU32(d.one(ConfigTag.NO_NEW_PRIVILEGES))).toBe(1);
    expect(readStr(d.one(ConfigTag.HOSTNAME))).toBe('berth');
    expect(readU64(d.one(ConfigTag.ROOTFS_PROPAGATION))).toBe(BigInt(MS.SLAVE | MS.REC));
    expect(readU32(d.one(ConfigTag.READONLY_ROOTFS))).toBe(0);
    expect(d.all(ConfigTag.UMASK)).toHaveLength(0);
    expect(d.all(ConfigTag.OOM_SCORE_ADJ)).toHaveLength(0);
    expect(d.all(ConfigTag.UID_MAP)).toHaveLength(0);
  });

  it('sets new namespace flags and joins namespaces with paths, user first', () => {
    const sp = spec((x) => {
      x.linux!.namespaces = [
        { type: 'pid' }, { type: 'network', path: '/run/netns/n1' }, { type: 'mount' }, { type: 'ipc', path: '/proc/9/ns/ipc' },
        { type: 'uts' }, { type: 'cgroup' }, { type: 'time' }, { type: 'user', path: '/proc/9/ns/user' },
      ];
    });
    const d = decode(buildInitConfig(sp, ctx()).payload);
    expect(readU64(d.one(ConfigTag.NEW_NAMESPACES))).toBe(BigInt(CLONE.NEWPID | CLONE.NEWNS | CLONE.NEWUTS | CLONE.NEWCGROUP | CLONE.NEWTIME));
    expect(d.nested(ConfigTag.JOIN_NAMESPACE).map((f) => [u32(f, NsTag.TYPE), s(f, NsTag.PATH)])).toEqual([
      [CLONE.NEWUSER, '/proc/9/ns/user'],
      [CLONE.NEWIPC, '/proc/9/ns/ipc'],
      [CLONE.NEWNET, '/run/netns/n1'],
    ]);
  });

  it('writes id maps for a new user namespace, and binds devices instead of mknod', () => {
    const maps = [{ containerID: 0, hostID: 100000, size: 65536 }, { containerID: 65536, hostID: 300000, size: 10 }];
    const sp = spec((x) => {
      x.linux!.namespaces!.push({ type: 'user' });
      x.linux!.uidMappings = maps;
      x.linux!.gidMappings = [maps[0]!];
    });
    const d = decode(buildInitConfig(sp, ctx()).payload);
    expect(readU64(d.one(ConfigTag.NEW_NAMESPACES)) & BigInt(CLONE.NEWUSER)).toBe(BigInt(CLONE.NEWUSER));
    expect(readStr(d.one(ConfigTag.UID_MAP))).toBe('0 100000 65536\n65536 300000 10\n');
    expect(readStr(d.one(ConfigTag.GID_MAP))).toBe('0 100000 65536\n');
    expect(readU32(d.one(ConfigTag.SETGROUPS_DENY))).toBe(0); // root writes gid_map itself: no deny (runc: rootless only)
    expect(d.nested(ConfigTag.DEVICE).every((f) => u32(f, DeviceTag.BIND) === 1)).toBe(true);

    const rootless = decode(buildInitConfig(sp, ctx({ hostFacts: facts({ euid: 1000 }) })).payload);
    expect(readU32(rootless.one(ConfigTag.SETGROUPS_DENY))).toBe(1);
    expect(rootless.all(ConfigTag.ADDITIONAL_GIDS)).toHaveLength(0);
    sp.process!.user.additionalGids = [10];
    expect(() => buildInitConfig(sp, ctx({ hostFacts: facts({ euid: 1000 }) }))).toThrow(/process\.user\.additionalGids/);
  });

  it('writes time offsets for a new time namespace', () => {
    const sp = spec((x) => {
      x.linux!.namespaces!.push({ type: 'time' });
      x.linux!.timeOffsets = { boottime: { secs: -3 }, monotonic: { secs: 172800, nanosecs: 5 } };
    });
    expect(readStr(decode(buildInitConfig(sp, ctx()).payload).one(ConfigTag.TIME_OFFSETS))).toBe('monotonic 172800 5\nboottime -3 0\n');
  });

  it('turns mount options into flags and data', () => {
    const { payload } = buildInitConfig(spec(), ctx());
    expect(mountAt(payload, '/proc')).toEqual({ source: 'proc', target: '/proc', fstype: 'proc', flags: 0n, propagation: undefined, data: undefined, remount: undefined });
    expect(mountAt(payload, '/sys')).toMatchObject({ fstype: 'sysfs', flags: BigInt(MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY) });
    expect(mountAt(payload, '/sys').flags).toBe(0xfn);
    expect(mountAt(payload, '/dev')).toMatchObject({ fstype: 'tmpfs', source: 'tmpfs', flags: BigInt(MS.NOSUID | MS.STRICTATIME), data: 'mode=755,size=65536k' });
    expect(mountAt(payload, '/dev/pts')).toMatchObject({ flags: BigInt(MS.NOSUID | MS.NOEXEC), data: 'newinstance,ptmxmode=0666,mode=0620,gid=5' });
    expect(mountAt(payload, '/dev/shm')).toMatchObject({ source: 'shm', data: 'mode=1777,size=65536k' });
  });

  it('plans binds: MS_BIND(|MS_REC), the rest as remount flags, sources against the bundle', () => {
    const sp = spec((x) => {
      x.mounts!.push(
        { destination: '/data', type: 'bind', source: 'data', options: ['rbind', 'ro', 'nosuid', 'nodev'] },
        { destination: '/plain', type: 'none', source: '/srv/plain', options: ['bind'] },
        { destination: '/prop/', source: '/srv/p', options: ['rbind', 'rprivate', 'mode=1'] },
      );
    });
    const { payload } = buildInitConfig(sp, ctx());
    expect(mountAt(payload, '/data')).toEqual({
      source: '/bundle/data', target: '/data', fstype: 'bind', flags: BigInt(MS.BIND | MS.REC),
      remount: BigInt(MS.RDONLY | MS.NOSUID | MS.NODEV), propagation: undefined, data: undefined,
    });
    expect(mountAt(payload, '/plain')).toMatchObject({ source: '/srv/plain', flags: BigInt(MS.BIND), remount: undefined });
    expect(mountAt(payload, '/prop')).toMatchObject({ flags: BigInt(MS.BIND | MS.REC), propagation: BigInt(MS.PRIVATE | MS.REC), data: undefined });
  });

  it('mounts a read-only tmpfs writable and makes it read-only late', () => {
    const sp = spec((x) => { x.mounts!.push({ destination: '/ro', type: 'tmpfs', source: 'tmpfs', options: ['ro', 'nosuid'] }); });
    const { payload } = buildInitConfig(sp, ctx());
    expect(mountAt(payload, '/ro').flags).toBe(BigInt(MS.NOSUID));
    expect(decode(payload).all(ConfigTag.READONLY_PATH).map(readStr).at(-1)).toBe('/ro');
  });

  it('expands a cgroup mount for a hybrid host', () => {
    const { payload } = buildInitConfig(spec(), ctx());
    const cg = mounts(payload).filter((m) => m.target!.startsWith('/sys/fs/cgroup'));
    const base = MS.NOSUID | MS.NODEV | MS.NOEXEC;
    const ro = BigInt(base | MS.RELATIME | MS.RDONLY);
    expect(cg).toEqual([
      { source: 'tmpfs', target: '/sys/fs/cgroup', fstype: 'tmpfs', flags: BigInt(base), data: 'mode=755', propagation: undefined, remount: undefined },
      { source: 'cgroup', target: '/sys/fs/cgroup/cpu,cpuacct', fstype: 'cgroup', flags: ro, data: 'cpu,cpuacct', propagation: undefined, remount: undefined },
      { source: 'cgroup', target: '/sys/fs/cgroup/cpuset', fstype: 'cgroup', flags: ro, data: 'cpuset', propagation: undefined, remount: undefined },
      { source: 'cgroup', target: '/sys/fs/cgroup/memory', fstype: 'cgroup', flags: ro, data: 'memory', propagation: undefined, remount: undefined },
      { source: 'cgroup', target: '/sys/fs/cgroup/net_cls,net_prio', fstype: 'cgroup', flags: ro, data: 'net_cls,net_prio', propagation: undefined, remount: undefined },
      { source: 'cgroup', target: '/sys/fs/cgroup/pids', fstype: 'cgroup', flags: ro, data: 'pids', propagation: undefined, remount: undefined },
      { source: 'cgroup', target: '/sys/fs/cgroup/systemd', fstype: 'cgroup', flags: ro, data: 'name=systemd', propagation: undefined, remount: undefined },
      { source: 'cgroup2', target: '/sys/fs/cgroup/unified', fstype: 'cgroup2', flags: ro, data: undefined, propagation: undefined, remount: undefined },
    ]);
    const d = decode(payload);
    const links = d.nested(ConfigTag.SYMLINK).map((f) => [s(f, SymlinkTag.PATH), s(f, SymlinkTag.TARGET)]);
    expect(links).toEqual(expect.arrayContaining([
      ['/sys/fs/cgroup/cpu', 'cpu,cpuacct'], ['/sys/fs/cgroup/cpuacct', 'cpu,cpuacct'],
      ['/sys/fs/cgroup/net_cls', 'net_cls,net_prio'], ['/sys/fs/cgroup/net_prio', 'net_cls,net_prio'],
    ]));
    expect(d.all(ConfigTag.READONLY_PATH).map(readStr)).toEqual(['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger', '/sys/fs/cgroup']);
  });

  it('mounts one cgroup2 on a v2 host, and binds host hierarchies in a user namespace without cgroupns', () => {
    const v2 = buildInitConfig(spec(), ctx({ hostFacts: facts({ mountinfo: V2_MOUNTINFO }) })).payload;
    const cg = mounts(v2).filter((m) => m.target!.startsWith('/sys/fs/cgroup'));
    expect(cg).toEqual([{ source: 'cgroup2', target: '/sys/fs/cgroup', fstype: 'cgroup2', flags: BigInt(MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RELATIME | MS.RDONLY), data: undefined, propagation: undefined, remount: undefined }]);

    const sp = spec((x) => {
      x.linux!.namespaces!.push({ type: 'user' });
      x.linux!.uidMappings = x.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    });
    const memory = mountAt(buildInitConfig(sp, ctx()).payload, '/sys/fs/cgroup/memory');
    expect(memory).toMatchObject({ source: '/sys/fs/cgroup/memory', fstype: 'bind', flags: BigInt(MS.BIND | MS.REC) });
    expect(memory.remount! & BigInt(MS.RDONLY)).toBe(BigInt(MS.RDONLY));
  });

  it('creates the default devices, spec devices winning, and runc\'s /dev symlinks', () => {
    const sp = spec((x) => {
      x.linux!.devices = [
        { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o600, uid: 5 },
        { path: '/dev/fuse', type: 'u', major: 10, minor: 229 },
        { path: '/dev/ptmx', type: 'c', major: 5, minor: 2 },
      ];
    });
    const d = decode(buildInitConfig(sp, ctx()).payload);
    const devs = d.nested(ConfigTag.DEVICE).map((f) => ({
      path: s(f, DeviceTag.PATH), type: String.fromCharCode(u32(f, DeviceTag.TYPE)!), major: u64(f, DeviceTag.MAJOR), minor: u64(f, DeviceTag.MINOR),
      mode: u32(f, DeviceTag.MODE), uid: u32(f, DeviceTag.UID), gid: u32(f, DeviceTag.GID), bind: u32(f, DeviceTag.BIND),
    }));
    expect(devs.map((x) => x.path)).toEqual(['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/fuse']);
    expect(devs[0]).toEqual({ path: '/dev/null', type: 'c', major: 1n, minor: 3n, mode: 0o600, uid: 5, gid: 0, bind: 0 });
    expect(devs[5]).toEqual({ path: '/dev/tty', type: 'c', major: 5n, minor: 0n, mode: 0o666, uid: 0, gid: 0, bind: 0 });
    expect(devs[6]).toMatchObject({ type: 'c', major: 10n, minor: 229n, mode: 0o666 });
    const links = d.nested(ConfigTag.SYMLINK).map((f) => [s(f, SymlinkTag.PATH), s(f, SymlinkTag.TARGET)]);
    expect(links).toEqual(expect.arrayContaining([
      ['/dev/fd', '/proc/self/fd'], ['/dev/stdin', '/proc/self/fd/0'], ['/dev/stdout', '/proc/self/fd/1'], ['/dev/stderr', '/proc/self/fd/2'],
      ['/dev/core', '/proc/kcore'], ['/dev/ptmx', 'pts/ptmx'],
    ]));

    const noKcoreNoPts = spec((x) => { x.mounts = x.mounts!.filter((m) => m.destination !== '/dev/pts'); });
    const d2 = decode(buildInitConfig(noKcoreNoPts, ctx({ hostFacts: facts({ hasKcore: false }) })).payload);
    const paths = d2.nested(ConfigTag.SYMLINK).map((f) => s(f, SymlinkTag.PATH));
    expect(paths).not.toContain('/dev/core');
    expect(paths).not.toContain('/dev/ptmx');

    const devBind = spec((x) => { x.mounts = [{ destination: '/dev', type: 'bind', source: '/dev', options: ['rbind'] }]; });
    const d3 = decode(buildInitConfig(devBind, ctx()).payload);
    expect(d3.all(ConfigTag.DEVICE)).toHaveLength(0);
    expect(d3.all(ConfigTag.SYMLINK)).toHaveLength(0);
  });

  it('encodes capability masks, dropping what the host cannot grant', () => {
    const d = decode(buildInitConfig(spec(), ctx()).payload);
    const [bounding, effective, inheritable, permitted, ambient] = readU64Array(d.one(ConfigTag.CAPABILITIES));
    const def = (1n << 29n) | (1n << 5n) | (1n << 10n);
    expect([bounding, effective, inheritable, permitted, ambient]).toEqual([def, def, 0n, def, 0n]);

    const sp = spec((x) => {
      x.process!.capabilities = {
        bounding: ['CAP_SYS_ADMIN', 'CAP_SYS_RESOURCE', 'CAP_CHECKPOINT_RESTORE'],
        permitted: ['CAP_SYS_ADMIN', 'CAP_CHOWN'],
        inheritable: ['CAP_CHOWN'],
        ambient: ['CAP_CHOWN', 'CAP_SYS_ADMIN'],
      };
    });
    const built = buildInitConfig(sp, ctx());
    const caps = readU64Array(decode(built.payload).one(ConfigTag.CAPABILITIES));
    expect(caps).toEqual([(1n << 21n) | (1n << 40n), 0n, 1n, (1n << 21n) | 1n, 1n]);
    expect(built.warnings.join('\n')).toMatch(/CAP_SYS_RESOURCE/);
    expect(built.warnings.join('\n')).toMatch(/ambient: dropped CAP_SYS_ADMIN/);

    delete sp.process!.capabilities;
    expect(readU64Array(decode(buildInitConfig(sp, ctx()).payload).one(ConfigTag.CAPABILITIES))).toEqual([0n, 0n, 0n, 0n, 0n]);
  });

  it('sets rlimits, refusing (strict) or clamping a hard limit above the host\'s', () => {
    const rl = (payload: Buffer): Array<[number, bigint, bigint]> =>
      decode(payload).nested(ConfigTag.RLIMIT).map((f) => [u32(f, RlimitTag.RESOURCE)!, u64(f, RlimitTag.SOFT)!, u64(f, RlimitTag.HARD)!]);
    expect(rl(buildInitConfig(spec(), ctx()).payload)).toEqual([[7, 1024n, 1024n]]);

    const big = spec((x) => { x.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2000000, hard: 2000000 }, { type: 'RLIMIT_CORE', soft: 0, hard: 2 ** 64 }]; });
    let err: unknown;
    try {
      buildInitConfig(big, ctx());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('EINVALIDSPEC');
    expect((err as ConfigError).message).toBe(
      "process.rlimits[0] (RLIMIT_NOFILE): hard limit 2000000 exceeds the host's hard limit 1048576, and raising it needs CAP_SYS_RESOURCE",
    );

    const clamped = buildInitConfig(big, ctx({ rlimitPolicy: 'clamp' }));
    expect(rl(clamped.payload)).toEqual([[7, 1048576n, 1048576n], [4, 0n, RLIM_INFINITY]]);
    expect(clamped.warnings.join()).toMatch(/RLIMIT_NOFILE: lowered/);

    // With CAP_SYS_RESOURCE the host limit binds no more, but fs.nr_open still does.
    const capable = facts({ status: STATUS_ALL, nrOpen: '1073741816\n' });
    expect(rl(buildInitConfig(big, ctx({ hostFacts: capable })).payload)[0]).toEqual([7, 2000000n, 2000000n]);
    const huge = spec((x) => { x.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2 ** 31 }]; });
    expect(() => buildInitConfig(huge, ctx({ hostFacts: capable }))).toThrow(/fs\.nr_open/);
  });

  it('carries user, umask, oom score, sysctl, masked paths and rootfs settings', () => {
    const sp = spec((x) => {
      x.process!.user = { uid: 1000, gid: 1001, umask: 0o027, additionalGids: [4, 27] };
      x.process!.oomScoreAdj = -500;
      x.process!.args = ['/bin/echo', 'a b'];
      x.linux!.sysctl = { 'net.ipv4.ip_forward': '1' };
      x.linux!.rootfsPropagation = 'rprivate';
      x.root!.readonly = true;
      x.domainname = 'example.org';
    });
    const d = decode(buildInitConfig(sp, ctx({ setsid: false, preserveFds: 2 })).payload);
    expect(readU32(d.one(ConfigTag.UID))).toBe(1000);
    expect(readU32(d.one(ConfigTag.GID))).toBe(1001);
    expect(readU32Array(d.one(ConfigTag.ADDITIONAL_GIDS))).toEqual([4, 27]);
    expect(readU32(d.one(ConfigTag.UMASK))).toBe(0o027);
    expect(readI32(d.one(ConfigTag.OOM_SCORE_ADJ))).toBe(-500);
    expect(d.all(ConfigTag.ARG).map(readStr)).toEqual(['/bin/echo', 'a b']);
    expect(d.nested(ConfigTag.SYSCTL).map((f) => [s(f, SysctlTag.KEY), s(f, SysctlTag.VALUE)])).toEqual([['net.ipv4.ip_forward', '1']]);
    expect(d.all(ConfigTag.MASKED_PATH).map(readStr)).toContain('/proc/kcore');
    expect(readU64(d.one(ConfigTag.ROOTFS_PROPAGATION))).toBe(BigInt(MS.PRIVATE | MS.REC));
    expect(readU32(d.one(ConfigTag.READONLY_ROOTFS))).toBe(1);
    expect(readStr(d.one(ConfigTag.DOMAINNAME))).toBe('example.org');
    expect(readU32(d.one(ConfigTag.SETSID))).toBe(0);
    expect(readU32(d.one(ConfigTag.EXEC_FD_PASSTHROUGH))).toBe(2);
  });
});

// --- exec plans ----------------------------------------------------------------------------

describe('buildExecConfig', () => {
  it('joins the container\'s namespaces through /proc, user first and mount last', () => {
    const proc = defaultSpec().process!;
    proc.args = ['ps', 'aux'];
    const built = buildExecConfig(proc, {
      initPid: 4242,
      namespaces: ['pid', 'network', 'mount', 'ipc', 'uts', 'cgroup', 'user'],
      stdioTargets: [1, 2],
      cgroupProcs: [],
      hostFacts: facts(),
    });
    const d = decode(built.payload);
    expect(readU32(d.records[0]!.value)).toBe(1);
    expect(readU32(d.one(ConfigTag.MODE))).toBe(1);
    expect(d.nested(ConfigTag.JOIN_NAMESPACE).map((f) => [u32(f, NsTag.TYPE), s(f, NsTag.PATH)])).toEqual([
      [CLONE.NEWUSER, '/proc/4242/ns/user'],
      [CLONE.NEWIPC, '/proc/4242/ns/ipc'],
      [CLONE.NEWUTS, '/proc/4242/ns/uts'],
      [CLONE.NEWNET, '/proc/4242/ns/net'],
      [CLONE.NEWPID, '/proc/4242/ns/pid'],
      [CLONE.NEWCGROUP, '/proc/4242/ns/cgroup'],
      [CLONE.NEWNS, '/proc/4242/ns/mnt'],
    ]);
    for (const tag of [ConfigTag.NEW_NAMESPACES, ConfigTag.ROOTFS, ConfigTag.MOUNT, ConfigTag.DEVICE, ConfigTag.SYMLINK, ConfigTag.START_FIFO]) {
      expect(d.all(tag), `tag ${tag}`).toHaveLength(0);
    }
    expect(d.all(ConfigTag.ARG).map(readStr)).toEqual(['ps', 'aux']);
    expect(readU32Array(d.one(ConfigTag.STDIO_FDS))).toEqual([1, 2]);
    expect(d.nested(ConfigTag.RLIMIT)).toHaveLength(1);
  });

  it('validates the process', () => {
    const proc = { ...defaultSpec().process!, args: [] };
    expect(() => buildExecConfig(proc, { initPid: 1, namespaces: [], stdioTargets: [], cgroupProcs: [], hostFacts: facts() })).toThrow(/process\.args/);
  });
});
