/**
 * The block level of the tar format, shared by the passes that read tar bytes themselves (the
 * PAX xattr rewriter before tar-stream, the in-place index of an archive file): 512-byte
 * blocks, numeric header fields, checksums and PAX records.
 * @module
 */

/** The tar block size. */
export const BLOCK = 512;

/** The value of a numeric header field: octal text, or base-256 when the top bit is set. */
export function headerNumber(block: Buffer, offset: number, length: number): number {
  if ((block[offset]! & 0x80) !== 0) {
    let n = 0;
    for (let i = offset + 1; i < offset + length; i++) n = n * 256 + block[i]!;
    return n;
  }
  const text = block.toString('latin1', offset, offset + length).replace(/\0.*$/s, '').trim();
  return text === '' ? 0 : parseInt(text, 8);
}

/** Whether a block is all zeros (the end of the archive). */
export function zeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Bytes of padding after a body of `size` bytes. */
export function padding(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

/** Whether a header block's checksum (the sum of its bytes, the checksum field read as spaces) is right. */
export function checksumOk(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return headerNumber(block, 148, 8) === sum;
}

/** Parses PAX records; undefined when they do not parse (the body is then passed on as it is). */
export function parsePaxRecords(body: Buffer): Array<{ key: string; value: Buffer }> | undefined {
  const out: Array<{ key: string; value: Buffer }> = [];
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos);
    if (space < 0) return body.subarray(pos).every((b) => b === 0) ? out : undefined;
    const len = parseInt(body.toString('latin1', pos, space), 10);
    if (!(len > 0) || pos + len > body.length || body[pos + len - 1] !== 0x0a) return undefined;
    const record = body.subarray(space + 1, pos + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq < 0) return undefined;
    out.push({ key: record.toString('utf8', 0, eq), value: record.subarray(eq + 1) });
    pos += len;
  }
  return out;
}
