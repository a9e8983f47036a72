/**
 * A minimal root filesystem made from the host's statically linked busybox: for demos, tests
 * and benchmarks, with no image or network needed.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../errors.js';

/** Where Debian's busybox-static installs the binary. */
const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

/** Finds a statically linked busybox on the host, or throws saying how to get one. */
export async function findStaticBusybox(): Promise<string> {
  for (const candidate of BUSYBOX_CANDIDATES) {
    try {
      const head = await fs.readFile(candidate);
      // A static ELF has no PT_INTERP: the interpreter path never appears in it.
      if (!head.includes('/lib64/ld-linux') && !head.includes('/lib/ld-linux')) return candidate;
    } catch {
      // try the next
    }
  }
  throw new BerthError('ENOENT: no statically linked busybox on this host (apt-get install busybox-static)', {
    code: 'ENOENT', stage: 'rootfs', path: BUSYBOX_CANDIDATES[0],
  });
}

/**
 * Creates `dir` as a busybox root filesystem: /bin/busybox with a link per applet, the usual
 * empty directories, and /etc/passwd and /etc/group with root and nobody. Returns `dir`.
 */
export async function createBusyboxRootfs(dir: string): Promise<string> {
  const busybox = await findStaticBusybox();
  await fs.mkdir(dir, { recursive: true });
  for (const d of ['bin', 'dev', 'etc', 'proc', 'sys', 'tmp', 'root', 'usr/bin', 'var', 'run']) {
    await fs.mkdir(path.join(dir, d), { recursive: true });
  }
  await fs.chmod(path.join(dir, 'tmp'), 0o1777);
  await fs.copyFile(busybox, path.join(dir, 'bin/busybox'));
  await fs.chmod(path.join(dir, 'bin/busybox'), 0o755);
  const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  await Promise.all(applets.map((a) => fs.symlink('busybox', path.join(dir, 'bin', a)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  })));
  await fs.writeFile(path.join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  await fs.writeFile(path.join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  return dir;
}
