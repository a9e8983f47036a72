// Layer tars for tests, made with tar-stream, and readers of tar streams.
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';

/** One entry of a tar: a tar-stream header and the content of a regular file. */
export type TarEntry = { header: Partial<tar.Header> & { name: string }; content?: string | Buffer };

/** A tar of the entries (mtime 2020-09-13 unless a header sets it). */
export async function packTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      pack.entry({ mtime: new Date(1_600_000_000_000), ...e.header } as tar.Header, e.content ?? '', (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A plain file or directory entry. */
export type SimpleEntry = { name: string; type?: 'file' | 'directory'; content?: string };

/** A tar of plain files (0644) and directories (0755). */
export function makeTar(entries: SimpleEntry[]): Promise<Buffer> {
  return packTar(
    entries.map((e) => {
      const type = e.type ?? 'file';
      return { header: { name: e.name, type, mode: type === 'directory' ? 0o755 : 0o644 }, content: e.content ?? '' };
    }),
  );
}

/** The entry names of a tar stream (trailing slashes dropped). */
export async function tarNames(stream: Readable): Promise<string[]> {
  const names: string[] = [];
  const extract = tar.extract();
  stream.pipe(extract);
  for await (const entry of extract) {
    names.push(entry.header.name.replace(/\/$/, ''));
    entry.resume();
  }
  return names;
}

/** All bytes of a stream. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
