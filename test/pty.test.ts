// Terminals: the addon's pty calls, a container whose process has a terminal from its own
// devpts (tty, stty size from consoleSize, resize with SIGWINCH, Ctrl-C as a byte), exec with a
// terminal, and runc's --console-socket protocol through berth-runtime.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Container, getWindowSize, makeRaw, openPty, recvFd, restoreTerminal, setWindowSize, socketPair, sendFd, TerminalStream, closeFd } from '../src/index.js';
import { shSpec, workspace, type Workspace } from './support.js';

const runtimeBin = fileURLToPath(new URL('../bin/berth-runtime', import.meta.url));

/** Reads a terminal until `pattern` shows up in what came out (or the stream ends). */
function until(t: TerminalStream, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { cleanup(); reject(new Error(`timed out waiting for ${pattern}; got ${JSON.stringify(out)}`)); }, timeoutMs);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (pattern.test(out)) { cleanup(); resolve(out); }
    };
    const onEnd = (): void => { cleanup(); resolve(out); };
    const cleanup = (): void => { clearTimeout(timer); t.off('data', onData); t.off('end', onEnd); };
    t.on('data', onData);
    t.on('end', onEnd);
  });
}

describe('pty calls', () => {
  it('opens a pair, sets and reads the size, makes raw and restores', () => {
    const p = openPty();
    try {
      expect(p.path).toMatch(/^\/dev\/pts\/\d+$/);
      setWindowSize(p.master, { cols: 120, rows: 40 });
      expect(getWindowSize(p.slave)).toEqual({ cols: 120, rows: 40 });
      const saved = makeRaw(p.slave);
      expect(saved.length).toBeGreaterThan(0);
      restoreTerminal(p.slave, saved);
    } finally {
      closeFd(p.master);
      closeFd(p.slave);
    }
  });

  it('passes an fd over a socketpair with its message', () => {
    const [a, b] = socketPair();
    const p = openPty();
    try {
      sendFd(a, p.master, p.path);
      const got = recvFd(b)!;
      expect(got.data).toBe(p.path);
      setWindowSize(got.fd, { cols: 7, rows: 3 });
      expect(getWindowSize(p.slave)).toEqual({ cols: 7, rows: 3 });
      closeFd(got.fd);
      expect(recvFd(b)).toBeNull();
    } finally {
      for (const fd of [a, b, p.master, p.slave]) closeFd(fd);
    }
  });
});

describe('container terminals', () => {
  let ws: Workspace;
  beforeAll(async () => { ws = await workspace('pty'); });
  afterAll(async () => { await ws.cleanup(); });

  it('gives the process a tty of its own devpts, sized from consoleSize, resizable', async () => {
    const spec = shSpec('tty; stty size; trap "stty size" WINCH; echo ready; while :; do sleep 0.1; done', (s) => {
      s.process!.terminal = true;
      s.process!.consoleSize = { height: 33, width: 111 };
    });
    const c = await Container.create({ id: ws.id('tty'), bundle: ws.dir, spec, root: ws.stateRoot });
    const t = c.process.terminal!;
    expect(t).toBeInstanceOf(TerminalStream);
    const first = until(t, /ready/);
    await c.start();
    const out = await first;
    expect(out).toMatch(/^\/dev\/pts\/0\r\n33 111\r\nready\r\n/);
    const resized = until(t, /20 90/);
    c.process.resize(90, 20);
    await resized;
    await c.kill('SIGKILL');
    expect((await c.wait()).signal).toBe('SIGKILL');
    await c.delete();
  });

  it('delivers Ctrl-C written to the master to the foreground process', async () => {
    const spec = shSpec('echo go; sleep 100; echo not-reached', (s) => { s.process!.terminal = true; });
    const c = await Container.create({ id: ws.id('ctrlc'), bundle: ws.dir, spec, root: ws.stateRoot });
    const t = c.process.terminal!;
    const go = until(t, /go/);
    await c.start();
    await go;
    await new Promise((r) => setTimeout(r, 200)); // sleep is running
    const started = Date.now();
    t.write('\x03');
    const r = await c.wait();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(r.exitCode === 130 || r.signal === 'SIGINT').toBe(true);
    await c.delete();
  });

  it('execs with a terminal of its own', async () => {
    const c = await Container.create({ id: ws.id('exec'), bundle: ws.dir, spec: shSpec('sleep 100'), root: ws.stateRoot });
    await c.start();
    const p = c.exec({ args: ['sh', '-c', 'tty; stty size; read line; echo "got $line"'], terminal: true, consoleSize: { width: 50, height: 10 } });
    await p.spawned;
    const t = p.terminal!;
    const seen = until(t, /got hello/);
    t.write('hello\r');
    const out = await seen;
    expect(out).toMatch(/\/dev\/pts\/\d+\r\n/);
    expect(out).toContain("10 50\r\n");
    expect((await p).exitCode).toBe(0);
    await c.delete({ force: true });
  });

  it('berth-runtime sends the master to --console-socket (runc protocol)', async () => {
    const bundle = ws.dir;
    const sockPath = path.join(ws.dir, 'console.sock');
    // A receiver like runc's recvtty: accept one connection, take the fd from its message.
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((r) => server.listen(sockPath, r));
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const id = ws.id('cs');
    const spec = shSpec('stty size; sleep 100', (s) => { s.process!.terminal = true; s.process!.consoleSize = { height: 12, width: 34 }; });
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path.join(bundle, 'config.json'), JSON.stringify(spec));
    const created = new Promise<void>((resolve, reject) => execFile(process.execPath, [runtimeBin, '--root', ws.stateRoot, 'create', '--bundle', bundle, '--console-socket', sockPath, id], (err, _o, stderr) => (err ? reject(new Error(stderr)) : resolve())));
    const conn = await accepted;
    await created;
    // net.Socket drops SCM_RIGHTS, so read the message natively from a dup of its fd.
    const fd = (conn as unknown as { _handle: { fd: number } })._handle.fd;
    const got = recvFd(fd, true)!;
    conn.destroy();
    server.close();
    expect(got.data).toMatch(/^\/dev\/pts\/\d+$/);
    const t = new TerminalStream(got.fd);
    const seen = until(t, /12 34/);
    const c = await Container.load(id, { root: ws.stateRoot });
    await c.start();
    await seen;
    await c.delete({ force: true });
    t.destroy();
    expect(existsSync(path.join(ws.stateRoot, id))).toBe(false);
  });
});
