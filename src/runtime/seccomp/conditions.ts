/**
 * Argument conditions (`syscalls[].args[]`): the OCI operators and the BPF that tests one
 * condition. BPF compares 32-bit words, so a 64-bit comparison is done on the high half first
 * and decided on the low half only when the high halves are equal (unsigned, as libseccomp).
 * On 32-bit ABIs (i386, x32) libseccomp compares only the low 32 bits, and so does berth.
 * @module
 */
import { BPF, SECCOMP_DATA, type BackwardProgram, type Label } from './bpf.js';

/** The comparison operators of runtime-spec v1.2, sorted. */
export const OPERATOR_NAMES = [
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_LE',
  'SCMP_CMP_LT',
  'SCMP_CMP_MASKED_EQ',
  'SCMP_CMP_NE',
] as const;

/** One OCI operator name. */
export type Operator = (typeof OPERATOR_NAMES)[number];

const OPERATORS: ReadonlySet<string> = new Set(OPERATOR_NAMES);

/** True for a name of {@link OPERATOR_NAMES}. */
export function isOperator(name: string): name is Operator {
  return OPERATORS.has(name);
}

/**
 * One validated condition: `args[index] <op> value`, or for MASKED_EQ
 * `(args[index] & value) == valueTwo` (OCI and libseccomp: `value` is the mask).
 */
export interface Condition {
  /** Argument index, 0 to 5. */
  index: number;
  /** Operator. */
  op: Operator;
  /** Operand (the mask for MASKED_EQ), 64-bit unsigned. */
  value: bigint;
  /** Second operand (the datum for MASKED_EQ), 64-bit unsigned; 0 when absent. */
  valueTwo: bigint;
}

const hi = (v: bigint): number => Number((v >> 32n) & 0xffff_ffffn);
const lo = (v: bigint): number => Number(v & 0xffff_ffffn);

/** Tests the 32-bit word in A against `k` with `op` and goes to `pass` or `fail`. */
function word(p: BackwardProgram, op: Operator, k: number, pass: Label, fail: Label): Label {
  switch (op) {
    case 'SCMP_CMP_EQ':
    case 'SCMP_CMP_MASKED_EQ':
      return p.jump(BPF.JEQ_K, k, pass, fail);
    case 'SCMP_CMP_NE':
      return p.jump(BPF.JEQ_K, k, fail, pass);
    case 'SCMP_CMP_GT':
      return p.jump(BPF.JGT_K, k, pass, fail);
    case 'SCMP_CMP_GE':
      return p.jump(BPF.JGE_K, k, pass, fail);
    case 'SCMP_CMP_LT':
      return p.jump(BPF.JGE_K, k, fail, pass);
    case 'SCMP_CMP_LE':
      return p.jump(BPF.JGT_K, k, fail, pass);
  }
}

/** Emits the low-word test (load, mask, compare); returns its first label. */
function lowWord(p: BackwardProgram, c: Condition, pass: Label, fail: Label): Label {
  if (c.op === 'SCMP_CMP_MASKED_EQ') {
    word(p, c.op, lo(c.valueTwo), pass, fail);
    p.and(lo(c.value));
  } else {
    word(p, c.op, lo(c.value), pass, fail);
  }
  return p.load(SECCOMP_DATA.argLow(c.index));
}

/**
 * Emits the test of one condition, falling to `pass` when it holds and jumping to `fail` when it
 * does not; returns the label of its first instruction. `wide`: compare all 64 bits.
 */
export function emitCondition(p: BackwardProgram, c: Condition, wide: boolean, pass: Label, fail: Label): Label {
  const low = lowWord(p, c, pass, fail);
  if (!wide) return low;
  // High word: decide when the high halves differ, go on to the low word when they are equal.
  switch (c.op) {
    case 'SCMP_CMP_EQ':
      p.jump(BPF.JEQ_K, hi(c.value), low, fail);
      break;
    case 'SCMP_CMP_NE':
      p.jump(BPF.JEQ_K, hi(c.value), low, pass);
      break;
    case 'SCMP_CMP_MASKED_EQ':
      p.jump(BPF.JEQ_K, hi(c.valueTwo), low, fail);
      p.and(hi(c.value));
      break;
    case 'SCMP_CMP_GT':
    case 'SCMP_CMP_GE': {
      const eq = p.jump(BPF.JEQ_K, hi(c.value), low, fail); // high < value's: fail
      p.jump(BPF.JGT_K, hi(c.value), pass, eq);
      break;
    }
    case 'SCMP_CMP_LT':
    case 'SCMP_CMP_LE': {
      const eq = p.jump(BPF.JEQ_K, hi(c.value), low, pass); // high < value's: pass
      p.jump(BPF.JGT_K, hi(c.value), fail, eq);
      break;
    }
  }
  return p.load(SECCOMP_DATA.argHigh(c.index));
}
