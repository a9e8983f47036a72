/**
 * Classic BPF as seccomp runs it: the instruction format (`struct sock_filter`), the few opcodes
 * a filter needs, the layout of `struct seccomp_data`, and a builder that lays a program out
 * back to front so that every jump is forward and too-long conditional jumps get a trampoline.
 * @module
 */

/** One `struct sock_filter`: `{ u16 code; u8 jt; u8 jf; u32 k; }`. */
export interface SockFilter {
  /** Opcode. */
  code: number;
  /** Instructions to skip when a conditional jump is true. */
  jt: number;
  /** Instructions to skip when it is false. */
  jf: number;
  /** Operand (unsigned 32-bit). */
  k: number;
}

/** The opcodes used by berth's filters. */
export const BPF = {
  /** `A = *(u32 *)(data + k)` (BPF_LD | BPF_W | BPF_ABS). */
  LD_ABS: 0x20,
  /** `A &= k` (BPF_ALU | BPF_AND | BPF_K). */
  AND_K: 0x54,
  /** `pc += k` (BPF_JMP | BPF_JA). */
  JA: 0x05,
  /** `pc += A == k ? jt : jf` (BPF_JMP | BPF_JEQ | BPF_K). */
  JEQ_K: 0x15,
  /** `pc += A > k ? jt : jf`, unsigned (BPF_JMP | BPF_JGT | BPF_K). */
  JGT_K: 0x25,
  /** `pc += A >= k ? jt : jf`, unsigned (BPF_JMP | BPF_JGE | BPF_K). */
  JGE_K: 0x35,
  /** `return k` (BPF_RET | BPF_K). */
  RET_K: 0x06,
} as const;

/** The kernel's limit on one filter's length (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;

/** Offsets in `struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }`. */
export const SECCOMP_DATA = {
  NR: 0,
  ARCH: 4,
  /** Low 32 bits of args[i] (little-endian). */
  argLow: (i: number): number => 16 + 8 * i,
  /** High 32 bits of args[i]. */
  argHigh: (i: number): number => 20 + 8 * i,
} as const;

/**
 * A position in a program built back to front: the number of instructions from it to the end
 * (the label of the instruction emitted last is the program's current start).
 */
export type Label = number;

/**
 * Builds a program from its end to its start. Every `emit*` call prepends one instruction and
 * returns its label; jumps may only target labels already emitted (they are forward jumps in
 * the final program). A conditional jump whose target is more than 255 instructions away goes
 * through an unconditional `ja` trampoline placed right after it.
 */
export class BackwardProgram {
  private readonly rev: SockFilter[] = [];

  /** Label of the current first instruction (what a new instruction falls through to). */
  get start(): Label {
    return this.rev.length;
  }

  /** Instructions emitted so far. */
  get length(): number {
    return this.rev.length;
  }

  private push(ins: SockFilter): Label {
    this.rev.push(ins);
    return this.rev.length;
  }

  /** Distance from a new instruction to `target` (instructions skipped). */
  private offset(target: Label): number {
    const off = this.rev.length - target;
    if (target < 1 || off < 0) throw new RangeError(`bad jump target ${target}`);
    return off;
  }

  /** `return value`. */
  ret(value: number): Label {
    return this.push({ code: BPF.RET_K, jt: 0, jf: 0, k: value >>> 0 });
  }

  /** `A = data[offset]`. */
  load(offset: number): Label {
    return this.push({ code: BPF.LD_ABS, jt: 0, jf: 0, k: offset });
  }

  /** `A &= mask`. */
  and(mask: number): Label {
    return this.push({ code: BPF.AND_K, jt: 0, jf: 0, k: mask >>> 0 });
  }

  /** `goto target`. */
  ja(target: Label): Label {
    const off = this.offset(target);
    return off === 0 ? target : this.push({ code: BPF.JA, jt: 0, jf: 0, k: off });
  }

  /** A conditional jump (`BPF.JEQ_K`, `JGT_K`, `JGE_K`) to `onTrue` / `onFalse`. */
  jump(code: number, k: number, onTrue: Label, onFalse: Label): Label {
    if (onTrue === onFalse) return this.ja(onTrue);
    let t = onTrue;
    let f = onFalse;
    for (;;) {
      const ot = this.offset(t);
      const of = this.offset(f);
      if (ot <= 255 && of <= 255) return this.push({ code, jt: ot, jf: of, k: k >>> 0 });
      if (of > 255) f = this.push({ code: BPF.JA, jt: 0, jf: 0, k: of });
      else t = this.push({ code: BPF.JA, jt: 0, jf: 0, k: ot });
    }
  }

  /** The program, first instruction first. */
  finish(): SockFilter[] {
    return [...this.rev].reverse();
  }
}

/** Encodes instructions as the kernel's `struct sock_filter[]` (8 bytes each, little-endian). */
export function encodeFilter(program: readonly SockFilter[]): Buffer {
  const b = Buffer.alloc(8 * program.length);
  program.forEach((ins, i) => {
    b.writeUInt16LE(ins.code, 8 * i);
    b.writeUInt8(ins.jt, 8 * i + 2);
    b.writeUInt8(ins.jf, 8 * i + 3);
    b.writeUInt32LE(ins.k >>> 0, 8 * i + 4);
  });
  return b;
}
