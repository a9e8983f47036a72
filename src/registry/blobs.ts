/**
 * Blobs on a registry: downloads that resume an interrupted transfer with a `Range` request and
 * verify size and digest before they end (so a consumer writing them into the content store
 * keeps nothing unverified), existence checks, cross-repository mounts, and monolithic or
 * chunked uploads.
 * @module
 */
import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Digest } from '../image/digest.js';
import type { Descriptor } from '../image/oci.js';
import { repositoryScope } from './auth.js';
import { isRetryableNetworkError, networkErrorCode, responseError, type Endpoint, type RegistryClient } from './client.js';
import { RegistryError, throwIfAborted, type RegistryErrorDetails } from './errors.js';

/** Options of {@link fetchBlob}. */
export interface FetchBlobOptions {
  /** Cancels the download. */
  signal?: AbortSignal;
  /** Called as bytes arrive, with the count so far. */
  onProgress?: (received: number) => void;
  /** How many times an interrupted transfer is resumed (default: the client's `retries`, 5). */
  resumes?: number;
}

/**
 * The content of a blob as it downloads: an interrupted transfer is resumed where it broke off
 * (a `Range` request; a registry that ignores it is read past what was already had). It fails
 * with RegistryError `ESIZE` when more bytes come than the descriptor says, and before its end
 * with `EDIGEST` when the content does not match the digest, so whatever consumes it sees the
 * error before it could keep anything.
 */
export async function* fetchBlob(client: RegistryClient, ep: Endpoint, repository: string, desc: Descriptor, options: FetchBlobOptions = {}): AsyncGenerator<Buffer> {
  const details: RegistryErrorDetails = { registry: ep.registry, repository, digest: desc.digest };
  const hash = createHash('sha256');
  const resumes = options.resumes ?? client.options.retries ?? 5;
  let received = 0;
  let failures = 0;
  for (;;) {
    throwIfAborted(options.signal, details);
    const res = await client.send(ep, {
      method: 'GET',
      path: `/v2/${repository}/blobs/${desc.digest}`,
      headers: received > 0 ? { Range: `bytes=${received}-` } : {},
      scopes: [repositoryScope(repository, ['pull'])],
      repository,
      digest: desc.digest,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (res.status !== 200 && res.status !== 206) throw await responseError(res, `blob ${desc.digest}`, details);
    let skip = 0;
    if (received > 0) {
      if (res.status === 206) {
        const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
        const start = m === null ? 0 : Number(m[1]);
        if (start > received) {
          res.body.destroy();
          throw new RegistryError(`registry resumed blob ${desc.digest} at byte ${start}, past the ${received} received`, 'EHTTP', details);
        }
        skip = received - start;
      } else {
        skip = received; // the whole blob again: read past what we have
      }
    }
    let complete = false;
    try {
      for await (const raw of res.body) {
        let chunk = raw as Buffer;
        if (skip > 0) {
          if (chunk.length <= skip) {
            skip -= chunk.length;
            continue;
          }
          chunk = chunk.subarray(skip);
          skip = 0;
        }
        received += chunk.length;
        if (received > desc.size) {
          throw new RegistryError(`blob ${desc.digest} is larger than the ${desc.size} bytes its descriptor says`, 'ESIZE', details);
        }
        hash.update(chunk);
        options.onProgress?.(received);
        yield chunk;
      }
      complete = true;
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      if (options.signal?.aborted || networkErrorCode(err) === 'EABORTED') throw new RegistryError('download aborted', 'EABORTED', { ...details, cause: err });
      if (!(isRetryableNetworkError(err) || networkErrorCode(err) === 'ECONNRESET') || failures >= resumes) {
        throw new RegistryError(`downloading blob ${desc.digest} from ${ep.host}: ${(err as Error).message}`, networkErrorCode(err), { ...details, cause: err });
      }
    } finally {
      if (!complete && !res.body.destroyed) res.body.destroy();
    }
    if (received >= desc.size) break;
    // The transfer broke off (an error, or an early end): resume after a backoff.
    if (++failures > resumes) throw new RegistryError(`blob ${desc.digest}: transfer kept breaking off at ${received} of ${desc.size} bytes`, 'ECONNRESET', details);
    await sleep(Math.min(5000, 100 * 2 ** (failures - 1)), undefined, options.signal ? { signal: options.signal } : {}).catch((err: unknown) => {
      throw new RegistryError('download aborted', 'EABORTED', { ...details, cause: err });
    });
  }
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== desc.digest) {
    throw new RegistryError(`blob ${desc.digest} from ${ep.host}/${repository} has digest ${actual}: the content is corrupt (nothing of it was kept)`, 'EDIGEST', details);
  }
}

/** Whether a blob is in a repository (HEAD); its size when it is. */
export async function blobSize(client: RegistryClient, ep: Endpoint, repository: string, digest: Digest, options: { signal?: AbortSignal; scopes?: string[] } = {}): Promise<number | undefined> {
  const details: RegistryErrorDetails = { registry: ep.registry, repository, digest };
  const res = await client.send(ep, {
    method: 'HEAD',
    path: `/v2/${repository}/blobs/${digest}`,
    scopes: options.scopes ?? [repositoryScope(repository, ['pull'])],
    repository,
    digest,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  res.body.resume();
  if (res.status === 200) return Number(res.headers['content-length'] ?? NaN);
  if (res.status === 404) return undefined;
  throw await responseError(res, `checking blob ${digest}`, details);
}

/** Options of {@link uploadBlob}. */
export interface UploadBlobOptions {
  /** Repositories on the same registry that may hold the blob: a cross-repository mount is tried from each before uploading. */
  mountFrom?: string[];
  /** Upload in chunks of this many bytes (PATCH each, then PUT); default: one monolithic PUT. */
  chunkSize?: number;
  /** Cancels the upload. */
  signal?: AbortSignal;
  /** Called as bytes go out, with the count so far. */
  onProgress?: (sent: number) => void;
  /** Skip the existence check (the caller made it). */
  skipExistenceCheck?: boolean;
}

/** How a blob got into the repository. */
export type UploadResult = 'exists' | 'mounted' | 'uploaded';

/** The upload session URL a registry gave (a `Location`, relative or absolute). */
function sessionLocation(client: RegistryClient, ep: Endpoint, location: string | undefined, details: RegistryErrorDetails): URL {
  if (location === undefined || location === '') throw new RegistryError('registry started an upload without a Location', 'EHTTP', details);
  return new URL(location, client.url(ep, '/'));
}

/**
 * Puts a blob into a repository: nothing when it is there already, a cross-repository mount
 * when one of `mountFrom` has it, else an upload of `open()`'s content (restarted from a new
 * session when a try fails). The registry checks the digest when the upload is committed.
 */
export async function uploadBlob(client: RegistryClient, ep: Endpoint, repository: string, desc: Descriptor, open: () => Readable, options: UploadBlobOptions = {}): Promise<UploadResult> {
  const details: RegistryErrorDetails = { registry: ep.registry, repository, digest: desc.digest };
  const pushScope = repositoryScope(repository, ['pull', 'push']);
  const signalOpt = options.signal ? { signal: options.signal } : {};
  if (options.skipExistenceCheck !== true && (await blobSize(client, ep, repository, desc.digest, { ...signalOpt, scopes: [pushScope] })) !== undefined) return 'exists';
  let started: URL | undefined;
  for (const from of options.mountFrom ?? []) {
    if (from === repository) continue;
    const res = await client.send(ep, {
      method: 'POST',
      path: `/v2/${repository}/blobs/uploads/?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from)}`,
      scopes: [pushScope, repositoryScope(from, ['pull'])],
      ...details,
      ...signalOpt,
    });
    res.body.resume();
    if (res.status === 201) return 'mounted';
    if (res.status === 202) {
      started = sessionLocation(client, ep, res.headers.location, details); // not mounted: upload in the session it opened
      break;
    }
    if (res.status === 401 || res.status === 403 || res.status === 404) continue; // no access to `from`: try the next, then upload
    throw await responseError(res, `mounting blob ${desc.digest} from ${from}`, details);
  }
  const retries = client.options.retries ?? 5;
  for (let attempt = 0; ; attempt++) {
    try {
      const session = started ?? (await startUpload(client, ep, repository, pushScope, details, options.signal));
      started = undefined;
      if (options.chunkSize !== undefined && options.chunkSize > 0 && desc.size > options.chunkSize) {
        await chunkedUpload(client, ep, desc, session, open, options.chunkSize, pushScope, details, options);
      } else {
        const url = new URL(session);
        url.searchParams.set('digest', desc.digest);
        const res = await client.send(ep, {
          method: 'PUT',
          path: url.href,
          headers: { 'Content-Type': 'application/octet-stream' },
          body: () => counted(open(), 0, options.onProgress),
          bodyLength: desc.size,
          scopes: [pushScope],
          noRetry: true,
          ...details,
          ...signalOpt,
        });
        if (res.status !== 201) throw await responseError(res, `uploading blob ${desc.digest}`, details);
        res.body.resume();
      }
      return 'uploaded';
    } catch (err) {
      const e = err as RegistryError;
      const retryable = e instanceof RegistryError && (['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ETOOMANYREQUESTS'].includes(e.code) || (e.code === 'EHTTP' && (e.status ?? 0) >= 500));
      if (!retryable || attempt >= retries || options.signal?.aborted) throw err;
      await sleep(Math.min(client.options.maxRetryDelay ?? 30_000, 200 * 2 ** attempt), undefined, signalOpt).catch((cause: unknown) => {
        throw new RegistryError('upload aborted', 'EABORTED', { ...details, cause });
      });
    }
  }
}

/** Opens an upload session (POST), returning its URL. */
async function startUpload(client: RegistryClient, ep: Endpoint, repository: string, scope: string, details: RegistryErrorDetails, signal?: AbortSignal): Promise<URL> {
  const res = await client.send(ep, { method: 'POST', path: `/v2/${repository}/blobs/uploads/`, scopes: [scope], ...details, ...(signal ? { signal } : {}) });
  if (res.status !== 202) throw await responseError(res, 'starting a blob upload', details);
  res.body.resume();
  return sessionLocation(client, ep, res.headers.location, details);
}

/** Uploads a blob in PATCH chunks and commits it with a PUT. */
async function chunkedUpload(
  client: RegistryClient,
  ep: Endpoint,
  desc: Descriptor,
  session: URL,
  open: () => Readable,
  chunkSize: number,
  scope: string,
  details: RegistryErrorDetails,
  options: UploadBlobOptions,
): Promise<void> {
  const signalOpt = options.signal ? { signal: options.signal } : {};
  let url = session;
  let offset = 0;
  const src = open();
  const it = chunks(src, chunkSize);
  try {
    for await (const chunk of it) {
      const res = await client.send(ep, {
        method: 'PATCH',
        path: url.href,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + chunk.length - 1}` },
        body: chunk,
        scopes: [scope],
        noRetry: true,
        ...details,
        ...signalOpt,
      });
      if (res.status !== 202) throw await responseError(res, `uploading a chunk of blob ${desc.digest} at ${offset}`, details);
      res.body.resume();
      offset += chunk.length;
      options.onProgress?.(offset);
      url = sessionLocation(client, ep, res.headers.location ?? url.href, details);
    }
  } finally {
    src.destroy();
  }
  const put = new URL(url);
  put.searchParams.set('digest', desc.digest);
  const res = await client.send(ep, { method: 'PUT', path: put.href, scopes: [scope], noRetry: true, ...details, ...signalOpt });
  if (res.status !== 201) throw await responseError(res, `committing blob ${desc.digest}`, details);
  res.body.resume();
}

/** A stream's content in buffers of `size` bytes (the last shorter). */
async function* chunks(src: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let have = 0;
  for await (const c of src) {
    let buf = c as Buffer;
    while (buf.length > 0) {
      const take = Math.min(size - have, buf.length);
      parts.push(buf.subarray(0, take));
      have += take;
      buf = buf.subarray(take);
      if (have === size) {
        yield Buffer.concat(parts);
        parts = [];
        have = 0;
      }
    }
  }
  if (have > 0) yield Buffer.concat(parts);
}

/** A stream passing `src` through and reporting the running byte count. */
function counted(src: Readable, start: number, onProgress?: (n: number) => void): Readable {
  if (onProgress === undefined) return src;
  let n = start;
  const out = new PassThrough();
  src.on('data', (c: Buffer) => {
    n += c.length;
    onProgress(n);
  });
  src.on('error', (err) => out.destroy(err));
  src.pipe(out);
  return out;
}
