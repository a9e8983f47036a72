/**
 * Disk usage of a directory tree: apparent size of regular files (hard links once) and inodes.
 * @module
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { SnapshotUsage } from './driver.js';

/** Walks `dir` and adds up its size and inodes (the directory itself included). */
export async function treeUsage(dir: string): Promise<SnapshotUsage> {
  const seen = new Set<string>();
  let size = 0;
  let inodes = 0;
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p, { bigint: true });
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    inodes++;
    if (st.isFile()) size += Number(st.size);
    if (st.isDirectory()) for (const name of await readdir(p)) await walk(path.join(p, name));
  };
  await walk(dir);
  return { size, inodes };
}
