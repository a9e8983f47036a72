/**
 * Seccomp actions and filter flags: the OCI names (libseccomp's) and the kernel values a filter
 * returns (`SECCOMP_RET_*`) or seccomp(2) takes (`SECCOMP_FILTER_FLAG_*`).
 * @module
 */

/** `SECCOMP_RET_*` action values (the high 16 bits of a filter's return value). */
export const SECCOMP_RET = {
  KILL_PROCESS: 0x8000_0000,
  KILL_THREAD: 0x0000_0000,
  TRAP: 0x0003_0000,
  ERRNO: 0x0005_0000,
  USER_NOTIF: 0x7fc0_0000,
  TRACE: 0x7ff0_0000,
  LOG: 0x7ffc_0000,
  ALLOW: 0x7fff_0000,
} as const;

/** Mask of the data part of a return value (errno, trace message). */
export const SECCOMP_RET_DATA = 0xffff;

/** EPERM: the errno of SCMP_ACT_ERRNO and the data of SCMP_ACT_TRACE when errnoRet is absent (runc's default). */
export const DEFAULT_ERRNO = 1;

/** How each OCI action name becomes a return value; `data` marks those that carry errnoRet. */
export const ACTIONS: Readonly<Record<string, { ret: number; data: boolean }>> = {
  SCMP_ACT_KILL: { ret: SECCOMP_RET.KILL_THREAD, data: false },
  SCMP_ACT_KILL_THREAD: { ret: SECCOMP_RET.KILL_THREAD, data: false },
  SCMP_ACT_KILL_PROCESS: { ret: SECCOMP_RET.KILL_PROCESS, data: false },
  SCMP_ACT_TRAP: { ret: SECCOMP_RET.TRAP, data: false },
  SCMP_ACT_ERRNO: { ret: SECCOMP_RET.ERRNO, data: true },
  SCMP_ACT_TRACE: { ret: SECCOMP_RET.TRACE, data: true },
  SCMP_ACT_ALLOW: { ret: SECCOMP_RET.ALLOW, data: false },
  SCMP_ACT_LOG: { ret: SECCOMP_RET.LOG, data: false },
};

/** Actions of the OCI spec berth refuses (a seccomp agent over listenerPath is not supported). */
export const UNSUPPORTED_ACTIONS: ReadonlySet<string> = new Set(['SCMP_ACT_NOTIFY']);

/** The action names berth accepts, sorted (for the features document). */
export const ACTION_NAMES: readonly string[] = Object.keys(ACTIONS).sort();

/** `SECCOMP_FILTER_FLAG_*` values of the flags berth passes to seccomp(2). */
export const FILTER_FLAGS: Readonly<Record<string, number>> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
};

/** Flags of the OCI spec berth refuses: WAIT_KILLABLE_RECV only applies to a notify listener. */
export const UNSUPPORTED_FLAGS: ReadonlySet<string> = new Set(['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV']);

/** The flag names berth accepts (for the features document). */
export const FLAG_NAMES: readonly string[] = Object.keys(FILTER_FLAGS);

/** The return value of an action with its data (errno or trace message), masked to 16 bits. */
export function actionValue(name: string, data: number): number {
  const a = ACTIONS[name];
  if (!a || !Object.hasOwn(ACTIONS, name)) throw new RangeError(`unknown seccomp action ${name}`);
  return (a.ret | (a.data ? data & SECCOMP_RET_DATA : 0)) >>> 0;
}
