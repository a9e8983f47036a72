// Interactive sessions as a person has them, driven through tmux: `berth run -it ... sh`, typing
// commands, the terminal's size and a resize, Ctrl-C, detaching with Ctrl-P Ctrl-Q, `berth
// attach` again, and `exit`. tmux is installed by .ci/run (scripts/host-deps.sh).
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBusyboxRootfs } from '../src/index.js';
import { installed, removeDefaultNetwork, removeIdleCgroupParents } from './support.js';

const BIN = path.resolve('bin/berth');
const hasTmux = installed(import.meta.url, 'tmux');
let dir: string;
let root: string;
const sessions: string[] = [];

/** Runs tmux with its own server socket, so the test never touches a user's tmux. */
function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', `berth-test-${process.pid}`, ...args], { encoding: 'utf8' });
}

/** The visible text of a session's pane. */
function screen(session: string): string {
  return tmux('capture-pane', '-p', '-t', session);
}

/** Waits until the pane shows `re` (or fails after 10 s with the screen in the message). */
async function waitFor(session: string, re: RegExp): Promise<string> {
  const until = Date.now() + 10_000;
  for (;;) {
    const text = screen(session);
    if (re.test(text)) return text;
    if (Date.now() > until) throw new Error(`timed out waiting for ${re} in:\n${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts `berth ...args` in a new detached tmux session of the given size. */
function startSession(name: string, cols: number, rows: number, ...args: string[]): void {
  const cmd = [BIN, '--root', root, ...args].map((a) => `'${a}'`).join(' ');
  tmux('new-session', '-d', '-s', name, '-x', String(cols), '-y', String(rows), `${cmd}; echo "berth exited $?"; sleep 600`);
  sessions.push(name);
}

describe.skipIf(!hasTmux)('interactive sessions (tmux)', () => {
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-tty-'));
    root = path.join(dir, 'root');
    const rootfs = await createBusyboxRootfs(path.join(dir, 'rootfs'));
    execFileSync('tar', ['-C', rootfs, '-cf', path.join(dir, 'busybox.tar'), '.']);
    execFileSync(BIN, ['--root', root, '--storage-driver', 'overlay2', 'import', '-c', 'CMD ["sh"]', path.join(dir, 'busybox.tar'), 'busybox:latest']);
  }, 60_000);

  afterAll(async () => {
    for (const s of sessions) spawnSync('tmux', ['-L', `berth-test-${process.pid}`, 'kill-session', '-t', s]);
    spawnSync('tmux', ['-L', `berth-test-${process.pid}`, 'kill-server']);
    spawnSync(BIN, ['--root', root, 'rm', '-f', 'tty1']);
    await removeDefaultNetwork(root);
    await fs.rm(dir, { recursive: true, force: true });
    removeIdleCgroupParents();
  });

  it('types into a shell, sees its size and resizes, interrupts, detaches, attaches again and exits', async () => {
    const s1 = `run-${process.pid}`;
    startSession(s1, 100, 30, 'run', '-it', '--name', 'tty1', 'busybox', 'sh');
    await waitFor(s1, /^\/ #/m);
    tmux('send-keys', '-t', s1, 'echo typed-$((40+2)); tty; stty size', 'Enter');
    const first = await waitFor(s1, /typed-42\n\/dev\/pts\/0\n30 100\n/);
    expect(first).toContain('typed-42');
    tmux('resize-window', '-t', s1, '-x', '120', '-y', '40');
    await new Promise((r) => setTimeout(r, 200));
    tmux('send-keys', '-t', s1, 'stty size', 'Enter');
    await waitFor(s1, /\n40 120\n/);
    // Ctrl-C reaches the container's foreground process, not berth.
    tmux('send-keys', '-t', s1, 'sleep 100', 'Enter');
    await new Promise((r) => setTimeout(r, 300));
    tmux('send-keys', '-t', s1, 'C-c');
    tmux('send-keys', '-t', s1, 'echo status=$?', 'Enter');
    await waitFor(s1, /status=130/);
    // Ctrl-P Ctrl-Q leaves it running.
    tmux('send-keys', '-t', s1, 'C-p', 'C-q');
    await waitFor(s1, /berth exited 0/);
    const ps = execFileSync(BIN, ['--root', root, 'ps'], { encoding: 'utf8' });
    expect(ps).toMatch(/tty1\n/);
    expect(ps).toMatch(/Up /);
    // Attach again from another terminal: the same shell, its history of variables kept.
    const s2 = `attach-${process.pid}`;
    startSession(s2, 80, 24, 'attach', 'tty1');
    await new Promise((r) => setTimeout(r, 300));
    tmux('send-keys', '-t', s2, 'echo again-$((6*7))', 'Enter');
    await waitFor(s2, /again-42/);
    tmux('send-keys', '-t', s2, 'exit 3', 'Enter');
    await waitFor(s2, /berth exited 3/);
    const status = execFileSync(BIN, ['--root', root, 'ps', '-a'], { encoding: 'utf8' });
    expect(status).toMatch(/Exited \(3\)/);
    const logs = execFileSync(BIN, ['--root', root, 'logs', 'tty1'], { encoding: 'utf8' });
    expect(logs).toContain('typed-42');
    expect(logs).toContain('again-42');
  }, 60_000);
});
