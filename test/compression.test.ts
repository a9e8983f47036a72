// Compression detection and streaming as `docker load` does it: gzip and zstd decoded, bzip2
// and xz recognised and refused, the peeked bytes never lost, corrupt input a typed error.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compress as zstdCompress } from 'zstd-napi';
import {
  compressionOfMediaType,
  compressStream,
  decompressStream,
  detectCompression,
  isNonDistributableMediaType,
  LayerError,
  layerMediaType,
} from '../src/index.js';

/** Collects a stream. */
async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** Compresses `data` through compressStream(kind), written in small chunks. */
async function compressed(data: Buffer, kind: 'gzip' | 'zstd'): Promise<Buffer> {
  const out: Buffer[] = [];
  const z = compressStream(kind);
  const done = collect(z).then((b) => out.push(b));
  await pipeline(Readable.from(chunked(data, 1000)), z);
  await done;
  return Buffer.concat(out);
}

/** Splits a buffer into chunks of `n` bytes (1-byte chunks make the peek span several reads). */
function chunked(data: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += n) out.push(data.subarray(i, i + n));
  return out;
}

/** Runs decompressStream and expects it (or reading its stream) to fail with `code`. */
async function fails(input: Buffer, code: string): Promise<LayerError> {
  const err = await decompressStream(Readable.from(chunked(input, 7)))
    .then(({ stream }) => collect(stream))
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(LayerError);
  expect((err as LayerError).code).toBe(code);
  return err as LayerError;
}

const data = Buffer.concat([Buffer.from('hello layer '.repeat(5000)), randomBytes(100_000)]);

describe('detectCompression', () => {
  it('reads the magic numbers docker load knows', () => {
    expect(detectCompression(Buffer.from([0x1f, 0x8b, 0x08, 0]))).toBe('gzip');
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe('zstd');
    expect(detectCompression(Buffer.from('BZh91AY&SY'))).toBe('bzip2');
    expect(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 4]))).toBe('xz');
    // a zstd skippable frame (magic 0x184D2A5?, little-endian) needs its size field too
    expect(detectCompression(Buffer.from([0x5e, 0x2a, 0x4d, 0x18, 4, 0, 0, 0]))).toBe('zstd');
    expect(detectCompression(Buffer.from([0x5e, 0x2a, 0x4d, 0x18]))).toBe('none');
  });

  it('calls anything else uncompressed, including short and partial magics', () => {
    for (const head of [[], [0x1f], [0x1f, 0x8b], [0x1f, 0x8b, 0x07], [0x28, 0xb5, 0x2f], [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x01], [0x42, 0x5a]]) {
      expect(detectCompression(Buffer.from(head))).toBe('none');
    }
    expect(detectCompression(Buffer.from('usr/\0\0\0\0'))).toBe('none');
    expect(detectCompression(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]))).toBe('zstd'); // a plain Uint8Array works too
  });
});

describe('decompressStream / compressStream', () => {
  for (const kind of ['gzip', 'zstd'] as const) {
    it(`round-trips ${kind}, the peeked bytes kept even when they arrive one at a time`, async () => {
      const packed = await compressed(data, kind);
      expect(detectCompression(packed)).toBe(kind);
      expect(packed.length).toBeLessThan(data.length);
      for (const size of [1, 3, 65536]) {
        const chunks = [...chunked(packed.subarray(0, 16), size), packed.subarray(16)];
        const { compression, stream } = await decompressStream(Readable.from(chunks));
        expect(compression).toBe(kind);
        expect((await collect(stream)).equals(data)).toBe(true);
      }
    });
  }

  it('passes uncompressed content through unchanged, from a Readable or an async iterable of Uint8Array', async () => {
    const { compression, stream } = await decompressStream(Readable.from(chunked(data, 5)));
    expect(compression).toBe('none');
    expect((await collect(stream)).equals(data)).toBe(true);
    async function* gen(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array([1, 2]);
      yield new Uint8Array([3]);
    }
    const r = await decompressStream(gen());
    expect([...(await collect(r.stream))]).toEqual([1, 2, 3]);
    const empty = await decompressStream(Readable.from([]));
    expect(empty.compression).toBe('none');
    expect((await collect(empty.stream)).length).toBe(0);
  });

  it('decodes concatenated gzip members and zstd frames, and what other encoders made', async () => {
    const gz = Buffer.concat([gzipSync(Buffer.from('one ')), gzipSync(Buffer.from('two'))]);
    expect((await collect((await decompressStream(Readable.from([gz]))).stream)).toString()).toBe('one two');
    const zst = Buffer.concat([zstdCompress(Buffer.from('one ')), zstdCompress(Buffer.from('two'))]);
    expect((await collect((await decompressStream(Readable.from([zst]))).stream)).toString()).toBe('one two');
    // a skippable frame in front of the data frame
    const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]), zstdCompress(Buffer.from('after skip'))]);
    const r = await decompressStream(Readable.from([skippable]));
    expect(r.compression).toBe('zstd');
    expect((await collect(r.stream)).toString()).toBe('after skip');
  });

  it('refuses bzip2 and xz with EUNSUPPORTEDCOMPRESSION naming the compression, and ends the source', async () => {
    const bz = await fails(Buffer.concat([Buffer.from('BZh91AY&SY'), data.subarray(0, 100)]), 'EUNSUPPORTEDCOMPRESSION');
    expect(bz.message).toContain('bzip2');
    expect(bz.path).toBe('bzip2');
    const xz = await fails(Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), data.subarray(0, 100)]), 'EUNSUPPORTEDCOMPRESSION');
    expect(xz.message).toContain('xz');
    const src = Readable.from(chunked(Buffer.concat([Buffer.from('BZh9'), data]), 10));
    await expect(decompressStream(src)).rejects.toBeInstanceOf(LayerError);
    await new Promise((r) => setImmediate(r));
    expect(src.destroyed).toBe(true);
  });

  it('fails a truncated or corrupt zstd or gzip stream with ECORRUPT', async () => {
    const zst = zstdCompress(data);
    const t = await fails(zst.subarray(0, zst.length - 100), 'ECORRUPT');
    expect(t.message).toMatch(/^corrupt zstd stream: /);
    await fails(zst.subarray(0, 20), 'ECORRUPT');
    // zstd-napi's one-shot compress writes no checksum, so flipped literals go unseen (the DiffID
    // check catches them); compressStream's frames carry one, and a flipped byte is an error
    const checked = await compressed(data, 'zstd');
    const bad = Buffer.from(checked);
    const mid = Math.floor(bad.length / 2);
    bad[mid] = (bad[mid] as number) ^ 0xff;
    await fails(bad, 'ECORRUPT');
    await fails(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff]), 'ECORRUPT');
    const gz = gzipSync(data);
    const g = await fails(gz.subarray(0, gz.length - 8), 'ECORRUPT');
    expect(g.message).toMatch(/^corrupt gzip stream: /);
  });

  it('passes an error of the source itself through untouched', async () => {
    const boom = new Error('network went away');
    async function* src(): AsyncGenerator<Buffer> {
      yield gzipSync(data).subarray(0, 100);
      throw boom;
    }
    const { stream } = await decompressStream(src());
    await expect(collect(stream)).rejects.toBe(boom);
  });

  it('ends the source when the decoded stream is destroyed early', async () => {
    const src = Readable.from(chunked(zstdCompress(data), 100));
    const { stream } = await decompressStream(src);
    for await (const _ of stream) break;
    await new Promise((r) => setImmediate(r));
    expect(src.destroyed).toBe(true);
  });

  it('compresses at a chosen level, and refuses a kind it does not know', async () => {
    const z = compressStream('zstd', { level: 19 });
    const out = collect(z);
    z.end(data);
    expect((await collect((await decompressStream(Readable.from([await out]))).stream)).equals(data)).toBe(true);
    expect(() => compressStream('bzip2' as 'gzip')).toThrow(LayerError);
  });
});

describe('layer media types', () => {
  it('names the OCI and Docker layer types for each compression', () => {
    expect(layerMediaType('none')).toBe('application/vnd.oci.image.layer.v1.tar');
    expect(layerMediaType('gzip', 'oci')).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(layerMediaType('zstd', 'oci')).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
    expect(layerMediaType('gzip', 'oci', { nonDistributable: true })).toBe('application/vnd.oci.image.layer.nondistributable.v1.tar+gzip');
    expect(layerMediaType('none', 'docker')).toBe('application/vnd.docker.image.rootfs.diff.tar');
    expect(layerMediaType('gzip', 'docker')).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
    expect(layerMediaType('zstd', 'docker')).toBe('application/vnd.docker.image.rootfs.diff.tar.zstd');
    expect(layerMediaType('gzip', 'docker', { nonDistributable: true })).toBe('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip');
    expect(() => layerMediaType('zstd', 'docker', { nonDistributable: true })).toThrow(LayerError);
  });

  it('reads the compression back from every layer type, and nothing from other types', () => {
    const cases: Array<[string, string | undefined]> = [
      ['application/vnd.oci.image.layer.v1.tar', 'none'],
      ['application/vnd.oci.image.layer.v1.tar+gzip', 'gzip'],
      ['application/vnd.oci.image.layer.v1.tar+zstd', 'zstd'],
      ['application/vnd.oci.image.layer.nondistributable.v1.tar', 'none'],
      ['application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 'gzip'],
      ['application/vnd.oci.image.layer.nondistributable.v1.tar+zstd', 'zstd'],
      ['application/vnd.docker.image.rootfs.diff.tar', 'none'],
      ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'gzip'],
      ['application/vnd.docker.image.rootfs.diff.tar.zstd', 'zstd'],
      ['application/vnd.docker.image.rootfs.foreign.diff.tar', 'none'],
      ['application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'gzip'],
      ['application/vnd.oci.image.layer.v1.tar+gzip; charset=binary', 'gzip'],
      ['application/vnd.oci.image.manifest.v1+json', undefined],
      ['application/vnd.oci.image.layer.v1.tar+bzip2', undefined],
      ['application/octet-stream', undefined],
      ['toString', undefined],
      ['', undefined],
    ];
    for (const [mt, kind] of cases) expect([mt, compressionOfMediaType(mt)]).toEqual([mt, kind]);
    for (const kind of ['none', 'gzip', 'zstd'] as const) {
      for (const format of ['oci', 'docker'] as const) expect(compressionOfMediaType(layerMediaType(kind, format))).toBe(kind);
    }
    expect(isNonDistributableMediaType('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip')).toBe(true);
    expect(isNonDistributableMediaType('application/vnd.oci.image.layer.nondistributable.v1.tar+zstd')).toBe(true);
    expect(isNonDistributableMediaType('application/vnd.oci.image.layer.v1.tar+gzip')).toBe(false);
    expect(isNonDistributableMediaType('application/vnd.oci.image.layer.nondistributable.v1.tar+bzip2')).toBe(false);
  });
});
