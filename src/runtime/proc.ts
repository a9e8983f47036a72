/**
 * Facts about host processes read from /proc: identity across pid reuse, and the members of a
 * container's pid namespace.
 * @module
 */
import { promises as fs, readFileSync } from 'node:fs';

/** The fields of /proc/PID/stat after the command name, or null if there is no such process. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may itself hold spaces and parentheses: split after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** The start time (clock ticks since boot) of `pid`, or null if no such process. */
export function readStartTime(pid: number): string | null {
  return statFields(pid)?.[19] ?? null; // field 22 overall
}

/** True while `pid` exists, is not a zombie, and is the same process that started at `startTime`. */
export function isSameLiveProcess(pid: number, startTime: string): boolean {
  const fields = statFields(pid);
  return fields !== null && fields[0] !== 'Z' && fields[0] !== 'X' && fields[19] === startTime;
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
