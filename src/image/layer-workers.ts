/**
 * Layer extraction on worker threads. Applying a layer is CPU work on the thread that runs it
 * (tar parsing, digests, one system call after another), so a load of several layers applies
 * them at once on a small pool of workers, one core each, while the main thread stays free.
 * A worker reads its layer from a {@link FileRange} itself, so no blob crosses threads. The
 * pool grows on demand up to the number of cores and its idle workers exit after a short while
 * (they never keep the process alive). Workers run the compiled module `dist/image/layer-worker.js`.
 * @module
 */
import { rmSync } from 'node:fs';
import os from 'node:os';
import type { Worker as WorkerThread } from 'node:worker_threads';
import { lazyRequire } from '../util/lazy-require.js';
import { packagePath } from '../util/package-dir.js';
import { BerthError, NativeError } from '../errors.js';
import { ContentError, LayerError } from './errors.js';
import type { ApplyLayerOptions, ApplyLayerResult, FileRange } from './layer-apply.js';

const workerThreads = lazyRequire<typeof import('node:worker_threads')>('node:worker_threads');

/** The compiled worker entry. */
const WORKER_SCRIPT = packagePath('dist', 'image', 'layer-worker.js');
/** An idle worker exits after this long. */
const IDLE_EXIT_MS = 2000;

/** One job for a worker: apply `source` into `dir`. */
export interface LayerJob {
  /** The blob. */
  source: FileRange;
  /** The directory to apply it into. */
  dir: string;
  /** Apply options (no `worker`). */
  options: Omit<ApplyLayerOptions, 'worker'>;
}

/** An error as it crosses from a worker: enough to rebuild a typed one. */
export interface SerializedError {
  /** The class name (`LayerError`, `ContentError`, other). */
  name: string;
  /** The message without the entry prefix a LayerError adds. */
  message: string;
  /** Its code. */
  code: string;
  /** The path, entry or digest at fault. */
  path?: string;
  /** A ContentError's expected digest. */
  expected?: string;
  /** A ContentError's actual digest. */
  actual?: string;
  /** The failing step, for a NativeError. */
  stage?: string;
  /** The errno, for a NativeError. */
  errno?: number;
}

/** A worker's answer to a job. */
export type LayerJobReply = { ok: true; result: ApplyLayerResult } | { ok: false; error: SerializedError };

/** Turns an error into what crosses back from a worker. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof BerthError) {
    const prefix = err.path === undefined ? '' : `${err.path}: `;
    const message = err instanceof LayerError && prefix !== '' && err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
    return {
      name: err.name,
      message,
      code: err.code,
      ...(err.path === undefined ? {} : { path: err.path }),
      ...(err instanceof ContentError ? { ...(err.expected === undefined ? {} : { expected: err.expected }), ...(err.actual === undefined ? {} : { actual: err.actual }) } : {}),
      ...(err.stage === undefined ? {} : { stage: err.stage }),
      ...(err.errno === undefined ? {} : { errno: err.errno }),
    };
  }
  const e = err as NodeJS.ErrnoException;
  return { name: 'Error', message: e instanceof Error ? e.message : String(err), code: typeof e?.code === 'string' ? e.code : 'EIO' };
}

/** Rebuilds a typed error from a worker's: a ContentError or NativeError stays one, anything else is a LayerError. */
function deserializeError(e: SerializedError): BerthError {
  if (e.name === 'ContentError') return new ContentError(e.message, e.code, { ...(e.expected === undefined ? {} : { expected: e.expected }), ...(e.actual === undefined ? {} : { actual: e.actual }), ...(e.path === undefined ? {} : { path: e.path }) });
  if (e.name === 'NativeError') return new NativeError(e.message, { code: e.code, stage: e.stage, path: e.path, errno: e.errno });
  return new LayerError(e.message, e.code, e.path);
}

/** A job and the promise waiting on it. */
interface QueuedJob {
  job: LayerJob;
  resolve: (r: ApplyLayerResult) => void;
  reject: (e: Error) => void;
}

/** A worker of the pool and what it is doing. */
interface PoolWorker {
  thread: WorkerThread;
  /** The job in progress, if any. */
  job?: QueuedJob;
  idleTimer?: NodeJS.Timeout;
}

/** The process's pool of layer workers. */
class LayerWorkerPool {
  private readonly workers: PoolWorker[] = [];
  private readonly queue: QueuedJob[] = [];

  constructor(private readonly size: number) {}

  /** Runs a job on the first free worker (starting one if the pool has room). */
  run(job: LayerJob): Promise<ApplyLayerResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let w = this.workers.find((x) => x.job === undefined);
      if (w === undefined && this.workers.length >= this.size) return;
      const next = this.queue.shift()!;
      try {
        w ??= this.start();
      } catch (err) {
        next.reject(new LayerError(`cannot start a layer worker: ${(err as Error).message}`, 'EWORKER', undefined, err));
        continue;
      }
      try {
        w.thread.postMessage(next.job);
      } catch (err) {
        next.reject(new LayerError(`layer job cannot be sent to a worker: ${(err as Error).message}`, 'EINVAL', undefined, err));
        this.idle(w);
        continue;
      }
      clearTimeout(w.idleTimer);
      w.job = next;
      w.thread.ref();
    }
  }

  private start(): PoolWorker {
    const w: PoolWorker = { thread: new (workerThreads().Worker)(WORKER_SCRIPT) };
    w.thread.on('message', (reply: LayerJobReply) => {
      const job = w.job;
      w.job = undefined;
      this.idle(w);
      if (reply.ok) job?.resolve(reply.result);
      else job?.reject(deserializeError(reply.error));
      this.dispatch();
    });
    const gone = (err: Error): void => {
      const i = this.workers.indexOf(w);
      if (i >= 0) this.workers.splice(i, 1);
      clearTimeout(w.idleTimer);
      if (w.job !== undefined) {
        const { copyTo } = w.job.job.options;
        if (copyTo !== undefined) rmSync(copyTo, { force: true }); // the worker could not remove its copy
        w.job.reject(new LayerError(`layer worker failed: ${err.message}`, 'EWORKER', undefined, err));
      }
      w.job = undefined;
      this.dispatch();
    };
    w.thread.on('error', gone);
    w.thread.on('exit', (code) => gone(new Error(`exited with code ${code}`)));
    this.workers.push(w);
    return w;
  }

  /** Lets an idle worker not hold the process open, and ends it after a while. */
  private idle(w: PoolWorker): void {
    w.thread.unref();
    w.idleTimer = setTimeout(() => {
      const i = this.workers.indexOf(w);
      if (i >= 0 && w.job === undefined) {
        this.workers.splice(i, 1);
        void w.thread.terminate();
      }
    }, IDLE_EXIT_MS);
    w.idleTimer.unref();
  }
}

let pool: LayerWorkerPool | undefined;

/** How many layers apply at once: one per core. */
export function layerWorkerCount(): number {
  return Math.max(1, os.availableParallelism());
}

/**
 * Applies a layer from a file range into `dir` on a worker thread, as {@link applyLayerInto}
 * would on this one (same checks, same typed errors). Workers run the compiled code under
 * `dist/`, so the package must have been built.
 */
export function applyLayerInWorker(source: FileRange, dir: string, options: Omit<ApplyLayerOptions, 'worker'>): Promise<ApplyLayerResult> {
  pool ??= new LayerWorkerPool(layerWorkerCount());
  return pool.run({ source, dir, options });
}
