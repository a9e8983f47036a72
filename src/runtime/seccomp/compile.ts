/**
 * The compiler from an OCI `linux.seccomp` object to a classic BPF seccomp filter, with the
 * validation of that object (every error names its JSON path).
 *
 * Semantics are runc's over libseccomp:
 * - `defaultAction` (with `defaultErrnoRet`, default EPERM) for every syscall no rule decides.
 * - A rule whose action equals the default action is skipped (runc does, libseccomp refuses it).
 * - Syscall names this kernel's ABIs do not have are skipped silently (runc logs them at debug).
 * - A rule without `args` decides the syscall outright, and the first such rule of a syscall
 *   wins over later ones and over conditional rules (libseccomp's db_rule_add).
 * - The `args` of a rule are ANDed; when one argument index appears more than once, each
 *   condition becomes a rule of its own (ORed), as runc does. Conditional rules of a syscall
 *   are tried in profile order, the first that matches decides; none: the default action.
 * - Arches: x86_64 is always filtered; i386 and x32 only when listed in `architectures`; any
 *   other `seccomp_data.arch` (or x32/i386 when not listed) is killed (SECCOMP_RET_KILL_PROCESS,
 *   libseccomp's "bad arch" action, made process-wide). The syscall number -1 that tracers use
 *   to skip a call gets the default action on x86_64, as in libseccomp.
 * - Flags: TSYNC, LOG and SPEC_ALLOW are passed to seccomp(2). Unlike runc, berth does not add
 *   SPEC_ALLOW when `flags` is absent (the kernel's Speculative Store Bypass mitigation stays).
 * - Unlike runc, syscalls unknown to the profile are not patched to return ENOSYS.
 *
 * Layout: per ABI, a binary search over the syscall number, on ranges of consecutive numbers
 * with the same outcome (a 340-name allow-list with scattered holes is ~90 ranges: ~185
 * instructions and ~7 comparisons per syscall), ending in a `ret` or in the rule chain of a
 * conditional syscall.
 * @module
 */
import { ConfigError, UnsupportedError } from '../../errors.js';
import { ACTIONS, actionValue, DEFAULT_ERRNO, FILTER_FLAGS, SECCOMP_RET, UNSUPPORTED_ACTIONS, UNSUPPORTED_FLAGS } from './actions.js';
import { ABI_I386, ABI_X32, ABI_X86_64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, isArchName, X32_SYSCALL_BIT, type Abi } from './arch.js';
import { BackwardProgram, BPF, BPF_MAXINSNS, encodeFilter, SECCOMP_DATA, type Label, type SockFilter } from './bpf.js';
import { emitCondition, isOperator, OPERATOR_NAMES, type Condition } from './conditions.js';

/** A compiled filter: what the helper passes to seccomp(2). */
export interface CompiledSeccomp {
  /** `SECCOMP_FILTER_FLAG_*` bits. */
  flags: number;
  /** The BPF program (at most 4096 instructions). */
  program: SockFilter[];
}

/** The action a filter returns for an ABI it does not allow. */
export const BAD_ARCH_ACTION = SECCOMP_RET.KILL_PROCESS;

/** Largest errnoRet (the 16-bit data of a return value; the kernel caps errnos at 4095). */
const MAX_RET_DATA = 0xffff;
const U64_MAX = 0xffff_ffff_ffff_ffffn;

type Obj = Record<string, unknown>;

function fail(message: string, field: string): never {
  throw new ConfigError(message, field);
}

function kind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

function expectObject(v: unknown, field: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`must be an object, not ${kind(v)}`, field);
  return v as Obj;
}

function expectArray(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) fail(`must be an array, not ${kind(v)}`, field);
  return v;
}

function expectString(v: unknown, field: string): string {
  if (typeof v !== 'string') fail(`must be a string, not ${kind(v)}`, field);
  return v;
}

function expectInteger(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(`must be an integer from ${min} to ${max}, not ${JSON.stringify(v) ?? String(v)}`, field);
  }
  return v;
}

/** A 64-bit unsigned operand: a safe integer number, or a bigint for values above 2^53. */
function expectU64(v: unknown, field: string): bigint {
  if (typeof v === 'bigint') {
    if (v < 0n || v > U64_MAX) fail(`must be from 0 to 2^64-1, not ${v}`, field);
    return v;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    fail(`must be a non-negative integer, not ${JSON.stringify(v) ?? String(v)}`, field);
  }
  if (!Number.isSafeInteger(v)) fail(`${v} is above 2^53 and may have lost precision in JSON: pass it as a bigint`, field);
  return BigInt(v);
}

/** Validates an action name and its errnoRet; returns the filter return value. */
function action(name: unknown, errnoRet: unknown, field: string, errnoField: string): number {
  const a = expectString(name, field);
  if (UNSUPPORTED_ACTIONS.has(a)) {
    throw new UnsupportedError(`${a} is not supported: berth has no seccomp agent (listenerPath)`, field);
  }
  if (!Object.hasOwn(ACTIONS, a)) fail(`unknown seccomp action ${JSON.stringify(a)} (${Object.keys(ACTIONS).join(', ')})`, field);
  let data = DEFAULT_ERRNO;
  if (errnoRet !== undefined) {
    if (!ACTIONS[a]!.data) fail(`${a} takes no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)`, errnoField);
    data = expectInteger(errnoRet, errnoField, 0, MAX_RET_DATA);
  }
  return actionValue(a, data);
}

/** One rule as the filter tests it: all conditions hold → `action`. */
interface Rule {
  action: number;
  conditions: Condition[];
}

/** What the filter does for one syscall number. */
interface SyscallPlan {
  /** Return value of the first rule without conditions, if any. */
  unconditional?: number;
  /** Conditional rules, in profile order. */
  rules: Rule[];
}

/** A validated `syscalls[]` entry. */
interface Entry {
  names: string[];
  action: number;
  /** Alternatives (ORed), each a list of ANDed conditions; `[[]]` for no args. */
  alternatives: Condition[][];
}

function validateCondition(v: unknown, at: string): Condition {
  const o = expectObject(v, at);
  const index = expectInteger(o.index, `${at}.index`, 0, 5);
  const op = expectString(o.op, `${at}.op`);
  if (!isOperator(op)) fail(`unknown operator ${JSON.stringify(op)} (${OPERATOR_NAMES.join(', ')})`, `${at}.op`);
  if (o.value === undefined) fail('is required', `${at}.value`);
  const value = expectU64(o.value, `${at}.value`);
  const valueTwo = o.valueTwo === undefined ? 0n : expectU64(o.valueTwo, `${at}.valueTwo`);
  return { index, op, value, valueTwo };
}

function validateEntry(v: unknown, at: string): Entry {
  const o = expectObject(v, at);
  const names = expectArray(o.names, `${at}.names`).map((n, i) => expectString(n, `${at}.names[${i}]`));
  if (names.length === 0) fail('must name at least one syscall', `${at}.names`);
  const ret = action(o.action, o.errnoRet, `${at}.action`, `${at}.errnoRet`);
  const conditions = o.args === undefined || o.args === null ? [] : expectArray(o.args, `${at}.args`).map((c, i) => validateCondition(c, `${at}.args[${i}]`));
  const indexes = new Set(conditions.map((c) => c.index));
  // runc: conditions on distinct arguments are ANDed; a repeated index makes each its own rule.
  const alternatives = indexes.size === conditions.length ? [conditions] : conditions.map((c) => [c]);
  return { names, action: ret, alternatives };
}

/** The per-syscall plan of one ABI. */
function planAbi(abi: Abi, entries: readonly Entry[], defaultAction: number): Map<number, SyscallPlan> {
  const plans = new Map<number, SyscallPlan>();
  for (const e of entries) {
    if (e.action === defaultAction) continue;
    for (const name of e.names) {
      const nr = abi.syscalls.get(name);
      if (nr === undefined) continue;
      let plan = plans.get(nr);
      if (!plan) plans.set(nr, (plan = { rules: [] }));
      for (const conditions of e.alternatives) {
        if (conditions.length === 0) plan.unconditional ??= e.action;
        else plan.rules.push({ action: e.action, conditions });
      }
    }
  }
  return plans;
}

/** A run of consecutive syscall numbers with one outcome. */
interface Range {
  lo: number;
  hi: number;
  /** Equal keys: equal code. */
  key: string;
  /** A plain return value, or the conditional rules (then the default action as fallback). */
  outcome: number | Rule[];
}

function outcomeKey(outcome: number | Rule[]): string {
  return typeof outcome === 'number' ? `ret:${outcome}` : JSON.stringify(outcome, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** Ranges covering [lo, hi], merged where neighbours have the same outcome. */
function ranges(plans: Map<number, SyscallPlan>, lo: number, hi: number, defaultAction: number): Range[] {
  const out: Range[] = [];
  const add = (a: number, b: number, outcome: number | Rule[]): void => {
    const key = outcomeKey(outcome);
    const last = out[out.length - 1];
    if (last && last.key === key && last.hi + 1 === a) last.hi = b;
    else out.push({ lo: a, hi: b, key, outcome });
  };
  let next = lo;
  for (const nr of [...plans.keys()].filter((n) => n >= lo && n <= hi).sort((a, b) => a - b)) {
    if (nr > next) add(next, nr - 1, defaultAction);
    const p = plans.get(nr)!;
    add(nr, nr, p.unconditional ?? (p.rules.length > 0 ? p.rules : defaultAction));
    next = nr + 1;
  }
  if (next <= hi) add(next, hi, defaultAction);
  return out;
}

/** Emits the rule chain of a conditional syscall; returns its first label. */
function emitRules(p: BackwardProgram, rules: readonly Rule[], wide: boolean, defaultAction: number): Label {
  let next = p.ret(defaultAction);
  for (let i = rules.length - 1; i >= 0; i--) {
    const rule = rules[i]!;
    const failTo = next;
    let pass = p.ret(rule.action);
    for (let j = rule.conditions.length - 1; j >= 0; j--) pass = emitCondition(p, rule.conditions[j]!, wide, pass, failTo);
    next = pass;
  }
  return next;
}

/** Emits a binary search on the syscall number (in A) over `rs[i..j]`; returns its first label. */
function emitTree(p: BackwardProgram, rs: readonly Range[], i: number, j: number, wide: boolean, defaultAction: number): Label {
  if (i === j) {
    const o = rs[i]!.outcome;
    return typeof o === 'number' ? p.ret(o) : emitRules(p, o, wide, defaultAction);
  }
  const mid = (i + j + 1) >> 1;
  const right = emitTree(p, rs, mid, j, wide, defaultAction);
  const left = emitTree(p, rs, i, mid - 1, wide, defaultAction);
  return p.jump(BPF.JGE_K, rs[mid]!.lo, right, left);
}

/** Emits the whole block of one ABI over [lo, hi], starting with the load of the number. */
function emitAbi(p: BackwardProgram, abi: Abi, entries: readonly Entry[], lo: number, hi: number, defaultAction: number, load: boolean): Label {
  const rs = ranges(planAbi(abi, entries, defaultAction), lo, hi, defaultAction);
  const tree = emitTree(p, rs, 0, rs.length - 1, abi.wideArgs, defaultAction);
  return load ? p.load(SECCOMP_DATA.NR) : tree;
}

/** Validated input of {@link buildProgram}. */
interface SeccompProfile {
  /** Return value when no rule decides. */
  defaultAction: number;
  /** Filter i386 syscalls (else kill them). */
  i386: boolean;
  /** Filter x32 syscalls (else kill them). */
  x32: boolean;
  /** The rules. */
  entries: Entry[];
}

/** Lays out the program of a validated profile. */
function buildProgram(profile: SeccompProfile): SockFilter[] {
  const { defaultAction, entries } = profile;
  const p = new BackwardProgram();
  // Last in the program: i386, then the x32 half of AUDIT_ARCH_X86_64, then x86_64.
  const i386 = profile.i386 ? emitAbi(p, ABI_I386, entries, 0, 0xffff_ffff, defaultAction, true) : 0;
  let high: Label;
  if (profile.x32) {
    high = emitAbi(p, ABI_X32, entries, X32_SYSCALL_BIT, 0xffff_ffff, defaultAction, false);
  } else {
    const bad = p.ret(BAD_ARCH_ACTION);
    const def = p.ret(defaultAction);
    high = p.jump(BPF.JEQ_K, 0xffff_ffff, def, bad);
  }
  const x64Tree = emitAbi(p, ABI_X86_64, entries, 0, X32_SYSCALL_BIT - 1, defaultAction, false);
  p.jump(BPF.JGE_K, X32_SYSCALL_BIT, high, x64Tree);
  const x64 = p.load(SECCOMP_DATA.NR);
  const badArch = p.ret(BAD_ARCH_ACTION);
  const other = profile.i386 ? p.jump(BPF.JEQ_K, AUDIT_ARCH_I386, i386, badArch) : badArch;
  p.jump(BPF.JEQ_K, AUDIT_ARCH_X86_64, x64, other);
  p.load(SECCOMP_DATA.ARCH);
  return p.finish();
}

/**
 * Validates an OCI `linux.seccomp` object and compiles it. Returns undefined for an object with
 * neither `defaultAction` nor `syscalls` (runc treats it as "no seccomp"). Throws a
 * `ConfigError` naming the field for malformed input, unknown actions, operators, arches or
 * flags, or a program over the kernel's 4096 instructions; an `UnsupportedError` for
 * SCMP_ACT_NOTIFY, `listenerPath` and SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV.
 */
export function compileSeccomp(value: unknown, field = 'linux.seccomp'): CompiledSeccomp | undefined {
  if (value === undefined) return undefined;
  const s = expectObject(value, field);
  if (s.listenerPath !== undefined && s.listenerPath !== '') {
    throw new UnsupportedError('a seccomp agent (SCMP_ACT_NOTIFY) is not supported', `${field}.listenerPath`);
  }
  if (s.listenerMetadata !== undefined) expectString(s.listenerMetadata, `${field}.listenerMetadata`);
  const list = s.syscalls === undefined || s.syscalls === null ? [] : expectArray(s.syscalls, `${field}.syscalls`);
  if ((s.defaultAction === undefined || s.defaultAction === '') && list.length === 0) return undefined;
  if (s.defaultAction === undefined) fail('is required', `${field}.defaultAction`);
  const defaultAction = action(s.defaultAction, s.defaultErrnoRet, `${field}.defaultAction`, `${field}.defaultErrnoRet`);

  const arches = s.architectures === undefined || s.architectures === null ? [] : expectArray(s.architectures, `${field}.architectures`);
  arches.forEach((a, i) => {
    const name = expectString(a, `${field}.architectures[${i}]`);
    if (!isArchName(name)) fail(`unknown architecture ${JSON.stringify(name)}`, `${field}.architectures[${i}]`);
  });

  let flags = 0;
  const flagList = s.flags === undefined || s.flags === null ? [] : expectArray(s.flags, `${field}.flags`);
  flagList.forEach((f, i) => {
    const at = `${field}.flags[${i}]`;
    const name = expectString(f, at);
    if (UNSUPPORTED_FLAGS.has(name)) throw new UnsupportedError(`${name} needs a seccomp agent, which berth does not support`, at);
    if (!Object.hasOwn(FILTER_FLAGS, name)) fail(`unknown seccomp flag ${JSON.stringify(name)} (${Object.keys(FILTER_FLAGS).join(', ')})`, at);
    flags |= FILTER_FLAGS[name]!;
  });

  const entries = list.map((e, i) => validateEntry(e, `${field}.syscalls[${i}]`));
  if (process.arch !== 'x64') throw new UnsupportedError(`seccomp filters are only built for x86_64 hosts, not ${process.arch}`, field);
  const program = buildProgram({ defaultAction, i386: arches.includes('SCMP_ARCH_X86'), x32: arches.includes('SCMP_ARCH_X32'), entries });
  if (program.length > BPF_MAXINSNS) {
    fail(`the compiled filter has ${program.length} instructions, more than the kernel's limit of ${BPF_MAXINSNS}`, `${field}.syscalls`);
  }
  return { flags, program };
}

/** The CFG_SECCOMP record value: u32 flags, then the `struct sock_filter` array. */
export function encodeSeccomp(compiled: CompiledSeccomp): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32LE(compiled.flags >>> 0, 0);
  return Buffer.concat([head, encodeFilter(compiled.program)]);
}
