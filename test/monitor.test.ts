// Detached containers through berth-monitor, on the real kernel: a container started by a
// child node process keeps running and logging across `kill -9` of that process, and this
// process then reads its complete log, attaches, execs, stops and removes it; restart policies
// (on-failure:N, always, unless-stopped and stop); --rm with no berth process alive; the
// json-file log (valid, ordered lines; tail, since, timestamps); a terminal through the monitor.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBusyboxRootfs, Engine, EngineError, formatLogEntry, monitorAlive, readMonitorState, type EngineContainer, type LogEntry } from '../src/index.js';
import { collect, removeDefaultNetwork, removeIdleCgroupParents } from './support.js';

const distIndex = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/** Polls `fn` until it returns a truthy value (or fails after `ms`). */
async function eventually<T>(fn: () => T | Promise<T>, ms = 15_000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function allLogs(c: EngineContainer, options: Parameters<EngineContainer['logs']>[0] = {}): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of c.logs(options)) out.push(e);
  return out;
}

/** Pids of berth-monitor processes holding a file under `dir`. */
function monitorsUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (!readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('berth-monitor')) continue;
      if (readdirSync(`/proc/${p}/fd`).some((fd) => { try { return readlinkSync(`/proc/${p}/fd/${fd}`).startsWith(dir); } catch { return false; } })) pids.push(Number(p));
    } catch {
      // gone
    }
  }
  return pids;
}

describe('detached containers (berth-monitor)', () => {
  let dir: string;
  let root: string;
  let engine: Engine;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-monitor-'));
    root = path.join(dir, 'root');
    const rootfs = await createBusyboxRootfs(path.join(dir, 'rootfs'));
    const tar = execFileSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 });
    engine = await Engine.open({ root, storageDriver: 'overlay2' });
    await engine.import(tar, { reference: 'busybox:test', config: { Cmd: ['sh'] } });
  }, 60_000);

  afterAll(async () => {
    for (const c of await engine.containers()) await c.remove({ force: true }).catch(() => undefined);
    expect(monitorsUnder(dir)).toEqual([]);
    await removeDefaultNetwork(engine);
    await rm(dir, { recursive: true, force: true });
    removeIdleCgroupParents();
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
  });

  it('keeps running and logging across kill -9 of the process that started it; a later process logs, attaches, execs, stops and removes it', async () => {
    // The starter: a child node process that runs the container detached, says so, and waits.
    const script = `
      import { Engine } from ${JSON.stringify(distIndex)};
      const engine = await Engine.open({ root: ${JSON.stringify(root)} });
      const c = await engine.run('busybox:test', { name: 'survivor', detach: true, interactive: true,
        cmd: ['sh', '-c', 'i=0; while [ $i -lt 40 ]; do echo out $i; echo err $i >&2; i=$((i+1)); sleep 0.05; done; while read line; do echo "in: $line"; [ "$line" = quit ] && exit 7; done'] });
      console.log(c.id);
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const id = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
      child.once('exit', (code) => reject(new Error(`starter exited ${code}`)));
    });
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    process.kill(child.pid!, 'SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const later = await Engine.open({ root });
    const c = await later.container('survivor');
    // Every line the container writes after its starter died is in the log.
    const logged = await eventually(async () => {
      const l = await allLogs(c);
      return l.filter((e) => e.log.startsWith('out ')).length === 40 ? l : undefined;
    }, 15_000, 'the whole log');
    expect(logged.filter((e) => e.stream === 'stdout').map((e) => e.log)).toEqual(Array.from({ length: 40 }, (_, i) => `out ${i}\n`));
    expect(logged.filter((e) => e.stream === 'stderr').map((e) => e.log)).toEqual(Array.from({ length: 40 }, (_, i) => `err ${i}\n`));
    expect((await c.describe()).state).toBe('running');
    expect((await later.containers()).map((x) => x.name)).toContain('survivor');

    // exec into it from this process.
    const p = c.exec({ args: ['sh', '-c', 'echo exec-ok; cat /proc/1/cmdline | tr "\\0" " "'], stdio: ['ignore', 'pipe', 'pipe'] });
    const execOut = collect(p.stdout);
    expect((await p).exitCode).toBe(0);
    expect(await execOut).toMatch(/^exec-ok\nsh -c /);

    // attach: stdin reaches it, its output comes back, to two attachers at once.
    const a1 = await c.attach({ stdin: true });
    const a2 = await c.attach();
    const seen1 = collect(a1.stdout);
    const seen2 = collect(a2.stdout);
    a1.stdin!.write('hello\n');
    await eventually(async () => (await allLogs(c)).some((e) => e.log === 'in: hello\n'), 10_000, 'stdin echo');
    a1.stdin!.write('quit\n');
    expect(await a1.exited).toBe(7);
    expect(await seen1).toBe('in: hello\nin: quit\n');
    expect(await seen2).toBe('in: hello\nin: quit\n');
    const r = await c.wait();
    expect(r.exitCode).toBe(7);
    const d = await c.describe();
    expect(d.state).toBe('exited');
    expect(d.text).toMatch(/^Exited \(7\) /);
    const inspect = await c.inspect();
    expect(inspect.State.ExitCode).toBe(7);
    expect(Date.parse(inspect.State.FinishedAt!)).toBeGreaterThan(Date.parse(inspect.State.StartedAt!));
    await c.remove();
    expect(existsSync(path.join(root, 'containers', id))).toBe(false);
  }, 60_000);

  it('stops a detached container through its monitor (SIGTERM ignored: SIGKILL after the timeout)', async () => {
    const c = await engine.run('busybox:test', { detach: true, cmd: ['sh', '-c', 'trap "" TERM; echo up; while :; do sleep 0.1; done'] });
    await eventually(async () => (await allLogs(c)).length > 0, 10_000, 'up');
    const t0 = Date.now();
    await c.stop({ timeout: 1 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect((await c.wait()).exitCode).toBe(137);
    expect((await c.describe()).state).toBe('exited');
    await c.remove();
  }, 30_000);

  it('restarts on-failure at most N times, with backoff', async () => {
    const c = await engine.run('busybox:test', { detach: true, restart: 'on-failure:2', cmd: ['sh', '-c', 'echo run; exit 3'] });
    await eventually(() => readMonitorState(c.dir)?.status === 'exited', 15_000, 'the last exit');
    const s = readMonitorState(c.dir)!;
    expect(s.restartCount).toBe(2);
    expect(s.exitCode).toBe(3);
    expect((await allLogs(c)).map((e) => e.log)).toEqual(['run\n', 'run\n', 'run\n']);
    expect((await c.inspect()).RestartCount).toBe(2);
    await c.remove();
  }, 30_000);

  it('restarts always (even after exit 0) until stopped; unless-stopped is not restarted after stop', async () => {
    for (const policy of ['always', 'unless-stopped'] as const) {
      const c = await engine.run('busybox:test', { detach: true, restart: policy, cmd: ['sh', '-c', 'echo run; sleep 0.1'] });
      await eventually(() => (readMonitorState(c.dir)?.restartCount ?? 0) >= 2, 15_000, `${policy} restarts`);
      const again = await engine.container(c.id);
      await again.stop({ timeout: 2 });
      const s = readMonitorState(c.dir)!;
      expect(s.status).toBe('exited');
      expect(s.stoppedByUser).toBe(true);
      const count = s.restartCount;
      await new Promise((r) => setTimeout(r, 800));
      expect(readMonitorState(c.dir)!.restartCount).toBe(count);
      expect((await again.describe()).state).toBe('exited');
      await again.remove();
    }
  }, 60_000);

  it('--rm removes it after its exit with no berth process alive', async () => {
    const script = `
      import { Engine } from ${JSON.stringify(distIndex)};
      const engine = await Engine.open({ root: ${JSON.stringify(root)} });
      const c = await engine.run('busybox:test', { detach: true, autoRemove: true, cmd: ['sh', '-c', 'sleep 1; echo bye'] });
      console.log(c.id);
    `;
    const id = execFileSync(process.execPath, ['--input-type=module', '-e', script]).toString().trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    // The starter has exited; only the monitor (then the cleanup it becomes) is left.
    expect(existsSync(path.join(root, 'containers', id, 'container.json'))).toBe(true);
    await eventually(() => !existsSync(path.join(root, 'containers', id)), 20_000, 'the removal');
    expect(existsSync(path.join(root, 'runtime', id))).toBe(false);
    await expect(engine.container(id)).rejects.toThrow(/no such container/);
  }, 30_000);

  it('--rm with a session that removes it: the monitor waits for that session, and cleans up itself only if the session left it undone', async () => {
    /** What /proc/PID/cmdline said, polled until the process is gone (a cleanup's node lives for tens of ms). */
    const cmdlinesUntilGone = async (pid: number): Promise<Set<string>> => {
      const seen = new Set<string>();
      const end = Date.now() + 20_000;
      for (;;) {
        let cmd: string;
        try {
          cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!;
          if (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z')) return seen;
        } catch {
          return seen;
        }
        if (cmd !== '') seen.add(cmd); // empty while it exits
        if (Date.now() > end) throw new Error(`pid ${pid} still there`);
        await new Promise((r) => setImmediate(r));
      }
    };
    const make = async (): Promise<EngineContainer> => engine.create('busybox:test', { detach: true, autoRemove: true, cmd: ['sh', '-c', 'echo hi'] });

    // The session removes it: the monitor waits, then leaves without running its cleanup.
    const c = await make();
    const s = await c.attach({ removes: true });
    await c.start();
    expect(await s.exited).toBe(0);
    const state = readMonitorState(c.dir)!;
    expect(state.removalBySession).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(monitorAlive(state)).toBe(true); // waiting for us, not removing
    expect(existsSync(path.join(c.dir, 'container.json'))).toBe(true);
    await c.remove({ force: true });
    const watched = cmdlinesUntilGone(state.monitorPid);
    s.close();
    expect([...(await watched)]).toEqual(['berth-monitor']);
    expect(existsSync(c.dir)).toBe(false);

    // The session leaves without removing it (its process died): the monitor's cleanup does.
    const d = await make();
    const s2 = await d.attach({ removes: true });
    await d.start();
    expect(await s2.exited).toBe(0);
    s2.close();
    await eventually(() => !existsSync(d.dir), 20_000, 'the cleanup');
    await expect(engine.container(d.id)).rejects.toThrow(/no such container/);

    // rm -f from elsewhere while such a session is attached and idle (stopped with Ctrl-Z, say):
    // the monitor waits for that session, the removal does not wait for the monitor.
    const f = await engine.create('busybox:test', { detach: true, autoRemove: true, cmd: ['sleep', '600'] });
    const s3 = await f.attach({ removes: true });
    await f.start();
    const fMonitor = readMonitorState(f.dir)!.monitorPid;
    const t0 = Date.now();
    await (await engine.container(f.id)).remove({ force: true });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(existsSync(f.dir)).toBe(false);
    expect(await s3.exited).toBe(137);
    const fWatched = cmdlinesUntilGone(fMonitor);
    s3.close();
    expect([...(await fWatched)]).toEqual(['berth-monitor']); // gone without a cleanup of its own

    // Only an autoRemove container can be removed that way.
    const e = await engine.create('busybox:test', { detach: true, cmd: ['true'] });
    await expect(e.attach({ removes: true })).rejects.toThrow(EngineError);
    await expect(e.attach({ removes: true })).rejects.toThrow(/removes: container .* was not created with autoRemove/);
    await e.remove({ force: true });
  }, 60_000);

  it('writes valid, ordered json-file lines; tail, since and timestamps', async () => {
    const c = await engine.run('busybox:test', { detach: true, cmd: ['sh', '-c', 'echo "a \\"q\\" <b> & \\\\ tab\there"; printf "no-newline"; sleep 0.3; echo x; echo y; printf "\\344\\275\\240\\377\\n"'] });
    await c.wait();
    const text = readFileSync(c.logPath, 'utf8');
    const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l) as LogEntry);
    expect(Object.keys(lines[0]!)).toEqual(['log', 'stream', 'time']);
    expect(text).toContain('\\u003cb\\u003e \\u0026'); // Go's escaping, as Docker writes it
    expect(lines.map((e) => e.log)).toEqual(['a "q" <b> & \\ tab\there\n', 'no-newlinex\n', 'y\n', '你\ufffd\n']);
    const times = lines.map((e) => e.time);
    for (const t of times) expect(t).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
    expect([...times].sort()).toEqual(times);
    expect((await allLogs(c, { tail: 2 })).map((e) => e.log)).toEqual(['y\n', '你\ufffd\n']);
    expect(await allLogs(c, { tail: 0 })).toEqual([]);
    const since = await allLogs(c, { since: times[1]! });
    expect(since.map((e) => e.log)).toEqual(['no-newlinex\n', 'y\n', '你\ufffd\n']);
    expect(formatLogEntry(lines[2]!, { timestamps: true })).toBe(`${times[2]} y\n`);
    await c.remove();
  }, 30_000);

  it('gives a detached container a terminal that attachers can resize and type into', async () => {
    const c = await engine.create('busybox:test', { detach: true, tty: true, interactive: true, consoleSize: { cols: 80, rows: 24 }, cmd: ['sh', '-c', 'tty; stty size; trap "stty size" WINCH; until [ -n "$x" ]; do read x; done; echo "got $x"'] });
    const a = await c.attach({ stdin: true });
    let out = '';
    a.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    await c.start();
    await eventually(() => out.includes('24 80'), 10_000, 'stty size');
    a.resize(100, 30);
    await eventually(() => out.includes('30 100'), 10_000, 'resize');
    a.stdin!.write('typed\r');
    expect(await a.exited).toBe(0);
    if (!a.stdout.readableEnded) await new Promise((r) => a.stdout.once('end', r));
    expect(out).toMatch(/^\/dev\/pts\/0\r\n24 80\r\n/);
    expect(out).toContain('got typed');
    const logged = (await allLogs(c)).map((e) => e.log).join('');
    expect(logged).toContain('got typed\r\n');
    await c.remove();
  }, 30_000);
});
