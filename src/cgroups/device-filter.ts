/**
 * The cgroup v2 device controller is an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) attached to
 * the cgroup directory. This builds it from the same rules as v1, instruction by instruction
 * (after runc's and crun's generators): the context is `struct bpf_cgroup_dev_ctx { u32
 * access_type; u32 major; u32 minor; }` with the device type in the low 16 bits of access_type
 * and the access asked for in the high 16;
 * each exception is one block that jumps to the next block when the device does not match and
 * returns its verdict when it does; the last block returns the default.
 * @module
 */
import { DeviceEmulator } from './devices.js';
import type { DeviceRule } from './validate.js';

/** One eBPF instruction: `{ u8 code; u8 dst:4, src:4; s16 off; s32 imm }`. */
export interface BpfInsn {
  /** Opcode. */
  code: number;
  /** Destination register. */
  dst: number;
  /** Source register. */
  src: number;
  /** Offset (a jump's distance, counted in instructions after this one). */
  off: number;
  /** Immediate. */
  imm: number;
}

// Opcode parts (linux/bpf_common.h, linux/bpf.h).
const BPF_LDX = 0x01, BPF_ALU = 0x04, BPF_JMP = 0x05;
const BPF_W = 0x00, BPF_MEM = 0x60;
const BPF_K = 0x00, BPF_X = 0x08;
const BPF_AND = 0x50, BPF_RSH = 0x70, BPF_MOV = 0xb0;
const BPF_JNE = 0x50, BPF_EXIT = 0x90;

/** BPF_DEVCG_DEV_* and BPF_DEVCG_ACC_* (linux/bpf.h). */
export const BPF_DEVCG = { DEV_BLOCK: 1, DEV_CHAR: 2, ACC_MKNOD: 1, ACC_READ: 2, ACC_WRITE: 4 } as const;

const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5;

const insn = (code: number, dst: number, src: number, off: number, imm: number): BpfInsn => ({ code, dst, src, off, imm });
const ldxW = (dst: number, src: number, off: number): BpfInsn => insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0);
const alu32Imm = (op: number, dst: number, imm: number): BpfInsn => insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm);
const movReg32 = (dst: number, src: number): BpfInsn => insn(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0);
const exit = (): BpfInsn => insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);

/** The access bits of `rwm` letters. */
function accessBits(access: string): number {
  return (access.includes('r') ? BPF_DEVCG.ACC_READ : 0) | (access.includes('w') ? BPF_DEVCG.ACC_WRITE : 0) | (access.includes('m') ? BPF_DEVCG.ACC_MKNOD : 0);
}

/** Builds the program for an ordered rule list (folded like v1 first, starting from deny-all). */
export function deviceFilterProgram(rules: readonly DeviceRule[], field = 'linux.resources.devices'): BpfInsn[] {
  return programFor(DeviceEmulator.fromRules(rules, field));
}

/** Builds the program for a device state. */
export function programFor(state: DeviceEmulator): BpfInsn[] {
  const prog: BpfInsn[] = [
    ldxW(R2, R1, 0), alu32Imm(BPF_AND, R2, 0xffff), // R2 = type
    ldxW(R3, R1, 0), alu32Imm(BPF_RSH, R3, 16), // R3 = access
    ldxW(R4, R1, 4), // R4 = major
    ldxW(R5, R1, 8), // R5 = minor
  ];
  for (const r of state.entries()) {
    // Jumps in this block go to the first instruction after it; fix their offsets at the end.
    const block: Array<BpfInsn & { toNext?: true }> = [];
    const jneImm = (reg: number, imm: number): void => { block.push({ ...insn(BPF_JMP | BPF_JNE | BPF_K, reg, 0, 0, imm), toNext: true }); };
    jneImm(R2, r.type === 'b' ? BPF_DEVCG.DEV_BLOCK : BPF_DEVCG.DEV_CHAR);
    const bits = accessBits(r.access);
    if (bits !== (BPF_DEVCG.ACC_READ | BPF_DEVCG.ACC_WRITE | BPF_DEVCG.ACC_MKNOD)) {
      // if ((R3 & bits) != R3) goto next: the request asks for more than the rule covers.
      block.push(movReg32(R1, R3), alu32Imm(BPF_AND, R1, bits));
      block.push({ ...insn(BPF_JMP | BPF_JNE | BPF_X, R1, R3, 0, 0), toNext: true });
    }
    if (r.major >= 0) jneImm(R4, r.major);
    if (r.minor >= 0) jneImm(R5, r.minor);
    block.push(alu32Imm(BPF_MOV, R0, state.defaultAllow ? 0 : 1), exit());
    block.forEach((b, i) => {
      const { toNext, ...plain } = b;
      prog.push(toNext ? { ...plain, off: block.length - i - 1 } : plain);
    });
  }
  prog.push(alu32Imm(BPF_MOV, R0, state.defaultAllow ? 1 : 0), exit());
  return prog;
}

/** Encodes instructions in the host's (little-endian x86/arm) byte order for BPF_PROG_LOAD. */
export function encodeProgram(prog: readonly BpfInsn[]): Buffer {
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((p, i) => {
    buf.writeUInt8(p.code, i * 8);
    buf.writeUInt8(((p.src & 0xf) << 4) | (p.dst & 0xf), i * 8 + 1);
    buf.writeInt16LE(p.off, i * 8 + 2);
    buf.writeInt32LE(p.imm | 0, i * 8 + 4);
  });
  return buf;
}

/** Runs a program on one access request, as the kernel would (for tests and checks): 1 allow, 0 deny. */
export function runProgram(prog: readonly BpfInsn[], ctx: { type: 'c' | 'b'; access: string; major: number; minor: number }): number {
  const reg = new Array<number>(11).fill(0);
  const mem = [((accessBits(ctx.access) << 16) | (ctx.type === 'b' ? BPF_DEVCG.DEV_BLOCK : BPF_DEVCG.DEV_CHAR)) >>> 0, ctx.major >>> 0, ctx.minor >>> 0];
  for (let pc = 0, steps = 0; pc < prog.length && steps < 100_000; pc++, steps++) {
    const p = prog[pc]!;
    const imm = p.imm >>> 0;
    switch (p.code) {
      case BPF_LDX | BPF_MEM | BPF_W: reg[p.dst] = mem[p.off / 4]!; break;
      case BPF_ALU | BPF_AND | BPF_K: reg[p.dst] = (reg[p.dst]! & imm) >>> 0; break;
      case BPF_ALU | BPF_RSH | BPF_K: reg[p.dst] = reg[p.dst]! >>> imm; break;
      case BPF_ALU | BPF_MOV | BPF_K: reg[p.dst] = imm; break;
      case BPF_ALU | BPF_MOV | BPF_X: reg[p.dst] = reg[p.src]! >>> 0; break;
      case BPF_JMP | BPF_JNE | BPF_K: if (reg[p.dst] !== imm) pc += p.off; break;
      case BPF_JMP | BPF_JNE | BPF_X: if (reg[p.dst] !== reg[p.src]) pc += p.off; break;
      case BPF_JMP | BPF_EXIT: return reg[R0]!;
      default: throw new Error(`unknown opcode 0x${p.code.toString(16)}`);
    }
  }
  throw new Error('program did not exit');
}
