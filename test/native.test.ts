// The native addon on a real kernel, as root. Vitest runs each file in its own process, so the
// once-per-process initHelper() here uses the real build/Release/berth-init. Checks that need
// a helper that stays alive, a fresh process or a Worker run in a child node process against
// the raw addon with /usr/bin/yes as the "helper" (it runs until killed, stdout is /dev/null).
import { execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NativeError } from '../src/errors.js';
import * as native from '../src/native/index.js';

const execFileP = promisify(execFile);
const CLONE_NEWNS = 0x00020000;
const CLONE_NEWCGROUP = 0x02000000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_NEWNET = 0x40000000;
const CLONE_NEWTIME = 0x00000080;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-native-'));
});
afterAll(() => {
  // Scripts log every helper they start; kill any still running (a script that failed early).
  const logged = fs.existsSync(pidLog()) ? fs.readFileSync(pidLog(), 'utf8').split(/\s+/).filter(Boolean) : [];
  for (const pid of logged.map(Number)) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/exe`).startsWith('/memfd:berth-init')) process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** File where the child scripts log the pids of the helpers they start. */
function pidLog(): string {
  return path.join(tmp, 'helper-pids');
}

/** Expects fn to throw a NativeError with the given code (and stage, if given). */
function expectNativeError(fn: () => unknown, code: string, stage?: string): NativeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(NativeError);
    const e = err as NativeError;
    expect(e.code).toBe(code);
    expect(e.errno).toBe((os.constants.errno as Record<string, number>)[code]);
    if (stage !== undefined) expect(e.stage).toBe(stage);
    return e;
  }
  throw new Error(`expected ${code}, nothing thrown`);
}

/** Open fds of this process. */
function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/**
 * Runs an ES module script in a fresh node process; resolves with its parsed last stdout line.
 * stderr is inherited: a helper left running by the script holds it, and must not delay us.
 */
async function runScript(name: string, body: string, args: string[] = []): Promise<any> {
  const file = path.join(tmp, `${name}.mjs`);
  const prelude = `import { createRequire } from 'node:module';\n` +
    `import { appendFileSync } from 'node:fs';\n` +
    `const addon = createRequire(import.meta.url)(${JSON.stringify(native.addonPath)});\n` +
    `const spawnHelper = addon.spawnHelper;\n` +
    `addon.spawnHelper = () => { const h = spawnHelper(); appendFileSync(${JSON.stringify(pidLog())}, h.pid + '\\n'); return h; };\n`;
  fs.writeFileSync(file, prelude + body);
  const child = spawn(process.execPath, [...args, file], { stdio: ['ignore', 'pipe', 'inherit'], timeout: 20_000 });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
    child.on('close', (c, s) => resolve([c, s])));
  expect({ code, signal }).toEqual({ code: 0, signal: null });
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!);
}

describe('fd primitives', () => {
  it('mkfifo makes a fifo and reports EEXIST with the path', () => {
    const fifo = path.join(tmp, 'fifo');
    native.mkfifo(fifo, 0o600);
    const st = fs.statSync(fifo);
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    const e = expectNativeError(() => native.mkfifo(fifo), 'EEXIST', 'mkfifo');
    expect(e.path).toBe(fifo);
  });

  it('flock: shared locks coexist, a conflicting non-blocking lock throws EAGAIN', () => {
    const file = path.join(tmp, 'lock');
    fs.writeFileSync(file, '');
    const a = fs.openSync(file, 'r');
    const b = fs.openSync(file, 'r');
    native.flock(a, false, true);
    native.flock(b, false, true);
    expectNativeError(() => native.flock(b, true, true), 'EAGAIN', 'flock');
    fs.closeSync(b);
    native.flock(a, true, true); // upgrade, now that a is the only holder
    const c = fs.openSync(file, 'r');
    expectNativeError(() => native.flock(c, false, true), 'EAGAIN', 'flock');
    fs.closeSync(a); // closing releases the lock
    native.flock(c, true, true);
    fs.closeSync(c);
  });

  it('nsType tells namespace kinds apart and rejects other files with ENOTTY', () => {
    const kinds: Record<string, number> = {
      mnt: CLONE_NEWNS, pid: CLONE_NEWPID, net: CLONE_NEWNET, uts: CLONE_NEWUTS, ipc: CLONE_NEWIPC,
      user: CLONE_NEWUSER, cgroup: CLONE_NEWCGROUP, time: CLONE_NEWTIME,
    };
    for (const [name, flag] of Object.entries(kinds)) {
      const fd = fs.openSync(`/proc/self/ns/${name}`, 'r');
      try {
        expect(native.nsType(fd)).toBe(flag);
      } finally {
        fs.closeSync(fd);
      }
    }
    const fd = fs.openSync('/proc/self/status', 'r');
    try {
      expectNativeError(() => native.nsType(fd), 'ENOTTY', 'ioctl');
    } finally {
      fs.closeSync(fd);
    }
  });

  it('pipe and closeFd', () => {
    const [r, w] = native.pipe();
    fs.writeSync(w, 'hello');
    native.closeFd(w);
    const buf = Buffer.alloc(16);
    expect(buf.subarray(0, fs.readSync(r, buf)).toString()).toBe('hello');
    native.closeFd(r);
    expectNativeError(() => native.closeFd(r), 'EBADF', 'close');
  });

  it('sendFrame delivers a large frame and its fds (peer: python recvmsg)', async () => {
    const receiver = [
      'import socket, struct, hashlib, json, os, sys',
      's = socket.socket(fileno=0)',
      'data, fds = b"", []',
      'while True:',
      '    msg, anc, flags, addr = s.recvmsg(1 << 20, socket.CMSG_SPACE(64 * 4))',
      '    for level, kind, payload in anc:',
      '        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:',
      '            fds += list(struct.unpack("%di" % (len(payload) // 4), payload))',
      '    if not msg: break',
      '    data += msg',
      't, n = struct.unpack("<II", data[:8])',
      'contents = [os.read(fd, 100).decode() for fd in fds]',
      'print(json.dumps({"type": t, "length": n, "got": len(data) - 8,',
      '                  "sha": hashlib.sha256(data[8:]).hexdigest(), "fds": contents}))',
    ].join('\n');
    // libuv makes child stdio 'pipe's as unix socketpairs: the child's fd 0 is our peer.
    const child = spawn('python3', ['-c', receiver], { stdio: ['pipe', 'pipe', 'inherit'] });
    const sock = (child.stdin as unknown as { _handle: { fd: number } })._handle.fd;
    const payload = randomBytes(700 * 1024); // several times the socket buffer: partial writes, EAGAIN
    const [r1, w1] = native.pipe();
    const [r2, w2] = native.pipe();
    fs.writeSync(w1, 'first');
    fs.writeSync(w2, 'second');
    native.closeFd(w1);
    native.closeFd(w2);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    native.sendFrame(sock, 7, payload, [r1, r2]);
    native.closeFd(r1);
    native.closeFd(r2);
    child.stdin!.end();
    expect(await exited).toBe(0);
    expect(JSON.parse(out)).toEqual({
      type: 7, length: payload.length, got: payload.length,
      sha: createHash('sha256').update(payload).digest('hex'), fds: ['first', 'second'],
    });
  });

  it('sendFrame on a bad socket throws with the syscall as stage', () => {
    const [r, w] = native.pipe();
    expectNativeError(() => native.sendFrame(w, 1, Buffer.alloc(4)), 'ENOTSOCK', 'sendmsg');
    native.closeFd(r);
    native.closeFd(w);
  });
});

describe('pidfds and exit watching', () => {
  it('watches a process it does not own (reap=false) while libuv still reaps it', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const libuvExit = new Promise<[number | null, string | null]>((resolve) =>
      child.on('exit', (code, signal) => resolve([code, signal])));
    const pidfd = native.pidfdOpen(child.pid!);
    const watch = native.watchProcessExit(pidfd, false);
    watch.ref();
    native.pidfdSendSignal(pidfd, 'SIGTERM');
    expect(await watch.promise).toEqual({ exitCode: null, signal: null });
    expect(await libuvExit).toEqual([null, 'SIGTERM']);
    expectNativeError(() => native.pidfdSendSignal(pidfd, 0), 'ESRCH', 'pidfd_send_signal');
    native.closeFd(pidfd);
  });

  it('pidfdOpen of a missing pid throws ESRCH', () => {
    expectNativeError(() => native.pidfdOpen(2 ** 22 + 1), 'ESRCH', 'pidfd_open');
  });

  it('watchExit reports reaped=false and close() stops a watch without a callback', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const gone = new Promise((resolve) => child.on('exit', resolve));
    const pidfd = native.pidfdOpen(child.pid!);
    let called = 0;
    const handle = native.watchExit(pidfd, false, () => called++);
    expect(handle.hasRef()).toBe(false);
    handle.ref();
    expect(handle.hasRef()).toBe(true);
    handle.close();
    handle.close();
    expect(handle.hasRef()).toBe(false);
    native.closeFd(pidfd);
    child.kill('SIGKILL');
    await gone;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(called).toBe(0);
  });
});

describe('the sealed helper', () => {
  it('initHelper copies berth-init into a sealed memfd, once per process', () => {
    const fd = native.initHelper(native.helperPath);
    expect(native.helperFd()).toBe(fd);
    expect(native.initHelper(native.helperPath)).toBe(fd); // same path: no-op
    expectNativeError(() => native.initHelper('/bin/true'), 'EALREADY', 'initHelper');
    expect(fs.readlinkSync(`/proc/self/fd/${fd}`)).toMatch(/^\/memfd:berth-init/);
    const copy = fs.readFileSync(`/proc/self/fd/${fd}`);
    expect(copy.equals(fs.readFileSync(native.helperPath))).toBe(true);
  });

  it('the memfd cannot be written, truncated or grown (CVE-2019-5736)', () => {
    const fd = native.helperFd()!;
    let w: number;
    try {
      w = fs.openSync(`/proc/self/fd/${fd}`, 'r+');
    } catch (err) {
      expect(['EPERM', 'ETXTBSY', 'EACCES']).toContain((err as NodeJS.ErrnoException).code);
      return;
    }
    try {
      expect(() => fs.writeSync(w, 'x', 0)).toThrow(expect.objectContaining({ code: 'EPERM' }));
      expect(() => fs.ftruncateSync(w, 0)).toThrow(expect.objectContaining({ code: 'EPERM' }));
      expect(() => fs.ftruncateSync(w, 1 << 24)).toThrow(expect.objectContaining({ code: 'EPERM' }));
    } finally {
      fs.closeSync(w);
    }
  });

  it('spawnHelper starts the helper; watchExit reaps it and no zombie remains', async () => {
    const helper = native.spawnHelper();
    expect(helper.pid).toBeGreaterThan(0);
    expect(helper.pidfd).toBeGreaterThan(2);
    expect(helper.sock).toBeGreaterThan(2);
    native.closeFd(helper.sock); // the helper reads EOF instead of a config and ends
    const status = await new Promise<native.WatchedExit>((resolve, reject) => {
      const handle = native.watchExit(helper.pidfd, true, (err, st) => (err ? reject(err) : resolve(st!)));
      handle.ref();
    });
    expect(status.reaped).toBe(true);
    expect(status.exitCode !== null || status.signal !== null).toBe(true); // 0 for the placeholder helper
    expect(fs.existsSync(`/proc/${helper.pid}`)).toBe(false);
    native.closeFd(helper.pidfd);
  });

  it('the memfd, pidfds and sockets do not leak into child_process children', async () => {
    const helper = native.spawnHelper();
    const { stdout } = await execFileP('sh', ['-c', 'ls -l /proc/$$/fd']);
    expect(stdout).not.toContain('memfd:berth-init');
    expect(stdout).not.toContain('pidfd');
    const watch = native.watchProcessExit(helper.pidfd, true);
    watch.ref();
    native.closeFd(helper.sock);
    await watch.promise;
    native.closeFd(helper.pidfd);
  });

  it('child_process keeps working while berth watches its own children', async () => {
    const helpers = Array.from({ length: 20 }, () => native.spawnHelper());
    const watches = helpers.map((h) => native.watchProcessExit(h.pidfd, true));
    for (const w of watches) w.ref();
    const viaNode = execFileP('sh', ['-c', 'sleep 0.2; exit 7']).then(
      () => null,
      (err: { code?: number }) => err.code,
    );
    const killed = new Promise<string | null>((resolve) => {
      const c = spawn('sleep', ['30'], { stdio: 'ignore' });
      c.on('exit', (_code, signal) => resolve(signal));
      setTimeout(() => c.kill('SIGINT'), 50);
    });
    for (const h of helpers) native.closeFd(h.sock);
    const statuses = await Promise.all(watches.map((w) => w.promise));
    expect(await viaNode).toBe(7);
    expect(await killed).toBe('SIGINT');
    expect((await execFileP('sh', ['-c', 'echo ok'])).stdout).toBe('ok\n');
    for (const s of statuses) expect(s.exitCode !== null || s.signal !== null).toBe(true);
    for (const h of helpers) {
      expect(fs.existsSync(`/proc/${h.pid}`)).toBe(false);
      native.closeFd(h.pidfd);
    }
  });

  it('200 spawn+watch cycles leave no fd and no process behind', async () => {
    const before = fdCount();
    const pids: number[] = [];
    for (let i = 0; i < 200; i++) {
      const h = native.spawnHelper();
      pids.push(h.pid);
      const watch = native.watchProcessExit(h.pidfd, true);
      watch.ref();
      native.closeFd(h.sock);
      await watch.promise;
      native.closeFd(h.pidfd);
    }
    expect(fdCount()).toBe(before);
    expect(pids.filter((pid) => fs.existsSync(`/proc/${pid}`))).toEqual([]);
  }, 30_000);
});

describe('in a fresh process (raw addon, /usr/bin/yes as a helper that stays up)', () => {
  it('the helper gets fds 0-3 only, default signals, an empty mask and environment; its exe is sealed', async () => {
    const r = await runScript('inspect', `
      import fs from 'node:fs';
      addon.initHelper('/usr/bin/yes');
      const h = addon.spawnHelper();
      const proc = '/proc/' + h.pid;
      // vfork lets us go on in exec_mmap, before the kernel closes the CLOEXEC fds: let the exec finish.
      let fds = fs.readdirSync(proc + '/fd').sort();
      for (let i = 0; i < 1000 && fds.some((fd) => Number(fd) > 3); i++) fds = fs.readdirSync(proc + '/fd').sort();
      const links = fds.map((fd) => fs.readlinkSync(proc + '/fd/' + fd));
      const status = Object.fromEntries(fs.readFileSync(proc + '/status', 'utf8').trim().split('\\n')
        .map((l) => l.split(':\\t')).filter(([k]) => /^Sig(Blk|Ign|Cgt)$/.test(k)));
      const environ = fs.readFileSync(proc + '/environ').length;
      const exe = fs.readlinkSync(proc + '/exe');
      const attempts = [];
      for (const flags of ['r+', 'w', 'a']) {
        try { const fd = fs.openSync(proc + '/exe', flags); try { fs.writeSync(fd, 'x'); attempts.push('wrote'); } catch (e) { attempts.push(e.code); } fs.closeSync(fd); }
        catch (e) { attempts.push(e.code); }
      }
      const ourStderr = fs.readlinkSync('/proc/self/fd/2');
      const exit = await new Promise((resolve) => {
        const w = addon.watchExit(h.pidfd, true, (err, st) => resolve({ err: err && err.code, st }));
        w.ref();
        addon.pidfdSendSignal(h.pidfd, 9);
      });
      const zombie = fs.existsSync(proc);
      console.log(JSON.stringify({ fds, links, status, environ, exe, attempts, ourStderr, exit, zombie }));
    `);
    expect(r.fds).toEqual(['0', '1', '2', '3']);
    expect(r.links[0]).toBe('/dev/null');
    expect(r.links[1]).toBe('/dev/null');
    expect(r.links[2]).toBe(r.ourStderr);
    expect(r.links[3]).toMatch(/^socket:\[\d+\]$/);
    expect(r.status).toEqual({ SigBlk: '0000000000000000', SigIgn: '0000000000000000', SigCgt: '0000000000000000' });
    expect(r.environ).toBe(0);
    expect(r.exe).toMatch(/^\/memfd:berth-init/);
    for (const a of r.attempts) expect(['EPERM', 'ETXTBSY', 'EACCES']).toContain(a);
    expect(r.exit).toEqual({ err: null, st: { exitCode: null, signal: 9, reaped: true } });
    expect(r.zombie).toBe(false);
  });

  it('a helper that cannot be executed fails spawnHelper with the execveat errno, leaving nothing behind', async () => {
    const notElf = path.join(tmp, 'not-elf');
    fs.writeFileSync(notElf, 'plain text', { mode: 0o755 });
    const r = await runScript('noexec', `
      import fs from 'node:fs';
      addon.initHelper(${JSON.stringify(notElf)});
      const fds = () => fs.readdirSync('/proc/self/fd').length;
      const before = fds();
      const errors = [];
      for (let i = 0; i < 3; i++) {
        try { addon.spawnHelper(); errors.push(null); }
        catch (e) { errors.push({ code: e.code, errno: e.errno, syscall: e.syscall, path: e.path }); }
      }
      const children = fs.readFileSync('/proc/self/task/' + process.pid + '/children', 'utf8').trim();
      console.log(JSON.stringify({ errors, leaked: fds() - before, children }));
    `);
    const expected = { code: 'ENOEXEC', errno: os.constants.errno.ENOEXEC, syscall: 'execveat', path: notElf };
    expect(r).toEqual({ errors: [expected, expected, expected], leaked: 0, children: '' });
  });

  it('an unref\'ed watch does not keep Node alive; a ref\'ed one does until the exit', async () => {
    const r = await runScript('refs', `
      addon.initHelper('/usr/bin/yes');
      const idle = addon.spawnHelper();
      addon.watchExit(idle.pidfd, true, () => { throw new Error('must not be called'); });
      const kept = addon.spawnHelper();
      const w = addon.watchExit(kept.pidfd, true, (err, st) => {
        console.log(JSON.stringify({ idle: idle.pid, st, hasRef: w.hasRef() }));
      });
      w.ref();
      setTimeout(() => addon.pidfdSendSignal(kept.pidfd, 15), 200).unref();
    `);
    expect(r.st).toEqual({ exitCode: null, signal: 15, reaped: true });
    expect(r.hasRef).toBe(false);
    // The script ended while the unwatched helper still ran: kill the orphan.
    expect(fs.existsSync(`/proc/${r.idle}`)).toBe(true);
    process.kill(r.idle, 'SIGKILL');
  });

  it('handles survive garbage collection while watching and can be collected afterwards', async () => {
    const r = await runScript('gc', `
      addon.initHelper('/usr/bin/yes');
      const tick = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      const collected = { pending: 0, closed: 0 };
      const registry = new FinalizationRegistry((kind) => collected[kind]++);
      const results = [];
      const pidfds = [];
      // Handles are made in plain functions and dropped at once: no local keeps them alive.
      function startPending() {
        for (let i = 0; i < 20; i++) {
          const h = addon.spawnHelper();
          pidfds.push(h.pidfd);
          const w = addon.watchExit(h.pidfd, true, (err, st) => results.push(st.signal));
          w.ref();
          registry.register(w, 'pending');
        }
      }
      function startClosed() {
        for (let i = 0; i < 20; i++) {
          const c = addon.spawnHelper();
          const w = addon.watchExit(c.pidfd, true, () => results.push('closed watch called back'));
          registry.register(w, 'closed');
          w.close();
          addon.pidfdSendSignal(c.pidfd, 9);
        }
      }
      startPending();
      startClosed();
      for (let i = 0; i < 3; i++) { globalThis.gc(); await tick(20); }
      const collectedWhileWatching = { ...collected };
      for (const fd of pidfds) addon.pidfdSendSignal(fd, 9);
      while (results.length < 20) await tick(10);
      for (let i = 0; i < 5 && collected.pending < 20; i++) { globalThis.gc(); await tick(20); }
      // a callback that throws surfaces as an uncaught exception, like any event-loop callback
      const thrown = await new Promise((resolve) => {
        process.once('uncaughtException', (e) => resolve(e.message));
        const h = addon.spawnHelper();
        addon.watchExit(h.pidfd, true, () => { throw new Error('boom'); }).ref();
        addon.pidfdSendSignal(h.pidfd, 9);
      });
      console.log(JSON.stringify({ results, collectedWhileWatching, collected, thrown }));
    `, ['--expose-gc']);
    expect(r.collectedWhileWatching).toEqual({ pending: 0, closed: 20 }); // pending ones are kept
    expect(r.collected).toEqual({ pending: 20, closed: 20 }); // and collectable once they fired
    expect(r.thrown).toBe('boom');
    expect(r.results).toEqual(Array(20).fill(9));
  });

  it('a Worker that ends with watches still pending tears down cleanly', async () => {
    const r = await runScript('worker', `
      import { Worker } from 'node:worker_threads';
      addon.initHelper('/usr/bin/yes');
      const code = \`
        const { parentPort } = require('node:worker_threads');
        const addon = require(${JSON.stringify(native.addonPath)});
        addon.initHelper('/usr/bin/yes');
        const pids = [];
        for (let i = 0; i < 3; i++) {
          const h = addon.spawnHelper();
          pids.push(h.pid);
          require('node:fs').appendFileSync(${JSON.stringify(pidLog())}, h.pid + ' ');
          const w = addon.watchExit(h.pidfd, true, () => {});
          if (i === 0) w.ref();
        }
        parentPort.postMessage(pids);
        process.exit(0);
      \`;
      const worker = new Worker(code, { eval: true });
      const pids = await new Promise((resolve) => worker.once('message', resolve));
      const exitCode = await new Promise((resolve) => worker.once('exit', resolve));
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      console.log(JSON.stringify({ exitCode, pids: pids.length }));
    `);
    expect(r).toEqual({ exitCode: 0, pids: 3 });
  });
});
