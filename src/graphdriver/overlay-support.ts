/**
 * Whether overlayfs can be used with its directories on a given file system: the kernel must
 * know overlay, and the backing file system must not be one overlayfs refuses as an upper
 * (overlay itself, and those without d_type or trusted xattrs).
 * @module
 */
import { readFile, statfs } from 'node:fs/promises';

const OVERLAYFS_MAGIC = 0x794c7630;
const NFS_MAGIC = 0x6969;

/** Why overlay2 cannot be used at `dir`, or undefined when it can. */
export async function overlaySupported(dir: string): Promise<string | undefined> {
  const fss = await readFile('/proc/filesystems', 'utf8').catch(() => '');
  if (!/\toverlay$/m.test(fss)) return 'the kernel has no overlay file system (modprobe overlay)';
  const st = await statfs(dir);
  if (st.type === OVERLAYFS_MAGIC) return 'it is itself on overlayfs';
  if (st.type === NFS_MAGIC) return 'it is on NFS';
  return undefined;
}
