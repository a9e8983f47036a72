// 500 create/start/wait/delete cycles leave no fd, zombie, mount, state or cgroup directory behind.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cgroupHost, Container } from '../src/index.js';
import { shSpec, workspace, type Workspace } from './support.js';

let ws: Workspace;
beforeAll(async () => { ws = await workspace('churn'); });
afterAll(async () => { await ws.cleanup(); });

/** Children of this process that are zombies. */
function zombieChildren(): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).filter((n) => {
    try {
      const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return fields[0] === 'Z' && Number(fields[1]) === process.pid;
    } catch {
      return false;
    }
  }).map(Number);
}

it('500 container cycles leak nothing', async () => {
  const spec = shSpec('true');
  const cycle = async (i: number): Promise<void> => {
    const c = await Container.create({ id: ws.id(`c${i}`), bundle: ws.dir, spec, root: ws.stateRoot });
    await c.start();
    expect((await c.wait()).exitCode).toBe(0);
    await c.delete();
  };
  for (let i = 0; i < 5; i++) await cycle(i); // warm up: lazy handles, the sealed helper
  const fdsBefore = readdirSync('/proc/self/fd').length;
  const mountsBefore = readFileSync('/proc/self/mountinfo', 'utf8');
  for (let i = 5; i < 500; i++) await cycle(i);
  await new Promise((r) => setTimeout(r, 50));
  expect(readdirSync('/proc/self/fd').length).toBe(fdsBefore);
  expect(readFileSync('/proc/self/mountinfo', 'utf8')).toBe(mountsBefore);
  expect(zombieChildren()).toEqual([]);
  expect(readdirSync(ws.stateRoot).filter((n) => n !== '.lock')).toEqual([]); // the root's lock file stays
  expect(cgroupDirsLeft()).toEqual([]);
}, 300_000);

/** Cgroup directories of this file's containers still there, in any hierarchy (default path /berth/<id>). */
function cgroupDirsLeft(): string[] {
  const host = cgroupHost({ refresh: true });
  const mounts = [...host.v1.map((h) => h.mountPoint), ...(host.unified ? [host.unified.mountPoint] : [])];
  const left: string[] = [];
  for (const m of mounts) {
    const parent = path.join(m, 'berth');
    if (!existsSync(parent)) continue;
    for (const name of readdirSync(parent)) if (name.startsWith(`t-churn-`) && name.includes(`-${process.pid}-`)) left.push(path.join(parent, name));
  }
  return left;
}
