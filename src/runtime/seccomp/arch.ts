/**
 * Seccomp architectures: the OCI (libseccomp) names, the `AUDIT_ARCH_*` value the kernel puts
 * in `seccomp_data.arch`, and the syscall tables berth has.
 *
 * An x86_64 kernel runs three ABIs: x86_64 and x32 (both `AUDIT_ARCH_X86_64`; x32 numbers have
 * bit 30, `__X32_SYSCALL_BIT`, set) and i386 (`AUDIT_ARCH_I386`). Those are the only values its
 * filters ever see, so berth has tables for exactly these three. The other OCI architectures
 * (arm, aarch64, mips*, ppc*, s390*, parisc*, riscv64, loongarch64) are accepted, since common
 * profiles list them, and have no effect: no process on this kernel can present them. Like
 * libseccomp, the native ABI (x86_64) is always filtered, whatever `architectures` says.
 * @module
 */
import { I386_SYSCALLS, X32_SYSCALLS, X86_64_SYSCALLS } from './syscall-table.js';

/** `AUDIT_ARCH_X86_64` (EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE). */
export const AUDIT_ARCH_X86_64 = 0xc000_003e;
/** `AUDIT_ARCH_I386` (EM_386 | __AUDIT_ARCH_LE). */
export const AUDIT_ARCH_I386 = 0x4000_0003;
/** Bit 30 of an x32 syscall number. */
export const X32_SYSCALL_BIT = 0x4000_0000;

/** An ABI berth filters. */
export interface Abi {
  /** OCI name. */
  name: 'SCMP_ARCH_X86_64' | 'SCMP_ARCH_X86' | 'SCMP_ARCH_X32';
  /** `seccomp_data.arch` value. */
  auditArch: number;
  /** Arguments are 64-bit (both halves compared); false: only the low 32 bits, as libseccomp does for 32-bit ABIs. */
  wideArgs: boolean;
  /** Syscall number of each name this ABI has. */
  syscalls: ReadonlyMap<string, number>;
}

const table = (t: Readonly<Record<string, number>>): ReadonlyMap<string, number> => new Map(Object.entries(t));

/** x86_64: the native ABI. */
export const ABI_X86_64: Abi = { name: 'SCMP_ARCH_X86_64', auditArch: AUDIT_ARCH_X86_64, wideArgs: true, syscalls: table(X86_64_SYSCALLS) };
/** i386 (SCMP_ARCH_X86). */
export const ABI_I386: Abi = { name: 'SCMP_ARCH_X86', auditArch: AUDIT_ARCH_I386, wideArgs: false, syscalls: table(I386_SYSCALLS) };
/** x32 (SCMP_ARCH_X32). */
export const ABI_X32: Abi = { name: 'SCMP_ARCH_X32', auditArch: AUDIT_ARCH_X86_64, wideArgs: false, syscalls: table(X32_SYSCALLS) };

/** Every architecture name of runtime-spec v1.2 (`linux.seccomp.architectures`). */
export const ARCH_NAMES: readonly string[] = [
  'SCMP_ARCH_X86',
  'SCMP_ARCH_X86_64',
  'SCMP_ARCH_X32',
  'SCMP_ARCH_ARM',
  'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64',
  'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_MIPSEL',
  'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PPC',
  'SCMP_ARCH_PPC64',
  'SCMP_ARCH_PPC64LE',
  'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X',
  'SCMP_ARCH_PARISC',
  'SCMP_ARCH_PARISC64',
  'SCMP_ARCH_RISCV64',
  'SCMP_ARCH_LOONGARCH64',
];

const KNOWN_ARCHES: ReadonlySet<string> = new Set(ARCH_NAMES);

/** True for a name of {@link ARCH_NAMES}. */
export function isArchName(name: string): boolean {
  return KNOWN_ARCHES.has(name);
}
