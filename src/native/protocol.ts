/**
 * The binary protocol between berth and its container init helper: a TypeScript mirror of
 * `addon/include/berth/protocol.h`. Every number here must equal the one in the header.
 *
 * Frames are `{ u32 type; u32 length; payload }`; a payload that carries fields is a sequence of
 * records `{ u32 tag; u32 length; bytes }`. All integers are little-endian.
 * @module
 */
import { NativeError } from '../errors.js';

/** Version sent as the first record (CFG_VERSION) of every FRAME_CONFIG. */
export const PROTOCOL_VERSION = 1;
/** The fd number on which the helper finds its end of the socketpair. */
export const HELPER_SOCKET_FD = 3;
/** Largest frame payload either side accepts (16 MiB). */
export const MAX_FRAME = 16 * 1024 * 1024;
/** Size of a frame header (type + length). */
export const FRAME_HEADER_SIZE = 8;
/** Size of a record header (tag + length). */
export const RECORD_HEADER_SIZE = 8;
/** RLIM_INFINITY as carried in R_SOFT / R_HARD. */
export const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;

/** Frame types (`enum berth_frame_type`). */
export const FrameType = {
  CONFIG: 1,
  PID: 2,
  READY: 3,
  ERROR: 4,
  CGROUPS: 5,
} as const;
/** One of the {@link FrameType} values. */
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

/** Frames between berth and berth-monitor (`enum berth_monitor_frame_type`). */
export const MonitorFrame = {
  CONFIG: 16,
  PID: 17,
} as const;

/** Records of FRAME_MONITOR_CONFIG (`enum berth_monitor_tag`). */
export const MonitorTag = {
  DIR: 1,
  LOG_PATH: 2,
  INIT_CONFIG: 3,
  TTY: 4,
  OPEN_STDIN: 5,
  RESTART: 6,
  CLEANUP_ARG: 7,
  START_FIFO: 8,
  RESTART_HOOK_ARG: 9,
  LOOPBACK: 10,
} as const;

/** Frames on a monitor's attach socket (`enum berth_attach_frame_type`). */
export const AttachFrame = {
  HELLO: 32,
  STDIN: 33,
  CLOSE_STDIN: 34,
  RESIZE: 35,
  STOP: 36,
  STDOUT: 40,
  STDERR: 41,
  EXIT: 42,
} as const;

/** Values of CFG_MODE. */
export const ConfigMode = {
  CREATE: 0,
  EXEC: 1,
} as const;

/** Records of FRAME_CONFIG (`enum berth_config_tag`). */
export const ConfigTag = {
  VERSION: 1,
  MODE: 2,
  NEW_NAMESPACES: 3,
  JOIN_NAMESPACE: 4,
  UID_MAP: 5,
  GID_MAP: 6,
  SETGROUPS_DENY: 7,
  TIME_OFFSETS: 8,
  ROOTFS: 9,
  ROOTFS_PROPAGATION: 10,
  READONLY_ROOTFS: 11,
  NO_PIVOT: 12,
  MOUNT: 13,
  DEVICE: 14,
  SYMLINK: 15,
  MASKED_PATH: 16,
  READONLY_PATH: 17,
  HOSTNAME: 18,
  DOMAINNAME: 19,
  SYSCTL: 20,
  RLIMIT: 21,
  CAPABILITIES: 22,
  NO_NEW_PRIVILEGES: 23,
  UID: 24,
  GID: 25,
  ADDITIONAL_GIDS: 26,
  UMASK: 27,
  CWD: 28,
  ENV: 29,
  ARG: 30,
  OOM_SCORE_ADJ: 31,
  START_FIFO: 32,
  STDIO_FDS: 33,
  CGROUP_PROCS: 34,
  SETSID: 35,
  EXEC_FD_PASSTHROUGH: 36,
  CONTROLLING_TTY: 37,
  SECCOMP: 38,
  ROOTFS_MOUNT: 39,
  CONSOLE: 40,
  CGROUP_FDS_LATER: 41,
} as const;

/** Config tags whose record holds nested records. */
export const NESTED_CONFIG_TAGS: ReadonlySet<number> = new Set([
  ConfigTag.JOIN_NAMESPACE,
  ConfigTag.MOUNT,
  ConfigTag.ROOTFS_MOUNT,
  ConfigTag.DEVICE,
  ConfigTag.SYMLINK,
  ConfigTag.SYSCTL,
  ConfigTag.RLIMIT,
]);

/** Records nested in CFG_JOIN_NAMESPACE (`enum berth_ns_tag`). */
export const NsTag = {
  TYPE: 1,
  PATH: 2,
} as const;

/** Records nested in CFG_MOUNT (`enum berth_mount_tag`). */
export const MountTag = {
  SOURCE: 1,
  TARGET: 2,
  FSTYPE: 3,
  FLAGS: 4,
  PROPAGATION: 5,
  DATA: 6,
  REMOUNT_FLAGS: 7,
  CWD: 8,
} as const;

/** Records nested in CFG_DEVICE (`enum berth_device_tag`). */
export const DeviceTag = {
  PATH: 1,
  TYPE: 2,
  MAJOR: 3,
  MINOR: 4,
  MODE: 5,
  UID: 6,
  GID: 7,
  BIND: 8,
} as const;

/** Records nested in CFG_SYMLINK (`enum berth_symlink_tag`). */
export const SymlinkTag = {
  TARGET: 1,
  PATH: 2,
} as const;

/** Records nested in CFG_SYSCTL (`enum berth_sysctl_tag`). */
export const SysctlTag = {
  KEY: 1,
  VALUE: 2,
} as const;

/** Records nested in CFG_RLIMIT (`enum berth_rlimit_tag`). */
export const RlimitTag = {
  RESOURCE: 1,
  SOFT: 2,
  HARD: 3,
} as const;

/** Where a failure happened (`enum berth_stage`), as carried by FRAME_ERROR. */
export const Stage = {
  CONFIG: 1,
  JOIN_NAMESPACE: 2,
  TIME_NAMESPACE: 3,
  CLONE: 4,
  ID_MAPPING: 5,
  CGROUP: 6,
  SETSID: 7,
  ROOTFS_PROPAGATION: 8,
  ROOTFS: 9,
  MOUNT: 10,
  DEVICE: 11,
  SYMLINK: 12,
  PIVOT_ROOT: 13,
  MASKED_PATH: 14,
  READONLY_PATH: 15,
  READONLY_ROOTFS: 16,
  HOSTNAME: 17,
  SYSCTL: 18,
  RLIMIT: 19,
  OOM_SCORE_ADJ: 20,
  CWD: 21,
  EXECUTABLE: 22,
  USER: 23,
  CAPABILITIES: 24,
  NO_NEW_PRIVILEGES: 25,
  START_WAIT: 26,
  EXEC: 27,
  UMASK: 28,
  STDIO: 29,
  SECCOMP: 30,
  ROOTFS_MOUNT: 31,
} as const;

/** D_TYPE values: the device kind as its ASCII letter. */
export const DeviceType = {
  CHAR: 'c'.charCodeAt(0),
  BLOCK: 'b'.charCodeAt(0),
  FIFO: 'p'.charCodeAt(0),
} as const;

const STAGE_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(Stage).map(([k, v]) => [v, k.toLowerCase()]),
);

/** The lowercase name of a stage number (`10` → `mount`, `13` → `pivot_root`); unknown: `stage_<n>`. */
export function stageName(stage: number): string {
  return STAGE_NAMES.get(stage) ?? `stage_${stage}`;
}

function protocolError(message: string): NativeError {
  return new NativeError(`EPROTO: ${message}`, { code: 'EPROTO', stage: 'protocol' });
}

function checkTag(tag: number): void {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xffff_ffff) throw new RangeError(`bad record tag ${tag}`);
}

/** Builds a record payload (`{ u32 tag; u32 length; bytes }*`); methods chain. */
export class RecordWriter {
  // One growing buffer: a Buffer per record (header and value) cost ~0.1 ms a create.
  private buf = Buffer.allocUnsafe(1024);
  private size = 0;

  /** Room for `n` more bytes; returns the offset to write them at. */
  private reserve(n: number): number {
    const off = this.size;
    if (off + n > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, off + n));
      this.buf.copy(grown, 0, 0, off);
      this.buf = grown;
    }
    this.size = off + n;
    return off;
  }

  /** Appends a record header for a value of `length` bytes; returns the value's offset. */
  private header(tag: number, length: number): number {
    checkTag(tag);
    const off = this.reserve(RECORD_HEADER_SIZE + length);
    this.buf.writeUInt32LE(tag, off);
    this.buf.writeUInt32LE(length, off + 4);
    return off + RECORD_HEADER_SIZE;
  }

  /** Appends a record with raw bytes. */
  bytes(tag: number, value: Uint8Array): this {
    const off = this.header(tag, value.length);
    this.buf.set(value, off);
    return this;
  }

  /** Appends a u32 record. */
  u32(tag: number, value: number): this {
    const off = this.header(tag, 4); // first: it may replace this.buf
    this.buf.writeUInt32LE(value, off);
    return this;
  }

  /** Appends a u32 record holding 0 or 1. */
  bool(tag: number, value: boolean): this {
    return this.u32(tag, value ? 1 : 0);
  }

  /** Appends an i32 record. */
  i32(tag: number, value: number): this {
    const off = this.header(tag, 4); // first: it may replace this.buf
    this.buf.writeInt32LE(value, off);
    return this;
  }

  /** Appends a u64 record. */
  u64(tag: number, value: bigint | number): this {
    const off = this.header(tag, 8); // first: it may replace this.buf
    this.buf.writeBigUInt64LE(BigInt(value), off);
    return this;
  }

  /** Appends several u64 values in one record (CFG_CAPABILITIES). */
  u64array(tag: number, values: ReadonlyArray<bigint | number>): this {
    const off = this.header(tag, 8 * values.length);
    values.forEach((v, i) => this.buf.writeBigUInt64LE(BigInt(v), off + 8 * i));
    return this;
  }

  /** Appends a u32 array record (length/4 entries). */
  u32array(tag: number, values: readonly number[]): this {
    const off = this.header(tag, 4 * values.length);
    values.forEach((v, i) => this.buf.writeUInt32LE(v, off + 4 * i));
    return this;
  }

  /** Appends a string record (UTF-8, no terminating NUL; a NUL inside is refused). */
  str(tag: number, value: string): this {
    if (value.includes('\0')) throw new RangeError(`record ${tag}: string contains a NUL byte`);
    const off = this.header(tag, Buffer.byteLength(value, 'utf8'));
    this.buf.write(value, off, 'utf8');
    return this;
  }

  /** Appends a record whose value is the records of `writer`. */
  nested(tag: number, writer: RecordWriter): this {
    return this.bytes(tag, writer.buf.subarray(0, writer.size));
  }

  /** Total bytes written so far. */
  get length(): number {
    return this.size;
  }

  /** The encoded payload (a copy: the writer may go on). */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.size));
  }
}

/** One decoded record: its tag and raw value bytes. */
export interface RawRecord {
  /** The record tag. */
  tag: number;
  /** The value bytes (a view into the payload). */
  value: Buffer;
}

/** Splits a record payload into its records; a truncated record is a protocol error. */
export function decodeRecords(payload: Buffer): RawRecord[] {
  const out: RawRecord[] = [];
  let off = 0;
  while (off < payload.length) {
    if (payload.length - off < RECORD_HEADER_SIZE) throw protocolError(`truncated record header at offset ${off}`);
    const tag = payload.readUInt32LE(off);
    const len = payload.readUInt32LE(off + 4);
    off += RECORD_HEADER_SIZE;
    if (payload.length - off < len) throw protocolError(`record ${tag} at offset ${off - 8} overruns the payload`);
    out.push({ tag, value: payload.subarray(off, off + len) });
    off += len;
  }
  return out;
}

function expectLength(value: Buffer, n: number, what: string): void {
  if (value.length !== n) throw protocolError(`${what} record is ${value.length} bytes, expected ${n}`);
}

/** Reads a u32 record value. */
export function readU32(value: Buffer): number {
  expectLength(value, 4, 'u32');
  return value.readUInt32LE(0);
}

/** Reads an i32 record value. */
export function readI32(value: Buffer): number {
  expectLength(value, 4, 'i32');
  return value.readInt32LE(0);
}

/** Reads a u64 record value. */
export function readU64(value: Buffer): bigint {
  expectLength(value, 8, 'u64');
  return value.readBigUInt64LE(0);
}

/** Reads a u64 array record value. */
export function readU64Array(value: Buffer): bigint[] {
  if (value.length % 8 !== 0) throw protocolError(`u64 array record of ${value.length} bytes`);
  const out: bigint[] = [];
  for (let i = 0; i < value.length; i += 8) out.push(value.readBigUInt64LE(i));
  return out;
}

/** Reads a u32 array record value. */
export function readU32Array(value: Buffer): number[] {
  if (value.length % 4 !== 0) throw protocolError(`u32 array record of ${value.length} bytes`);
  const out: number[] = [];
  for (let i = 0; i < value.length; i += 4) out.push(value.readUInt32LE(i));
  return out;
}

/** Reads a string record value. */
export function readStr(value: Buffer): string {
  return value.toString('utf8');
}

/** Encodes one frame: header plus payload. */
export function encodeFrame(type: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  if (payload.length > MAX_FRAME) throw new RangeError(`frame payload of ${payload.length} bytes exceeds ${MAX_FRAME}`);
  const header = Buffer.alloc(FRAME_HEADER_SIZE);
  header.writeUInt32LE(type, 0);
  header.writeUInt32LE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** One decoded frame. */
export interface Frame {
  /** A {@link FrameType} value (unknown types are passed through). */
  type: number;
  /** The payload bytes. */
  payload: Buffer;
}

/** Reassembles frames from a byte stream: `push()` each chunk, get the frames it completed. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  /** Adds bytes; returns every frame now complete, in order. */
  push(chunk: Uint8Array): Frame[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const frames: Frame[] = [];
    let off = 0;
    while (this.buf.length - off >= FRAME_HEADER_SIZE) {
      const type = this.buf.readUInt32LE(off);
      const len = this.buf.readUInt32LE(off + 4);
      if (len > MAX_FRAME) throw protocolError(`frame of type ${type} announces ${len} bytes, more than ${MAX_FRAME}`);
      if (this.buf.length - off - FRAME_HEADER_SIZE < len) break;
      const start = off + FRAME_HEADER_SIZE;
      frames.push({ type, payload: Buffer.from(this.buf.subarray(start, start + len)) });
      off = start + len;
    }
    this.buf = off === 0 ? this.buf : Buffer.from(this.buf.subarray(off));
    return frames;
  }

  /** Bytes held that do not make a whole frame yet (non-zero at end of stream: a truncated frame). */
  get pendingBytes(): number {
    return this.buf.length;
  }
}

/** Decodes a FRAME_PID payload (`int32 pid`). */
export function decodePidFrame(payload: Buffer): number {
  if (payload.length !== 4) throw protocolError(`FRAME_PID payload is ${payload.length} bytes, expected 4`);
  const pid = payload.readInt32LE(0);
  if (pid <= 0) throw protocolError(`FRAME_PID carries pid ${pid}`);
  return pid;
}

/** A decoded FRAME_ERROR. */
export interface HelperError {
  /** A {@link Stage} number; name it with {@link stageName}. */
  stage: number;
  /** The errno of the failing call (positive). */
  errno: number;
  /** The path or name at fault (may be empty). */
  detail: string;
}

/** Decodes a FRAME_ERROR payload (`u32 stage; i32 errno; bytes detail`). */
export function decodeErrorFrame(payload: Buffer): HelperError {
  if (payload.length < 8) throw protocolError(`FRAME_ERROR payload is ${payload.length} bytes, expected at least 8`);
  return {
    stage: payload.readUInt32LE(0),
    errno: Math.abs(payload.readInt32LE(4)),
    detail: payload.subarray(8).toString('utf8'),
  };
}

/** Encodes a FRAME_PID payload (for tests and fakes of the helper). */
export function encodePidPayload(pid: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(pid, 0);
  return b;
}

/** Encodes a FRAME_ERROR payload (for tests and fakes of the helper). */
export function encodeErrorPayload(stage: number, errno: number, detail = ''): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(stage, 0);
  b.writeInt32LE(errno, 4);
  return Buffer.concat([b, Buffer.from(detail, 'utf8')]);
}
