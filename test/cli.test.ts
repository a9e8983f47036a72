// berth-runtime driven the way the OCI runtime-tools validation suite and containerd drive it.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, promises as fs } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shSpec, workspace, type Workspace } from './support.js';

const BIN = path.resolve('bin/berth-runtime');
let ws: Workspace;
let bundle: string;

let calls = 0;

/**
 * Runs berth-runtime with the test's state root. Output goes to files, as the validation
 * suite does: a container created by the command inherits its stdout and outlives it.
 */
async function rt(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const out = path.join(ws.dir, `out-${calls}`);
  const err = path.join(ws.dir, `err-${calls++}`);
  const [o, e] = [openSync(out, 'w'), openSync(err, 'w')];
  try {
    const child = spawn(BIN, ['--root', ws.stateRoot, ...args], { stdio: ['ignore', o, e] });
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, stdout: await fs.readFile(out, 'utf8'), stderr: await fs.readFile(err, 'utf8') };
  } finally {
    closeSync(o);
    closeSync(e);
  }
}

beforeAll(async () => {
  ws = await workspace('cli');
  bundle = ws.dir;
});
afterAll(async () => { await ws.cleanup(); });

async function writeConfig(script: string): Promise<void> {
  await fs.writeFile(path.join(bundle, 'config.json'), JSON.stringify(shSpec(script)));
}

describe('berth-runtime', () => {
  it('create, state, start, kill, delete as the validation suite does', async () => {
    await writeConfig('sleep 100');
    const id = ws.id('life');
    const pidFile = path.join(ws.dir, 'pid');
    expect(await rt('create', '--pid-file', pidFile, '--bundle', bundle, id)).toMatchObject({ code: 0 });
    const created = JSON.parse((await rt('state', id)).stdout);
    expect(created).toMatchObject({ id, status: 'created', bundle });
    expect(Number(await fs.readFile(pidFile, 'utf8'))).toBe(created.pid);
    expect(await rt('start', id)).toMatchObject({ code: 0 });
    expect(JSON.parse((await rt('state', id)).stdout).status).toBe('running');
    expect((await rt('list', '--format', 'json')).stdout).toContain(id);
    expect(JSON.parse((await rt('ps', '--format', 'json', id)).stdout)).toContain(created.pid);
    expect(await rt('kill', id, 'KILL')).toMatchObject({ code: 0 });
    await expect.poll(async () => JSON.parse((await rt('state', id)).stdout).status).toBe('stopped');
    expect(await rt('delete', id)).toMatchObject({ code: 0 });
    const gone = await rt('state', id);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`container ${id} does not exist`);
  });

  it('run returns the container exit status; exec runs in it', async () => {
    await writeConfig('exit 7');
    expect((await rt('run', '--bundle', bundle, ws.id('run'))).code).toBe(7);
    await writeConfig('sleep 100');
    const id = ws.id('exec');
    await rt('run', '--detach', '--bundle', bundle, id);
    const r = await rt('exec', id, 'sh', '-c', 'echo in-container; exit 5');
    expect(r).toMatchObject({ code: 5, stdout: 'in-container\n' });
    expect(await rt('delete', '--force', id)).toMatchObject({ code: 0 });
  });

  it('prints features and refuses bad command lines with usage', async () => {
    const f = JSON.parse((await rt('features')).stdout);
    expect(f.linux.namespaces).toContain('user');
    const bad = spawnSync(BIN, ['nosuch'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('unknown command "nosuch"');
  });
});
