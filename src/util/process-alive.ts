/**
 * Whether a process exists, for crash repair: state left by a process that is gone may be reclaimed.
 * @module
 */

/** Whether a process with this pid exists (EPERM counts as existing). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
