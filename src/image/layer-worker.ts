/**
 * The entry of a layer worker thread (see layer-workers.ts): applies each job it is sent with
 * {@link applyLayerInto} and answers with the result or the error, one job at a time.
 * @module
 */
import { parentPort } from 'node:worker_threads';
import { applyLayerInto } from './layer-apply.js';
import { serializeError, type LayerJob, type LayerJobReply } from './layer-workers.js';

parentPort?.on('message', (job: LayerJob) => {
  applyLayerInto(job.source, job.dir, job.options).then(
    (result) => parentPort!.postMessage({ ok: true, result } satisfies LayerJobReply),
    (err: unknown) => parentPort!.postMessage({ ok: false, error: serializeError(err) } satisfies LayerJobReply),
  );
});
