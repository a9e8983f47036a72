/**
 * Facts about host processes read from /proc: identity across pid reuse, and the members of a
 * container's pid namespace.
 * @module
 */
import { promises as fs, readFileSync } from 'node:fs';

/** The start time (clock ticks since boot) of `pid`, or null if no such process. */
export function readStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself hold spaces and parentheses.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? null; // field 22 overall
  } catch {
    return null;
  }
}

/** The process state letter (R, S, Z, ...) of `pid`, or null if it is gone. */
export function readProcessState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

/** True while `pid` exists, is not a zombie, and is the same process that started at `startTime`. */
export function isSameLiveProcess(pid: number, startTime: string): boolean {
  const state = readProcessState(pid);
  return state !== null && state !== 'Z' && state !== 'X' && readStartTime(pid) === startTime;
}

/** Host pids of every process whose pid namespace is `nsLink` (the target of /proc/PID/ns/pid). */
export async function pidsInNamespace(nsLink: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if ((await fs.readlink(`/proc/${name}/ns/pid`)) === nsLink) pids.push(Number(name));
    } catch {
      // the process ended while we looked
    }
  }
  return pids.sort((a, b) => a - b);
}
