/**
 * OCI `linux.seccomp` support: the compiler to classic BPF and what it is made of.
 * @module
 */
export { compileSeccomp, encodeSeccomp, BAD_ARCH_ACTION, type CompiledSeccomp } from './compile.js';
export { ACTION_NAMES, FLAG_NAMES, SECCOMP_RET, SECCOMP_RET_DATA, actionValue } from './actions.js';
export { ARCH_NAMES, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, ABI_I386, ABI_X32, ABI_X86_64, type Abi } from './arch.js';
export { BPF, BPF_MAXINSNS, SECCOMP_DATA, encodeFilter, type SockFilter } from './bpf.js';
export { OPERATOR_NAMES, type Condition, type Operator } from './conditions.js';
