/**
 * Errors of the image stores and layer extraction.
 * @module
 */
import { BerthError } from '../errors.js';

/** A blob's content does not match its digest, or a digest string is malformed (`EDIGEST`, `EINVALIDDIGEST`, `ENOENT`). */
export class ContentError extends BerthError {
  /** The digest that was expected (`sha256:<hex>`), when one was. */
  readonly expected: string | undefined;
  /** The digest the content actually has, when it was computed. */
  readonly actual: string | undefined;

  constructor(message: string, code: string, details: { expected?: string; actual?: string; path?: string; cause?: unknown } = {}) {
    super(message, { code, stage: 'content', path: details.path ?? details.expected, cause: details.cause });
    this.expected = details.expected;
    this.actual = details.actual;
  }
}

/** A layer tar was rejected: a corrupt or truncated archive, a hostile entry, a bad whiteout or a digest mismatch; `path` names the entry. */
export class LayerError extends BerthError {
  constructor(message: string, code: string, entry?: string, cause?: unknown) {
    super(entry === undefined ? message : `${entry}: ${message}`, { code, stage: 'layer', path: entry, cause });
  }
}

/**
 * An image reference (`name[:tag][@digest]`) is malformed (`EINVALIDREFERENCE`); `path` is the
 * input, `reason` says what is wrong with it. Not named `ReferenceError`, which would shadow
 * JavaScript's built-in class of that name wherever it is imported.
 */
export class ImageReferenceError extends BerthError {
  /** The string that was parsed. */
  readonly input: string;
  /** What is wrong with it, e.g. `tag "-x" is invalid`. */
  readonly reason: string;

  constructor(input: string, reason: string) {
    super(`invalid reference ${JSON.stringify(input)}: ${reason}`, { code: 'EINVALIDREFERENCE', stage: 'reference', path: input });
    this.input = input;
    this.reason = reason;
  }
}

/** An image operation failed: no such image (`ENOENT`), an ambiguous id prefix (`EAMBIGUOUS`), an image in use or tagged in several repositories (`ECONFLICT`), a bad config (`EINVALIDIMAGE`). `path` names the image. */
export class ImageError extends BerthError {
  constructor(message: string, code: string, image?: string, cause?: unknown) {
    super(message, { code, stage: 'image', path: image, cause });
  }
}
