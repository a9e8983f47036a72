/**
 * `docker load` and reading an OCI image layout: an archive (a stream, a tar file's path, or a
 * layout directory's path) becomes images in an {@link ImageStore}. `docker save` archives of
 * both forms (modern, legacy) are read through their `manifest.json`; an archive without one
 * through its OCI `index.json`. The store's ingest lock is held for the whole load, so garbage
 * collection never takes a blob or layer before its image record names it; a load that fails
 * writes no image record and no name, and what it had stored is collected.
 * @module
 */
import type { Readable } from 'node:stream';
import type { ImageStore } from '../image-store.js';
import { archiveFiles, type ArchiveFiles } from './archive-files.js';
import { dockerPlans } from './docker-manifest.js';
import type { ImagePlan } from './image-plan.js';
import { ingestPlans, type IngestOptions, type LoadResult } from './ingest.js';
import { ociPlans, type OciPlanOptions } from './oci-index.js';

/** Options of {@link loadArchive} and {@link readOciLayout}. */
export interface LoadOptions extends IngestOptions, OciPlanOptions {}

/** Opens the archive, plans its images and stores them under the ingest lock; collects garbage on failure. */
async function load(store: ImageStore, source: Readable | string, options: LoadOptions, plan: (files: ArchiveFiles) => Promise<ImagePlan[]>): Promise<LoadResult> {
  const lock = await store.ingestLock();
  let result: LoadResult;
  try {
    const files = await archiveFiles(source, store.root, {
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (p) => options.onProgress?.({ stage: 'read', ...p }),
    });
    try {
      result = await ingestPlans(store, files, await plan(files), options);
    } finally {
      await files.close();
    }
  } catch (err) {
    lock.release();
    await store.collect().catch(() => undefined); // the load's error is the one to report
    throw err;
  }
  lock.release();
  return result;
}

/**
 * Loads the images of a `docker save` archive (`docker load`): the modern form of Docker 25+
 * (`blobs/sha256/…`, `index.json`, `manifest.json`) or the legacy one (`<id>/layer.tar`), with
 * several images and names, layers uncompressed, gzip or zstd (detected from their first
 * bytes), the archive itself plain, gzip or zstd; an OCI layout without `manifest.json` loads
 * as {@link readOciLayout} would. Every digest the archive gives is checked, and each layer's
 * blob is kept as given so a later save or push keeps its digest. Throws {@link ImageError}
 * `EINVALIDARCHIVE` (not a tar, no `manifest.json` nor `index.json`, a missing entry, a config
 * that is not JSON), {@link ContentError} `EDIGEST` or {@link LayerError} `EDIGEST` (a DiffID
 * mismatch), each naming the entry at fault, and leaves no image or name behind.
 */
export function loadArchive(store: ImageStore, source: Readable | string, options: LoadOptions = {}): Promise<LoadResult> {
  return load(store, source, options, async (files) => (await dockerPlans(files)) ?? ociPlans(files, options));
}

/**
 * Loads the images an OCI image layout lists in its `index.json`, from a directory or a tar
 * (stream or file): for a multi-platform image, this host's platform; attestations skipped.
 * Names come from the index's annotations (see {@link OciPlanOptions.repository} for layouts
 * that name images by tag only). Errors as {@link loadArchive}.
 */
export function readOciLayout(store: ImageStore, source: string | Readable, options: LoadOptions = {}): Promise<LoadResult> {
  return load(store, source, options, (files) => ociPlans(files, options));
}
