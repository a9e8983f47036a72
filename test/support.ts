// Shared test fixtures: a busybox rootfs per test file, a state root per file, and a helper
// that runs one container and collects its output.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmdirSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Container, createBusyboxRootfs, defaultSpec, Engine, NetworkError, type ExitResult, type Spec } from '../src/index.js';

/**
 * Removes the default network (`bridge`) of an engine or of the root at a path, if it was made:
 * it outlives its containers, as docker0 does, so a test that ran containers on it takes it down.
 */
export async function removeDefaultNetwork(engineOrRoot: Engine | string): Promise<void> {
  const engine = typeof engineOrRoot === 'string' ? await Engine.open({ root: engineOrRoot }) : engineOrRoot;
  try {
    await engine.networks.remove('bridge');
  } catch (err) {
    if (!(err instanceof NetworkError && err.code === 'ENOENT')) throw err;
  }
}

/** A scratch directory holding a busybox rootfs and a state root. */
export interface Workspace {
  dir: string;
  rootfs: string;
  stateRoot: string;
  /** A unique container id for this file. */
  id(name: string): string;
  cleanup(): Promise<void>;
}

let counter = 0;

/** Makes a workspace under /tmp; the caller must cleanup(). */
export async function workspace(tag: string): Promise<Workspace> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `berth-test-${tag}-`));
  await chmod(dir, 0o755); // user-namespaced containers must reach their rootfs
  const rootfs = await createBusyboxRootfs(path.join(dir, 'rootfs'));
  const stateRoot = path.join(dir, 'state');
  return {
    dir,
    rootfs,
    stateRoot,
    id: (name) => `t-${tag}-${name}-${process.pid}-${counter++}`,
    cleanup: async () => {
      for (const c of await Container.list({ root: stateRoot })) await c.delete({ force: true }).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      removeIdleCgroupParents();
    },
  };
}

/**
 * Removes berth's shared /berth cgroup parents where no container is left in them, so a test
 * run leaves the host's cgroups as it found them (rmdir fails harmlessly on a busy one).
 */
export function removeIdleCgroupParents(): void {
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
    try {
      rmdirSync(path.join('/sys/fs/cgroup', hierarchy, 'berth'));
    } catch {
      // busy (another test file's container) or absent
    }
  }
}

/** The default spec running `sh -c script`, with `edit` applied. */
export function shSpec(script: string, edit?: (spec: Spec) => void): Spec {
  const spec = defaultSpec();
  spec.process!.args = ['sh', '-c', script];
  edit?.(spec);
  return spec;
}

/** Reads a stream to a string. */
export async function collect(stream: Readable | null): Promise<string> {
  if (!stream) return '';
  let out = '';
  for await (const chunk of stream) out += chunk.toString();
  return out;
}

/** Creates, starts and waits for a container; returns its result and output, and deletes it. */
export async function run(ws: Workspace, spec: Spec, name = 'run'): Promise<ExitResult & { stdout: string; stderr: string }> {
  const c = await Container.create({ id: ws.id(name), bundle: ws.dir, spec, root: ws.stateRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = collect(c.process.stdout);
  const err = collect(c.process.stderr);
  await c.start();
  const result = await c.wait();
  const [stdout, stderr] = await Promise.all([out, err]);
  await c.delete();
  return { ...result, stdout, stderr };
}

/**
 * Whether every command is installed; when one is not, prints which and that
 * scripts/host-deps.sh (run by .ci/run) installs it, so that a skip always says why.
 */
export function installed(file: string, ...commands: string[]): boolean {
  const missing = commands.filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
  if (missing.length > 0) console.log(`${path.basename(file)}: SKIPPING: ${missing.join(', ')} not installed (scripts/host-deps.sh installs it)`);
  return missing.length === 0;
}
