/**
 * A whole directory tree copied with `cp -a` (owners, modes, times, xattrs, hard links and
 * special files kept; reflinked where the file system can share extents).
 * @module
 */
import { spawn } from 'node:child_process';
import { GraphDriverError } from './errors.js';

/** Copies the content of `from` into the existing directory `to`. */
export function copyTree(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('cp', ['-a', '--reflink=auto', '--', `${from}/.`, `${to}/`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new GraphDriverError(`copying ${from} failed: ${stderr.trim()}`, 'ECOPY', to))));
  });
}
