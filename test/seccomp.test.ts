// linux.seccomp: the compiler checked by running its BPF in a small interpreter (exhaustive
// 64-bit comparisons, arches, rule precedence, long jumps), the protocol record, and real
// containers under real filters.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, UnsupportedError } from '../src/errors.js';
import { Container, defaultSeccomp, DOCKER_DEFAULT_CAPABILITIES } from '../src/index.js';
import { ConfigTag, decodeRecords, Stage, stageName } from '../src/native/protocol.js';
import { buildExecConfig, buildInitConfig } from '../src/runtime/plan.js';
import { ABI_I386, ABI_X32, ABI_X86_64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, BPF, BPF_MAXINSNS, compileSeccomp, encodeSeccomp, SECCOMP_RET, type SockFilter } from '../src/runtime/seccomp/index.js';
import { X86_64_SYSCALLS } from '../src/runtime/seccomp/syscall-table.js';
import { defaultSpec, type LinuxSeccomp, type LinuxSyscall } from '../src/runtime/spec.js';
import { collect, run, shSpec, workspace, type Workspace } from './support.js';

// --- a classic BPF interpreter, as the kernel runs seccomp filters ---------------------------

interface Input {
  nr: number;
  arch?: number;
  args?: Array<bigint | number>;
}

/** Runs `prog` over one `struct seccomp_data`; checks every jump is forward and in bounds. */
function evaluate(prog: readonly SockFilter[], input: Input): number {
  const data = Buffer.alloc(64);
  data.writeUInt32LE(input.nr >>> 0, 0);
  data.writeUInt32LE((input.arch ?? AUDIT_ARCH_X86_64) >>> 0, 4);
  (input.args ?? []).forEach((a, i) => data.writeBigUInt64LE(BigInt(a), 16 + 8 * i));
  let A = 0;
  let pc = 0;
  for (let steps = 0; steps <= prog.length; steps++) {
    const ins = prog[pc];
    if (!ins) throw new Error(`pc ${pc} out of the program (${prog.length})`);
    const cond = (ok: boolean): number => pc + 1 + (ok ? ins.jt : ins.jf);
    switch (ins.code) {
      case BPF.LD_ABS:
        if (ins.k % 4 !== 0 || ins.k > 60) throw new Error(`bad load offset ${ins.k}`);
        A = data.readUInt32LE(ins.k);
        pc++;
        break;
      case BPF.AND_K:
        A = (A & ins.k) >>> 0;
        pc++;
        break;
      case BPF.JA:
        pc += 1 + ins.k;
        break;
      case BPF.JEQ_K:
        pc = cond(A === ins.k);
        break;
      case BPF.JGT_K:
        pc = cond(A > ins.k);
        break;
      case BPF.JGE_K:
        pc = cond(A >= ins.k);
        break;
      case BPF.RET_K:
        return ins.k >>> 0;
      default:
        throw new Error(`unknown opcode ${ins.code} at ${pc}`);
    }
  }
  throw new Error('no return');
}

function compile(profile: LinuxSeccomp): SockFilter[] {
  return compileSeccomp(profile)!.program;
}

const ALLOW = SECCOMP_RET.ALLOW;
const errno = (n: number): number => SECCOMP_RET.ERRNO | n;
const nr64 = (name: string): number => ABI_X86_64.syscalls.get(name)!;
const EPERM = 1;
const ENOSYS = 38;

// --- the compiler --------------------------------------------------------------------------

describe('seccomp compiler', () => {
  it('returns the rule action for listed syscalls and the default for the rest, per arch', () => {
    const prog = compile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] });
    expect(evaluate(prog, { nr: nr64('mkdir') })).toBe(errno(EPERM));
    expect(evaluate(prog, { nr: nr64('mkdirat') })).toBe(errno(EPERM));
    for (const name of ['read', 'write', 'execve', 'exit_group', 'rmdir']) expect(evaluate(prog, { nr: nr64(name) })).toBe(ALLOW);
    expect(evaluate(prog, { nr: 0x3fff_ffff })).toBe(ALLOW);
    // -1 (a tracer skipping the call): the default action, as libseccomp.
    expect(evaluate(prog, { nr: -1 })).toBe(ALLOW);
    // i386, x32 and foreign arches are not listed: killed.
    expect(evaluate(prog, { nr: ABI_I386.syscalls.get('mkdir')!, arch: AUDIT_ARCH_I386 })).toBe(SECCOMP_RET.KILL_PROCESS);
    expect(evaluate(prog, { nr: ABI_X32.syscalls.get('read')! })).toBe(SECCOMP_RET.KILL_PROCESS);
    expect(evaluate(prog, { nr: 0, arch: 0xc00000b7 /* AUDIT_ARCH_AARCH64 */ })).toBe(SECCOMP_RET.KILL_PROCESS);
  });

  it('filters i386 and x32 with their own numbers when listed', () => {
    const prog = compile({
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64'],
      syscalls: [{ names: ['read', 'execve'], action: 'SCMP_ACT_ALLOW' }],
    });
    for (const abi of [ABI_X86_64, ABI_I386, ABI_X32]) {
      for (const name of ['read', 'execve']) expect(evaluate(prog, { nr: abi.syscalls.get(name)!, arch: abi.auditArch })).toBe(ALLOW);
      expect(evaluate(prog, { nr: abi.syscalls.get('mkdir')!, arch: abi.auditArch })).toBe(errno(EPERM));
    }
    // i386 execve is 11, which is x86_64's munmap: numbers never leak between ABIs.
    expect(evaluate(prog, { nr: 11 })).toBe(errno(EPERM));
    expect(evaluate(prog, { nr: 0x4000_0000 + 59 })).toBe(errno(EPERM)); // x32 has execve at 520, not 59
    expect(evaluate(prog, { nr: ABI_X32.syscalls.get('execve')! })).toBe(ALLOW);
  });

  it('honours errnoRet, defaultErrnoRet, every action and the flags', () => {
    const c = compileSeccomp({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: ENOSYS,
      flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
      syscalls: [
        { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
        { names: ['read'], action: 'SCMP_ACT_ALLOW' },
        { names: ['write'], action: 'SCMP_ACT_LOG' },
        { names: ['open'], action: 'SCMP_ACT_TRAP' },
        { names: ['close'], action: 'SCMP_ACT_TRACE', errnoRet: 7 },
        { names: ['stat'], action: 'SCMP_ACT_TRACE' },
        { names: ['fstat'], action: 'SCMP_ACT_KILL' },
        { names: ['lstat'], action: 'SCMP_ACT_KILL_THREAD' },
        { names: ['poll'], action: 'SCMP_ACT_KILL_PROCESS' },
      ],
    })!;
    expect(c.flags).toBe(7);
    const at = (n: string): number => evaluate(c.program, { nr: nr64(n) });
    expect(at('mkdir')).toBe(errno(13));
    expect(at('rmdir')).toBe(errno(ENOSYS));
    expect(at('read')).toBe(ALLOW);
    expect(at('write')).toBe(SECCOMP_RET.LOG);
    expect(at('open')).toBe(SECCOMP_RET.TRAP);
    expect(at('close')).toBe(SECCOMP_RET.TRACE | 7);
    expect(at('stat')).toBe(SECCOMP_RET.TRACE | EPERM);
    expect(at('fstat')).toBe(SECCOMP_RET.KILL_THREAD);
    expect(at('lstat')).toBe(SECCOMP_RET.KILL_THREAD);
    expect(at('poll')).toBe(SECCOMP_RET.KILL_PROCESS);
    const bytes = encodeSeccomp(c);
    expect(bytes.length).toBe(4 + 8 * c.program.length);
    expect(bytes.readUInt32LE(0)).toBe(7);
    expect(bytes.readUInt16LE(4)).toBe(BPF.LD_ABS);
  });

  // Exhaustive 64-bit comparisons: every operator against values around both 32-bit halves.
  const EDGES = [0n, 1n, 2n, 0x7fff_ffffn, 0x8000_0000n, 0xffff_fffen, 0xffff_ffffn, 0x1_0000_0000n, 0x1_0000_0001n, 0x1_ffff_ffffn,
    0x7fff_ffff_ffff_ffffn, 0x8000_0000_0000_0000n, 0xffff_ffff_0000_0000n, 0xffff_ffff_ffff_fffen, 0xffff_ffff_ffff_ffffn];
  const M64 = 0xffff_ffff_ffff_ffffn;
  const holds = (op: string, a: bigint, v: bigint, v2: bigint): boolean => {
    switch (op) {
      case 'SCMP_CMP_EQ': return a === v;
      case 'SCMP_CMP_NE': return a !== v;
      case 'SCMP_CMP_LT': return a < v;
      case 'SCMP_CMP_LE': return a <= v;
      case 'SCMP_CMP_GT': return a > v;
      case 'SCMP_CMP_GE': return a >= v;
      case 'SCMP_CMP_MASKED_EQ': return (a & v) === v2;
      default: throw new Error(op);
    }
  };
  const args = (v: bigint): bigint[] => [...new Set([...EDGES, (v + 1n) & M64, (v - 1n) & M64, v ^ 0x1_0000_0000n, v ^ 1n])];

  for (const op of ['SCMP_CMP_EQ', 'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_GT', 'SCMP_CMP_GE']) {
    it(`compares all 64 bits with ${op} on x86_64, the low 32 on i386`, () => {
      for (const v of EDGES) {
        const prog = compile({
          defaultAction: 'SCMP_ACT_ALLOW',
          architectures: ['SCMP_ARCH_X86'],
          syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 5, args: [{ index: 3, value: v, op }] }],
        });
        for (const a of args(v)) {
          const wide = evaluate(prog, { nr: nr64('personality'), args: [0, 0, 0, a] });
          expect(wide, `x86_64 ${op} arg=${a.toString(16)} value=${v.toString(16)}`).toBe(holds(op, a, v, 0n) ? errno(5) : ALLOW);
          const narrow = evaluate(prog, { nr: ABI_I386.syscalls.get('personality')!, arch: AUDIT_ARCH_I386, args: [0, 0, 0, a & 0xffff_ffffn] });
          expect(narrow, `i386 ${op}`).toBe(holds(op, a & 0xffff_ffffn, v & 0xffff_ffffn, 0n) ? errno(5) : ALLOW);
        }
      }
    });
  }

  it('compares with SCMP_CMP_MASKED_EQ ((arg & value) == valueTwo) on both halves', () => {
    const masks = [0n, 0xffn, 0x7e02_0000n, 0xffff_ffff_0000_0000n, 0x8000_0000_0000_0001n, M64];
    for (const mask of masks) {
      for (const datum of [0n, 1n, 0x2_0000n, 0x8000_0000_0000_0000n, mask]) {
        const prog = compile({
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [{ names: ['clone'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: mask, valueTwo: datum, op: 'SCMP_CMP_MASKED_EQ' }] }],
        });
        for (const a of [...EDGES, 0x2_0011n, 0x1000_0000n, 0x8000_0000_0000_0001n]) {
          expect(evaluate(prog, { nr: nr64('clone'), args: [a] })).toBe(holds('SCMP_CMP_MASKED_EQ', a, mask, datum) ? errno(EPERM) : ALLOW);
        }
      }
    }
  });

  it('ANDs conditions on distinct args, ORs repeated indexes (runc), first unconditional rule wins', () => {
    const prog = compile({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { names: ['socket'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 2, op: 'SCMP_CMP_EQ' }, { index: 1, value: 1, op: 'SCMP_CMP_EQ' }] },
        { names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }, { index: 0, value: 0xffff_ffff, op: 'SCMP_CMP_EQ' }] },
        { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 3, args: [{ index: 1, value: 0, op: 'SCMP_CMP_EQ' }] },
        { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 4 },
        { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 5 },
        { names: ['mkdir'], action: 'SCMP_ACT_ALLOW' }, // same as the default: skipped
      ],
    });
    const sock = (a0: number, a1: number): number => evaluate(prog, { nr: nr64('socket'), args: [a0, a1] });
    expect(sock(2, 1)).toBe(errno(EPERM));
    expect(sock(2, 2)).toBe(ALLOW);
    expect(sock(1, 1)).toBe(ALLOW);
    const pers = (a0: bigint): number => evaluate(prog, { nr: nr64('personality'), args: [a0] });
    expect(pers(8n)).toBe(errno(EPERM));
    expect(pers(0xffff_ffffn)).toBe(errno(EPERM));
    expect(pers(0n)).toBe(ALLOW);
    expect(pers(0x1_ffff_ffffn)).toBe(ALLOW);
    expect(evaluate(prog, { nr: nr64('kill'), args: [1, 0] })).toBe(errno(4));
    expect(evaluate(prog, { nr: nr64('kill'), args: [1, 9] })).toBe(errno(4));
  });

  it('skips syscall names this kernel does not have, and conditional rules go in profile order', () => {
    const prog = compile({
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['no_such_syscall', 'socketcall', 'arm_fadvise64_64', 'read'], action: 'SCMP_ACT_ALLOW' },
        { names: ['write'], action: 'SCMP_ACT_ERRNO', errnoRet: 9, args: [{ index: 0, value: 2, op: 'SCMP_CMP_GE' }] },
        { names: ['write'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_GE' }] },
      ],
    });
    expect(evaluate(prog, { nr: nr64('read') })).toBe(ALLOW);
    expect(evaluate(prog, { nr: nr64('write'), args: [0] })).toBe(errno(EPERM));
    expect(evaluate(prog, { nr: nr64('write'), args: [1] })).toBe(ALLOW);
    expect(evaluate(prog, { nr: nr64('write'), args: [2] })).toBe(errno(9));
  });

  it('lays out long programs with trampolines: every syscall with its own conditions', () => {
    const names = Object.keys(X86_64_SYSCALLS);
    const syscalls: LinuxSyscall[] = names.map((name, i) => ({
      names: [name],
      action: 'SCMP_ACT_ERRNO',
      errnoRet: (i % 4000) + 1,
      args: [{ index: i % 6, value: BigInt(i) << 32n | BigInt(i), op: 'SCMP_CMP_EQ' }],
    }));
    const prog = compile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls });
    expect(prog.length).toBeGreaterThan(2000);
    expect(prog.length).toBeLessThanOrEqual(BPF_MAXINSNS);
    expect(prog.some((ins) => ins.code === BPF.JA)).toBe(true);
    names.forEach((name, i) => {
      const a = Array<bigint>(6).fill(0n);
      a[i % 6] = BigInt(i) << 32n | BigInt(i);
      expect(evaluate(prog, { nr: nr64(name), args: a }), name).toBe(errno((i % 4000) + 1));
      a[i % 6] = BigInt(i);
      expect(evaluate(prog, { nr: nr64(name), args: a }), name).toBe(i === 0 ? errno(1) : ALLOW);
    });
  });

  it('refuses a program over 4096 instructions, naming the count', () => {
    const names = Object.keys(X86_64_SYSCALLS);
    const cond = (i: number): LinuxSyscall['args'] => [0, 1, 2].map((index) => ({ index, value: 0x1_0000_0000 + i, op: 'SCMP_CMP_NE' }));
    expect(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: names.map((n, i) => ({ names: [n], action: 'SCMP_ACT_ERRNO', args: cond(i) })) }))
      .toThrow(/^linux\.seccomp\.syscalls: the compiled filter has \d+ instructions, more than the kernel's limit of 4096$/);
  });

  it("compiles Docker's default profile (the engine's) with its argument checks, capability gates and ENOSYS for newer calls", () => {
    const plain = compile(defaultSeccomp(DOCKER_DEFAULT_CAPABILITIES));
    const admin = compile(defaultSeccomp([...DOCKER_DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']));
    const CLONE_NEWUSER = 0x1000_0000;
    const SIGCHLD = 17;
    for (const name of ['read', 'execve', 'openat2', 'io_submit', 'chroot', 'ptrace', 'fchmodat2']) expect(evaluate(plain, { nr: nr64(name) }), name).toBe(ALLOW);
    for (const name of ['unshare', 'mount', 'keyctl', 'add_key', 'userfaultfd', 'io_uring_setup', 'pivot_root', 'kexec_load', 'init_module', 'bpf', 'setns']) {
      expect(evaluate(plain, { nr: nr64(name) }), name).toBe(errno(EPERM));
      if (!['keyctl', 'add_key', 'userfaultfd', 'io_uring_setup', 'pivot_root', 'kexec_load', 'init_module'].includes(name)) expect(evaluate(admin, { nr: nr64(name) }), name).toBe(ALLOW);
    }
    // clone: only without namespace flags; clone3 (flags out of reach) ENOSYS for a libc fallback.
    expect(evaluate(plain, { nr: nr64('clone'), args: [SIGCHLD] })).toBe(ALLOW);
    expect(evaluate(plain, { nr: nr64('clone'), args: [SIGCHLD | CLONE_NEWUSER] })).toBe(errno(EPERM));
    expect(evaluate(admin, { nr: nr64('clone'), args: [SIGCHLD | CLONE_NEWUSER] })).toBe(ALLOW);
    expect(evaluate(plain, { nr: nr64('clone3') })).toBe(errno(ENOSYS));
    expect(evaluate(admin, { nr: nr64('clone3') })).toBe(ALLOW);
    // socket: every family but AF_VSOCK; personality: the harmless ones.
    expect(evaluate(plain, { nr: nr64('socket'), args: [2] })).toBe(ALLOW);
    expect(evaluate(plain, { nr: nr64('socket'), args: [40] })).toBe(errno(EPERM));
    expect(evaluate(plain, { nr: nr64('personality'), args: [0xffff_ffff] })).toBe(ALLOW);
    expect(evaluate(plain, { nr: nr64('personality'), args: [0x0040000] })).toBe(errno(EPERM)); // ADDR_NO_RANDOMIZE
    // Newer than the profile: ENOSYS, as runc answers; i386 goes through the same rules.
    for (const name of ['statmount', 'mseal', 'listns']) expect(evaluate(plain, { nr: nr64(name) }), name).toBe(errno(ENOSYS));
    expect(evaluate(plain, { nr: ABI_I386.syscalls.get('socketcall')!, arch: AUDIT_ARCH_I386 })).toBe(ALLOW);
    expect(evaluate(plain, { nr: ABI_I386.syscalls.get('unshare')!, arch: AUDIT_ARCH_I386 })).toBe(errno(EPERM));
  });

  it('compiles a Docker-sized allow-list into a small binary search', () => {
    const prog = compile(dockerLikeProfile());
    expect(prog.length).toBeLessThan(800);
    for (const name of DOCKER_DENIED) expect(evaluate(prog, { nr: nr64(name) }), name).toBe(errno(EPERM));
    for (const name of ['read', 'execve', 'openat', 'exit_group', 'rt_sigreturn']) expect(evaluate(prog, { nr: nr64(name) })).toBe(ALLOW);
    expect(evaluate(prog, { nr: nr64('clone3') })).toBe(errno(ENOSYS));
    expect(evaluate(prog, { nr: nr64('clone'), args: [0x11] })).toBe(ALLOW);
    expect(evaluate(prog, { nr: nr64('clone'), args: [0x0120_0011] /* fork() */ })).toBe(ALLOW);
    expect(evaluate(prog, { nr: nr64('clone'), args: [0x2000_0000 /* CLONE_NEWPID */] })).toBe(errno(EPERM));
    expect(evaluate(prog, { nr: nr64('personality'), args: [8] })).toBe(ALLOW);
    expect(evaluate(prog, { nr: nr64('personality'), args: [1] })).toBe(errno(EPERM));
    expect(evaluate(prog, { nr: nr64('clone'), args: [0x1000_0000 /* CLONE_NEWUSER */] })).toBe(errno(EPERM));
    expect(evaluate(prog, { nr: ABI_I386.syscalls.get('read')!, arch: AUDIT_ARCH_I386 })).toBe(ALLOW);
  });

  it('validates the object, naming the JSON path', () => {
    const bad = (profile: unknown, path: string, cls: typeof ConfigError | typeof UnsupportedError = ConfigError): void => {
      let caught: unknown;
      try {
        compileSeccomp(profile);
      } catch (err) {
        caught = err;
      }
      expect(caught, path).toBeInstanceOf(cls);
      expect((caught as ConfigError).path).toBe(path);
    };
    const ok = { defaultAction: 'SCMP_ACT_ALLOW' };
    bad({ defaultAction: 'SCMP_ACT_MAYBE' }, 'linux.seccomp.defaultAction');
    bad({ ...ok, defaultErrnoRet: 1 }, 'linux.seccomp.defaultErrnoRet');
    bad({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: -1 }, 'linux.seccomp.defaultErrnoRet');
    bad({ ...ok, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_Z80'] }, 'linux.seccomp.architectures[1]');
    bad({ ...ok, flags: ['SECCOMP_FILTER_FLAG_FAST'] }, 'linux.seccomp.flags[0]');
    bad({ ...ok, flags: ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] }, 'linux.seccomp.flags[0]', UnsupportedError);
    bad({ ...ok, listenerPath: '/run/agent' }, 'linux.seccomp.listenerPath', UnsupportedError);
    bad({ defaultAction: 'SCMP_ACT_NOTIFY' }, 'linux.seccomp.defaultAction', UnsupportedError);
    bad({ ...ok, syscalls: [{ names: [], action: 'SCMP_ACT_ERRNO' }] }, 'linux.seccomp.syscalls[0].names');
    bad({ ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_NOTIFY' }] }, 'linux.seccomp.syscalls[0].action', UnsupportedError);
    bad({ ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO' }, { names: ['read'], action: 'ERRNO' }] }, 'linux.seccomp.syscalls[1].action');
    bad({ ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_KILL', errnoRet: 1 }] }, 'linux.seccomp.syscalls[0].errnoRet');
    bad({ ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] }, 'linux.seccomp.syscalls[0].args[0].index');
    bad({ ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_LIKE' }] }] }, 'linux.seccomp.syscalls[0].args[0].op');
    bad({ ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: -1, op: 'SCMP_CMP_EQ' }] }] }, 'linux.seccomp.syscalls[0].args[0].value');
    bad({ ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 2 ** 60, op: 'SCMP_CMP_EQ' }] }] }, 'linux.seccomp.syscalls[0].args[0].value');
    bad({ ...ok, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1n << 64n, op: 'SCMP_CMP_EQ' }] }] }, 'linux.seccomp.syscalls[0].args[0].value');
    // runc: no defaultAction and no syscalls is "no seccomp".
    expect(compileSeccomp({})).toBeUndefined();
    expect(compileSeccomp(undefined)).toBeUndefined();
  });
});

describe('seccomp in the helper protocol', () => {
  const profile: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };
  const seccompRecords = (payload: Buffer): Buffer[] => decodeRecords(payload).filter((r) => r.tag === ConfigTag.SECCOMP).map((r) => r.value);

  it('create: CFG_SECCOMP (u32 flags + sock_filter[]) when the spec has linux.seccomp, last', () => {
    const spec = defaultSpec();
    spec.linux!.seccomp = { ...profile, flags: ['SECCOMP_FILTER_FLAG_LOG'] };
    const built = buildInitConfig(spec, { rootfsPath: '/x/rootfs', stdioTargets: [0, 1, 2], cgroupProcs: [] });
    const [rec, ...more] = seccompRecords(built.payload);
    expect(more).toEqual([]);
    expect(rec!.readUInt32LE(0)).toBe(2);
    expect(rec!.subarray(4)).toEqual(encodeSeccomp(built.plan.seccomp!).subarray(4));
    expect((rec!.length - 4) % 8).toBe(0);
    expect(decodeRecords(built.payload).at(-1)!.tag).toBe(ConfigTag.SECCOMP);
    expect(seccompRecords(buildInitConfig(defaultSpec(), { rootfsPath: '/x/rootfs', stdioTargets: [], cgroupProcs: [] }).payload)).toEqual([]);
  });

  it('exec: the container\'s filter comes through ctx.seccomp', () => {
    const proc = defaultSpec().process!;
    const ctx = { initPid: 42, namespaces: ['pid' as const, 'mount' as const], stdioTargets: [1], cgroupProcs: [] };
    expect(seccompRecords(buildExecConfig(proc, ctx).payload)).toEqual([]);
    const seccomp = compileSeccomp(profile)!;
    expect(seccompRecords(buildExecConfig(proc, { ...ctx, seccomp }).payload)).toEqual([encodeSeccomp(seccomp)]);
  });

  it('names the new stage, and warns when the filter must go in before the user switch', () => {
    expect(Stage.SECCOMP).toBe(30);
    expect(stageName(Stage.SECCOMP)).toBe('seccomp');
    const spec = defaultSpec();
    spec.linux!.seccomp = profile;
    const build = (): string[] => buildInitConfig(spec, { rootfsPath: '/x/rootfs', stdioTargets: [], cgroupProcs: [] }).warnings;
    expect(build()).toEqual([]);
    spec.process!.noNewPrivileges = false;
    expect(build()).toEqual([expect.stringMatching(/^linux\.seccomp: installed before the user switch/)]);
    for (const set of ['bounding', 'effective', 'permitted'] as const) spec.process!.capabilities![set]!.push('CAP_SYS_ADMIN');
    expect(build()).toEqual([]);
  });
});

// --- real containers -----------------------------------------------------------------------

/** What a privileged process needs to run busybox `true` (glibc static): strace of busybox. */
const TRUE_SYSCALLS = ['execve', 'arch_prctl', 'set_tid_address', 'set_robust_list', 'rseq', 'prlimit64', 'getrandom', 'brk', 'mprotect', 'readlink', 'getuid', 'prctl', 'exit_group'];

/** Syscalls Docker's default profile leaves out (for a container without extra capabilities). */
const DOCKER_DENIED = ['acct', 'add_key', 'bpf', 'clock_adjtime', 'clock_settime', 'create_module', 'delete_module', 'finit_module', 'fsconfig', 'fsmount',
  'fsopen', 'fspick', 'get_kernel_syms', 'init_module', 'ioperm', 'iopl', 'kcmp', 'kexec_file_load', 'kexec_load', 'keyctl', 'lookup_dcookie', 'mount',
  'mount_setattr', 'move_mount', 'name_to_handle_at', 'nfsservctl', 'open_by_handle_at', 'open_tree', 'perf_event_open', 'pivot_root', 'ptrace',
  'query_module', 'quotactl', 'quotactl_fd', 'reboot', 'request_key', 'setdomainname', 'sethostname', 'setns', 'settimeofday', 'swapoff', 'swapon',
  'syslog', 'umount2', 'unshare', 'uselib', 'userfaultfd', 'ustat', 'vhangup', '_sysctl', 'sysfs', 'afs_syscall', 'tuxcall', 'security', 'vserver',
  'getpmsg', 'putpmsg', 'lsm_set_self_attr'];

/** The shape of Docker's default profile: one big ALLOW rule, conditional clone/personality, clone3 → ENOSYS. */
function dockerLikeProfile(): LinuxSeccomp {
  const denied = new Set([...DOCKER_DENIED, 'clone', 'clone3', 'personality']);
  const allowed = Object.keys(X86_64_SYSCALLS).filter((n) => !denied.has(n));
  // Names of other arches that Docker's list carries too: skipped here.
  allowed.push('_llseek', '_newselect', 'socketcall', 'arm_fadvise64_64', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls', 's390_pci_mmio_read');
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: EPERM,
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [
      { names: allowed, action: 'SCMP_ACT_ALLOW' },
      ...[0, 8, 0x20000, 0x20008, 0xffff_ffff].map((v) => ({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: v, op: 'SCMP_CMP_EQ' }] })),
      // CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e02_0000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    ],
  };
}

describe('seccomp in real containers', () => {
  let ws: Workspace;
  beforeAll(async () => { ws = await workspace('seccomp'); });
  afterAll(async () => { await ws.cleanup(); });
  let n = 0;
  const dir = (): string => `/tmp/sc-${process.pid}-${n++}`;

  it('SCMP_ACT_ERRNO makes mkdir fail with EPERM while the rest works', async () => {
    const d = dir();
    const r = await run(ws, shSpec(`mkdir ${d}; echo rc=$?; echo hello > ${d}.f && cat ${d}.f; rm ${d}.f`, (s) => {
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] };
    }));
    expect(r.stderr).toMatch(/mkdir: can't create directory .*: Operation not permitted/);
    expect(r.stdout).toBe('rc=1\nhello\n');
    expect(r.exitCode).toBe(0);
  });

  it('a process exec\'d into the container runs under the container\'s filter', async () => {
    const spec = shSpec('sleep 100', (s) => {
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] };
    });
    const c = await Container.create({ id: ws.id('exec'), bundle: ws.dir, spec, root: ws.stateRoot });
    try {
      await c.start();
      const p = c.exec({ args: ['sh', '-c', `mkdir ${dir()} 2>/dev/null; echo rc=$?; grep Seccomp: /proc/self/status`], stdio: ['ignore', 'pipe', 'ignore'] });
      const out = await collect(p.stdout);
      expect((await p).exitCode).toBe(0);
      expect(out).toBe('rc=1\nSeccomp:\t2\n');
    } finally {
      await c.delete({ force: true });
    }
  });

  it('a filter that denies getcwd does not stop the setup (the validation suite\'s linux_seccomp)', async () => {
    const r = await run(ws, shSpec('echo ran', (s) => {
      s.process!.noNewPrivileges = false;
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getcwd'], action: 'SCMP_ACT_ERRNO' }] };
    }));
    expect(r).toMatchObject({ exitCode: 0, stdout: 'ran\n' });
  });

  it('honours errnoRet (ENOSYS) and ignores unknown syscall names', async () => {
    const r = await run(ws, shSpec(`mkdir ${dir()}`, (s) => {
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['no_such_call', 'mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS }] };
    }));
    expect(r.stderr).toMatch(/Function not implemented/);
    expect(r.exitCode).toBe(1);
  });

  it('argument conditions: kill(pid, 0) denied but other signals allowed; linux32 denied, linux64 allowed', async () => {
    const r = await run(ws, shSpec('kill -0 $$; echo zero=$?; kill -CONT $$; echo cont=$?; linux32 true; echo l32=$?; linux64 true; echo l64=$?', (s) => {
      s.linux!.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [
          { names: ['kill'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 0, op: 'SCMP_CMP_EQ' }] },
          { names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 0xffff, valueTwo: 8, op: 'SCMP_CMP_MASKED_EQ' }] },
        ],
      };
    }));
    expect(r.stdout).toBe('zero=1\ncont=0\nl32=1\nl64=0\n');
  });

  it('SCMP_CMP_MASKED_EQ on open flags: creating a file is denied, reading one is not', async () => {
    const r = await run(ws, shSpec(`test -n "$(cat /etc/passwd)"; echo read=$?; echo x > ${dir()}; echo create=$?`, (s) => {
      // openat(dirfd, path, flags): O_CREAT is 0100.
      const creat = (index: number) => [{ index, value: 0o100, valueTwo: 0o100, op: 'SCMP_CMP_MASKED_EQ' }];
      s.linux!.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['openat'], action: 'SCMP_ACT_ERRNO', args: creat(2) }, { names: ['open'], action: 'SCMP_ACT_ERRNO', args: creat(1) }],
      };
    }));
    expect(r.stdout).toBe('read=0\ncreate=1\n');
    expect(r.stderr).toMatch(/Operation not permitted/);
  });

  it('SCMP_ACT_KILL_PROCESS ends the process with SIGSYS (exit 159)', async () => {
    const spec = shSpec('', (s) => {
      s.process!.args = ['mkdir', dir()];
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_KILL_PROCESS' }] };
    });
    const r = await run(ws, spec);
    expect(r.signal).toBe('SIGSYS');
    expect(r.exitCode).toBe(159);
  });

  it('defaultAction ERRNO with a minimal allow-list runs busybox true (the filter goes in right before execve)', async () => {
    const spec = shSpec('', (s) => {
      s.process!.args = ['true'];
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: TRUE_SYSCALLS, action: 'SCMP_ACT_ALLOW' }] };
    });
    expect(spec.process!.noNewPrivileges).toBe(true);
    const r = await run(ws, spec);
    expect(r.exitCode).toBe(0);
    // Without execve allowed nothing of the user's runs.
    const denied = await run(ws, shSpec('', (s) => {
      s.process!.args = ['true'];
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: TRUE_SYSCALLS.filter((x) => x !== 'execve'), action: 'SCMP_ACT_ALLOW' }] };
    }));
    expect(denied.exitCode).not.toBe(0);
  });

  it('a Docker-shaped profile (~350 names, defaultAction ERRNO) runs sh, forks, and blocks unshare', async () => {
    const r = await run(ws, shSpec('true; ls / >/dev/null && echo forked; unshare -n true 2>/dev/null || echo unshare-denied', (s) => {
      s.linux!.seccomp = dockerLikeProfile();
    }));
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('forked\nunshare-denied\n');
    expect(r.exitCode).toBe(0);
  });

  it('without no_new_privs, as a non-root user without capabilities: installed before the user switch', async () => {
    const r = await run(ws, shSpec(`id -u; mkdir ${dir()}; echo rc=$?; cat /proc/self/status | grep -E '^(Seccomp|NoNewPrivs|CapEff):'`, (s) => {
      s.process!.noNewPrivileges = false;
      s.process!.user = { uid: 1000, gid: 1000 };
      s.process!.capabilities = {};
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 30 /* EROFS */ }] };
    }));
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(r.stdout).toMatch(/^1000\nrc=1\n/);
    expect(r.stdout).toMatch(/NoNewPrivs:\s+0/);
    expect(r.stdout).toMatch(/Seccomp:\s+2/);
    expect(r.stdout).toMatch(/CapEff:\s+0000000000000000/);
  });

  it('without no_new_privs but with CAP_SYS_ADMIN the filter still goes in last; without either it must allow the setup', async () => {
    const minimal = (caps: boolean) => shSpec('', (s) => {
      s.process!.args = ['true'];
      s.process!.noNewPrivileges = false;
      if (caps) for (const set of ['bounding', 'effective', 'permitted'] as const) s.process!.capabilities![set]!.push('CAP_SYS_ADMIN');
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: TRUE_SYSCALLS, action: 'SCMP_ACT_ALLOW' }] };
    });
    expect((await run(ws, minimal(true))).exitCode).toBe(0);
    // Early, the filter denies the helper's own setgroups/sendmsg: setup fails before the user's program.
    await expect(run(ws, minimal(false), 'early')).rejects.toMatchObject({ name: 'ContainerSetupError' });
    expect(await Container.list({ root: ws.stateRoot })).toEqual([]);
  });

  it('a bad profile fails create with a ConfigError naming the field, leaving nothing', async () => {
    const id = ws.id('bad');
    await expect(Container.create({ id, bundle: ws.dir, root: ws.stateRoot, spec: shSpec('true', (s) => {
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_BLOCK' }] };
    }) })).rejects.toMatchObject({ name: 'ConfigError', path: 'linux.seccomp.syscalls[0].action' });
    expect(await Container.list({ root: ws.stateRoot })).toEqual([]);
  });
});
