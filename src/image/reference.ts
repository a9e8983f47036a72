/**
 * Docker image references (`[domain/]path[:tag][@digest]`), parsed and normalised as Docker's
 * `ParseNormalizedNamed` (distribution/reference v0.6) does: `busybox` is
 * `docker.io/library/busybox`, `user/app` is `docker.io/user/app`, the first path component is
 * a domain only if it contains `.` or `:`, is `localhost`, or has an uppercase letter, and
 * `index.docker.io` becomes `docker.io`. The grammar:
 *
 * ```
 * reference      := name [ ":" tag ] [ "@" digest ]
 * name           := [ domain "/" ] path          ; path at most 255 characters
 * domain         := host [ ":" port ]            ; host: dns labels joined by ".", or "[" ipv6 "]"
 * path           := component [ "/" component ]*
 * component      := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 * tag            := [\w][\w.-]{0,127}
 * digest         := algorithm ":" hex            ; sha256 (64 hex), sha384 (96), sha512 (128)
 * ```
 *
 * Two departures from Docker, both refusals of what Docker accepts and cannot use: a first
 * component chosen as the domain (it has a `.`) that is not a valid domain (`my_reg.local/x`)
 * is an error here, where Docker silently makes it a domain-less path; and digests must use
 * an algorithm Docker's daemon registers (sha256, sha384, sha512).
 *
 * Like Docker's parser, {@link parseReference} reads `sha256:<64 hex>` as the repository
 * `sha256` with a tag: callers that accept image ids check {@link isImageIdLike} first.
 * @module
 */
import { ImageReferenceError } from './errors.js';

/** The registry domain of Docker Hub, used when a reference names none. */
export const DEFAULT_DOMAIN = 'docker.io';
/** The tag {@link withDefaultTag} adds to a reference that has neither tag nor digest. */
export const DEFAULT_TAG = 'latest';
/** The longest repository path (without the domain) Docker accepts. */
export const MAX_PATH_LENGTH = 255;

const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';

/** A parsed, normalised image reference. */
export interface Reference {
  /** Registry host and optional port: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly domain: string;
  /** Repository path inside the registry: `library/busybox`, `user/app`. */
  readonly path: string;
  /** The tag, if the reference has one. */
  readonly tag?: string;
  /** The digest (`sha256:<hex>`), if the reference has one. */
  readonly digest?: string;
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[a-fA-F0-9:]+\]$/;
const PORT = /^[0-9]+$/;
const TAG = /^\w[\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const IDENTIFIER = /^[a-f0-9]{64}$/;
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

/** Why `domain` is not a valid `host[:port]`, or undefined if it is. */
function domainProblem(domain: string): string | undefined {
  let host = domain;
  let port: string | undefined;
  if (domain.startsWith('[')) {
    const end = domain.indexOf(']');
    if (end < 0) return 'has an unclosed "["';
    host = domain.slice(0, end + 1);
    const rest = domain.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return `has ${JSON.stringify(rest)} after the IPv6 address`;
      port = rest.slice(1);
    }
    if (!IPV6_HOST.test(host)) return 'is not a valid IPv6 address in brackets (no zone, no embedded IPv4)';
  } else {
    const colon = domain.indexOf(':');
    if (colon >= 0) {
      host = domain.slice(0, colon);
      port = domain.slice(colon + 1);
    }
    if (host === '') return 'has an empty host';
    for (const label of host.split('.')) {
      if (!DOMAIN_LABEL.test(label)) return `has an invalid label ${JSON.stringify(label)} (letters, digits and inner hyphens only)`;
    }
  }
  if (port !== undefined && !PORT.test(port)) return `has an invalid port ${JSON.stringify(port)}`;
  return undefined;
}

/** Why `path` is not a valid repository path, or undefined if it is. */
function pathProblem(path: string): string | undefined {
  if (path.toLowerCase() !== path) return `repository name ${JSON.stringify(path)} must be lowercase`;
  for (const component of path.split('/')) {
    if (component === '') return `repository name ${JSON.stringify(path)} has an empty path component`;
    if (!PATH_COMPONENT.test(component)) {
      return `path component ${JSON.stringify(component)} is invalid (lowercase letters and digits, separated by one ".", "_", "__" or hyphens)`;
    }
  }
  if (path.length > MAX_PATH_LENGTH) return `repository name must not be more than ${MAX_PATH_LENGTH} characters (${path.length})`;
  return undefined;
}

/** Why `tag` is not a valid tag, or undefined if it is. */
function tagProblem(tag: string): string | undefined {
  if (tag === '') return 'tag is empty';
  if (!TAG.test(tag)) return `tag ${JSON.stringify(tag)} is invalid (up to 128 of letters, digits, "_", "." and "-", not starting with "." or "-")`;
  return undefined;
}

/** Why `digest` is not a usable digest, or undefined if it is. */
function digestProblem(digest: string): string | undefined {
  if (!DIGEST.test(digest)) return `digest ${JSON.stringify(digest)} is invalid (algorithm:hex, at least 32 hex digits)`;
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const length = DIGEST_HEX_LENGTH[algorithm];
  if (length === undefined) return `digest algorithm ${JSON.stringify(algorithm)} is not supported (sha256, sha384, sha512)`;
  if (hex.length !== length) return `${algorithm} digest must have ${length} hex digits, not ${hex.length}`;
  if (!/^[a-f0-9]+$/.test(hex)) return `${algorithm} digest must be lowercase hex`;
  return undefined;
}

/** Splits a name into domain and path as Docker's splitDockerDomain does. */
function splitDomain(name: string): { domain: string; path: string } {
  const slash = name.indexOf('/');
  if (slash < 0) return { domain: DEFAULT_DOMAIN, path: OFFICIAL_PREFIX + name };
  const first = name.slice(0, slash);
  const rest = name.slice(slash + 1);
  let domain: string;
  let path: string;
  if (first === LEGACY_DEFAULT_DOMAIN) [domain, path] = [DEFAULT_DOMAIN, rest];
  else if (first === 'localhost' || /[.:]/.test(first) || first.toLowerCase() !== first) [domain, path] = [first, rest];
  else [domain, path] = [DEFAULT_DOMAIN, name];
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_PREFIX + path;
  return { domain, path };
}

/**
 * Parses and normalises a reference as Docker does: the domain is filled in (`docker.io`,
 * with `library/` for single-component names), a tag and a digest are both kept, and no
 * default tag is added (see {@link normalizeReference}). Throws {@link ImageReferenceError}.
 */
export function parseReference(input: string): Reference {
  const fail = (reason: string): never => {
    throw new ImageReferenceError(input, reason);
  };
  if (input === '') fail('reference is empty');
  if (IDENTIFIER.test(input)) fail('a 64-hex string is an image id, not a repository name');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const problem = digestProblem(digest);
    if (problem !== undefined) fail(problem);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    const problem = tagProblem(tag);
    if (problem !== undefined) fail(problem);
  }
  if (rest === '') fail('repository name is empty');
  const { domain, path } = splitDomain(rest);
  const dProblem = domainProblem(domain);
  if (dProblem !== undefined) fail(`domain ${JSON.stringify(domain)} ${dProblem}`);
  const pProblem = pathProblem(path);
  if (pProblem !== undefined) fail(pProblem);
  return { domain, path, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

/** Adds the `latest` tag to a reference that has neither a tag nor a digest (Docker's TagNameOnly). */
export function withDefaultTag(ref: Reference): Reference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}

/** Parses (if given a string) and adds the default tag: `busybox` → `docker.io/library/busybox:latest`. */
export function normalizeReference(ref: string | Reference): Reference {
  return withDefaultTag(typeof ref === 'string' ? parseReference(ref) : ref);
}

/** The reference with `tag` as its tag (validated; throws {@link ImageReferenceError}). */
export function withTag(ref: Reference, tag: string): Reference {
  const problem = tagProblem(tag);
  if (problem !== undefined) throw new ImageReferenceError(`${repositoryName(ref)}:${tag}`, problem);
  return { ...ref, tag };
}

/** The reference with `digest` as its digest (validated; throws {@link ImageReferenceError}). */
export function withDigest(ref: Reference, digest: string): Reference {
  const problem = digestProblem(digest);
  if (problem !== undefined) throw new ImageReferenceError(`${repositoryName(ref)}@${digest}`, problem);
  return { ...ref, digest };
}

/** The repository name, `domain/path`: `docker.io/library/busybox`. */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The canonical string: `docker.io/library/busybox:latest`, `localhost:5000/x:1@sha256:…`. */
export function referenceString(ref: Reference): string {
  return repositoryName(ref) + (ref.tag === undefined ? '' : `:${ref.tag}`) + (ref.digest === undefined ? '' : `@${ref.digest}`);
}

/** The short repository name Docker prints: `busybox`, `user/app`, `localhost:5000/x` (Docker Hub's domain and `library/` dropped). */
export function familiarName(ref: Reference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repositoryName(ref);
  if (ref.path.startsWith(OFFICIAL_PREFIX)) {
    const rest = ref.path.slice(OFFICIAL_PREFIX.length);
    if (!rest.includes('/')) return rest;
  }
  return ref.path;
}

/** The short form Docker prints: `busybox:latest`, `user/app:1`, `localhost:5000/x@sha256:…`. */
export function familiarString(ref: Reference): string {
  return familiarName(ref) + (ref.tag === undefined ? '' : `:${ref.tag}`) + (ref.digest === undefined ? '' : `@${ref.digest}`);
}

/** An image id or id prefix as the image store resolves it. */
export interface ImageIdLike {
  /** Always `sha256`: image ids are config digests. */
  algorithm: 'sha256';
  /** The lowercase hex given (the whole id, or a prefix of it). */
  hex: string;
  /** Whether `hex` is a whole id (64 digits) rather than a prefix. */
  complete: boolean;
}

/**
 * Reads `sha256:<hex>` or bare `<hex>` (1 to 64 lowercase hex digits: a whole image id or a
 * prefix of one, as `docker image inspect 4a1f` takes); undefined for anything else. A short
 * prefix is also a valid repository name (`abc` is `docker.io/library/abc`): Docker tries the
 * name first and the id second.
 */
export function parseImageIdLike(input: string): ImageIdLike | undefined {
  const m = /^(?:sha256:)?([a-f0-9]{1,64})$/.exec(input);
  if (m === null) return undefined;
  const hex = m[1] as string;
  return { algorithm: 'sha256', hex, complete: hex.length === 64 };
}

/** Whether `input` looks like an image id or id prefix (`sha256:<hex>` or `<hex>`); see {@link parseImageIdLike}. */
export function isImageIdLike(input: string): boolean {
  return parseImageIdLike(input) !== undefined;
}
