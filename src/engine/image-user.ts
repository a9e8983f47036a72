/**
 * Resolves a Docker `user` string (`name`, `uid`, `name:group`, `uid:gid`) to numeric ids
 * against the image's own /etc/passwd and /etc/group, as Docker does: a numeric user needs no
 * entry, a name must have one, and the primary and supplementary groups come from the files.
 * @module
 */
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { LayerDirs } from '../graphdriver/driver.js';
import { EngineError } from './errors.js';

/** A resolved user. */
export interface ResolvedUser {
  /** User id. */
  uid: number;
  /** Primary group id. */
  gid: number;
  /** Supplementary group ids (from /etc/group). */
  additionalGids: number[];
  /** Home directory (for HOME), when the user has a passwd entry. */
  home?: string;
}

/** Reads a file of the snapshot's merged tree: the topmost layer dir that has it wins; a whiteout hides it. */
async function readMerged(layers: LayerDirs, rel: string): Promise<string | undefined> {
  for (const dir of layers.dirs) {
    const st = await lstat(path.join(dir, rel)).catch(() => undefined);
    if (st === undefined) continue;
    if (st.isCharacterDevice() && st.rdev === 0) return undefined;
    if (!st.isFile()) return undefined;
    return readFile(path.join(dir, rel), 'utf8');
  }
  return undefined;
}

/** The colon-separated lines of a passwd or group file. */
function entries(text: string | undefined): string[][] {
  return (text ?? '')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

const NUMERIC = /^[0-9]+$/;

/** Resolves `spec` (empty: root) in the tree of `layers`; EngineError ENOUSER when a name has no entry. */
export async function resolveImageUser(spec: string | undefined, layers: LayerDirs): Promise<ResolvedUser> {
  const [userPart = '', groupPart] = (spec ?? '').split(':', 2);
  const passwd = entries(await readMerged(layers, 'etc/passwd'));
  const groups = entries(await readMerged(layers, 'etc/group'));
  const user = userPart === '' ? passwd.find((p) => p[2] === '0') : passwd.find((p) => (NUMERIC.test(userPart) ? p[2] === userPart : p[0] === userPart));
  let uid: number;
  if (userPart === '') uid = 0;
  else if (user !== undefined) uid = Number(user[2]);
  else if (NUMERIC.test(userPart)) uid = Number(userPart);
  else throw new EngineError(`unable to find user ${userPart}: no matching entries in passwd file`, 'ENOUSER', userPart);
  let gid = user !== undefined ? Number(user[3]) : 0;
  if (groupPart !== undefined && groupPart !== '') {
    const g = groups.find((e) => (NUMERIC.test(groupPart) ? e[2] === groupPart : e[0] === groupPart));
    if (g !== undefined) gid = Number(g[2]);
    else if (NUMERIC.test(groupPart)) gid = Number(groupPart);
    else throw new EngineError(`unable to find group ${groupPart}: no matching entries in group file`, 'ENOUSER', groupPart);
  }
  const name = user?.[0];
  const additionalGids =
    groupPart === undefined && name !== undefined
      ? groups.filter((g) => (g[3] ?? '').split(',').includes(name)).map((g) => Number(g[2])).filter((g) => g !== gid)
      : [];
  return { uid, gid, additionalGids, ...(user?.[5] ? { home: user[5] } : {}) };
}
