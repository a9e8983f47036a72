// Image references, parsed and normalised as Docker's distribution/reference does; most cases
// are those of its normalize_test.go and reference_test.go, read through ParseNormalizedNamed.
import { describe, expect, it } from 'vitest';
import {
  familiarName,
  familiarString,
  ImageReferenceError,
  isImageIdLike,
  normalizeReference,
  parseImageIdLike,
  parseReference,
  referenceString,
  repositoryName,
  withDefaultTag,
  withDigest,
  withTag,
} from '../src/index.js';

const F64 = 'f'.repeat(64);
const HEX64 = '1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a';
const BB_DIGEST = 'sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa';

/** input → canonical string, familiar string, domain, path, tag, digest. */
const valid: Array<[string, string, string, string, string, string?, string?]> = [
  ['busybox', 'docker.io/library/busybox', 'busybox', 'docker.io', 'library/busybox'],
  ['busybox:latest', 'docker.io/library/busybox:latest', 'busybox:latest', 'docker.io', 'library/busybox', 'latest'],
  ['user/app', 'docker.io/user/app', 'user/app', 'docker.io', 'user/app'],
  ['user/app:1', 'docker.io/user/app:1', 'user/app:1', 'docker.io', 'user/app', '1'],
  ['docker.io/debian', 'docker.io/library/debian', 'debian', 'docker.io', 'library/debian'],
  ['docker.io/library/debian', 'docker.io/library/debian', 'debian', 'docker.io', 'library/debian'],
  ['library/debian', 'docker.io/library/debian', 'debian', 'docker.io', 'library/debian'],
  ['index.docker.io/debian', 'docker.io/library/debian', 'debian', 'docker.io', 'library/debian'],
  ['index.docker.io/fooo/bar', 'docker.io/fooo/bar', 'fooo/bar', 'docker.io', 'fooo/bar'],
  ['index.docker.io/library/ubuntu-12.04-base', 'docker.io/library/ubuntu-12.04-base', 'ubuntu-12.04-base', 'docker.io', 'library/ubuntu-12.04-base'],
  ['library/foo/bar', 'docker.io/library/foo/bar', 'library/foo/bar', 'docker.io', 'library/foo/bar'],
  ['other/library', 'docker.io/other/library', 'other/library', 'docker.io', 'other/library'],
  ['localhost/fooo', 'localhost/fooo', 'localhost/fooo', 'localhost', 'fooo'],
  ['localhost/fooo/bar', 'localhost/fooo/bar', 'localhost/fooo/bar', 'localhost', 'fooo/bar'],
  ['LOCALDOMAIN/fooo', 'LOCALDOMAIN/fooo', 'LOCALDOMAIN/fooo', 'LOCALDOMAIN', 'fooo'],
  ['Foo/bar', 'Foo/bar', 'Foo/bar', 'Foo', 'bar'],
  ['localhost:5000/x:1', 'localhost:5000/x:1', 'localhost:5000/x:1', 'localhost:5000', 'x', '1'],
  [`127.0.0.1:5000/a/b@${BB_DIGEST}`, `127.0.0.1:5000/a/b@${BB_DIGEST}`, `127.0.0.1:5000/a/b@${BB_DIGEST}`, '127.0.0.1:5000', 'a/b', undefined, BB_DIGEST],
  [`busybox:latest@${BB_DIGEST}`, `docker.io/library/busybox:latest@${BB_DIGEST}`, `busybox:latest@${BB_DIGEST}`, 'docker.io', 'library/busybox', 'latest', BB_DIGEST],
  ['127.0.0.1:8000/private/moonbase', '127.0.0.1:8000/private/moonbase', '127.0.0.1:8000/private/moonbase', '127.0.0.1:8000', 'private/moonbase'],
  ['example.com:8000/privatebasee', 'example.com:8000/privatebasee', 'example.com:8000/privatebasee', 'example.com:8000', 'privatebasee'],
  ['test_com', 'docker.io/library/test_com', 'test_com', 'docker.io', 'library/test_com'],
  ['test.com:tag', 'docker.io/library/test.com:tag', 'test.com:tag', 'docker.io', 'library/test.com', 'tag'],
  ['test.com:5000', 'docker.io/library/test.com:5000', 'test.com:5000', 'docker.io', 'library/test.com', '5000'],
  ['test.com/repo:tag', 'test.com/repo:tag', 'test.com/repo:tag', 'test.com', 'repo', 'tag'],
  ['test:5000/repo', 'test:5000/repo', 'test:5000/repo', 'test:5000', 'repo'],
  [`test:5000/repo:tag@sha256:${F64}`, `test:5000/repo:tag@sha256:${F64}`, `test:5000/repo:tag@sha256:${F64}`, 'test:5000', 'repo', 'tag', `sha256:${F64}`],
  ['lowercase:Uppercase', 'docker.io/library/lowercase:Uppercase', 'lowercase:Uppercase', 'docker.io', 'library/lowercase', 'Uppercase'],
  ['sub-dom1.foo.com/bar/baz/quux:some-long-tag', 'sub-dom1.foo.com/bar/baz/quux:some-long-tag', 'sub-dom1.foo.com/bar/baz/quux:some-long-tag', 'sub-dom1.foo.com', 'bar/baz/quux', 'some-long-tag'],
  ['b.gcr.io/test.example.com/my-app:test.example.com', 'b.gcr.io/test.example.com/my-app:test.example.com', 'b.gcr.io/test.example.com/my-app:test.example.com', 'b.gcr.io', 'test.example.com/my-app', 'test.example.com'],
  ['xn--n3h.com/myimage:xn--n3h.com', 'xn--n3h.com/myimage:xn--n3h.com', 'xn--n3h.com/myimage:xn--n3h.com', 'xn--n3h.com', 'myimage', 'xn--n3h.com'],
  ['foo_bar.com:8080', 'docker.io/library/foo_bar.com:8080', 'foo_bar.com:8080', 'docker.io', 'library/foo_bar.com', '8080'],
  ['foo/foo_bar.com:8080', 'docker.io/foo/foo_bar.com:8080', 'foo/foo_bar.com:8080', 'docker.io', 'foo/foo_bar.com', '8080'],
  ['192.168.1.1', 'docker.io/library/192.168.1.1', '192.168.1.1', 'docker.io', 'library/192.168.1.1'],
  ['192.168.1.1:5000/repo:5050', '192.168.1.1:5000/repo:5050', '192.168.1.1:5000/repo:5050', '192.168.1.1:5000', 'repo', '5050'],
  ['[2001:db8::1]/repo', '[2001:db8::1]/repo', '[2001:db8::1]/repo', '[2001:db8::1]', 'repo'],
  ['[2001:db8::1]:5000/repo:tag', '[2001:db8::1]:5000/repo:tag', '[2001:db8::1]:5000/repo:tag', '[2001:db8::1]:5000', 'repo', 'tag'],
  ['[::1]:5000/repo', '[::1]:5000/repo', '[::1]:5000/repo', '[::1]:5000', 'repo'],
  ['docker---rules/docker', 'docker.io/docker---rules/docker', 'docker---rules/docker', 'docker.io', 'docker---rules/docker'],
  ['dock__er/docker', 'docker.io/dock__er/docker', 'dock__er/docker', 'docker.io', 'dock__er/docker'],
  ['d/docker', 'docker.io/d/docker', 'd/docker', 'docker.io', 'd/docker'],
  [`docker.io/${HEX64}`, `docker.io/library/${HEX64}`, HEX64, 'docker.io', `library/${HEX64}`],
  [`${HEX64}:tag`, `docker.io/library/${HEX64}:tag`, `${HEX64}:tag`, 'docker.io', `library/${HEX64}`, 'tag'],
  // like Docker's ParseNormalizedNamed: the repository "sha256" with a 64-character tag (isImageIdLike tells them apart)
  [`sha256:${F64}`, `docker.io/library/sha256:${F64}`, `sha256:${F64}`, 'docker.io', 'library/sha256', F64],
  [`x@sha512:${'a'.repeat(128)}`, `docker.io/library/x@sha512:${'a'.repeat(128)}`, `x@sha512:${'a'.repeat(128)}`, 'docker.io', 'library/x', undefined, `sha512:${'a'.repeat(128)}`],
  [`x@sha384:${'b'.repeat(96)}`, `docker.io/library/x@sha384:${'b'.repeat(96)}`, `x@sha384:${'b'.repeat(96)}`, 'docker.io', 'library/x', undefined, `sha384:${'b'.repeat(96)}`],
  [`example.com/${'a'.repeat(255)}:tag`, `example.com/${'a'.repeat(255)}:tag`, `example.com/${'a'.repeat(255)}:tag`, 'example.com', 'a'.repeat(255), 'tag'],
  [`a/${'a/'.repeat(126)}a:t`, `docker.io/a/${'a/'.repeat(126)}a:t`, `a/${'a/'.repeat(126)}a:t`, 'docker.io', `a/${'a/'.repeat(126)}a`, 't'],
  [`busybox:${'t'.repeat(128)}`, `docker.io/library/busybox:${'t'.repeat(128)}`, `busybox:${'t'.repeat(128)}`, 'docker.io', 'library/busybox', 't'.repeat(128)],
  ['busybox:_x', 'docker.io/library/busybox:_x', 'busybox:_x', 'docker.io', 'library/busybox', '_x'],
];

/** input → a fragment of the reason. */
const invalid: Array<[string, string]> = [
  ['', 'empty'],
  [HEX64, 'image id'],
  [':justtag', 'repository name is empty'],
  [`@sha256:${F64}`, 'repository name is empty'],
  ['https://github.com/docker/docker', 'domain "https:"'],
  ['docker/Docker', 'must be lowercase'],
  ['Uppercase:tag', 'must be lowercase'],
  ['test:5000/Uppercase/lowercase:tag', 'must be lowercase'],
  ['docker.io/docker/Docker', 'must be lowercase'],
  ['-docker', 'path component "-docker"'],
  ['-docker/docker', 'path component "-docker"'],
  ['docker-/docker', 'path component "docker-"'],
  ['-docker.io/docker/docker', 'invalid label "-docker"'],
  ['docker///docker', 'empty path component'],
  ['docker.io/docker///docker', 'empty path component'],
  ['docker/', 'empty path component'],
  ['____/____', 'path component "____"'],
  ['_docker/_docker', 'path component "_docker"'],
  ["dock..er/docker", "domain \"dock..er\" has an invalid label \"\""],
  ['dock_.er/docker', 'domain "dock_.er" has an invalid label "dock_"'],
  ['dock-.er/docker', 'domain "dock-.er" has an invalid label "dock-"'],
  ['aa/asdf$$^/aa', 'path component "asdf$$^"'],
  ['a___b', 'path component "a___b"'],
  ['[fc00::1]', 'tag "1]"'],
  ['[fc00::1]:5000', 'path component "[fc00::1]"'],
  ['fc00::1:5000/debian', 'domain "fc00::1:5000"'],
  ['[fe80::1%eth0]:5000/debian', 'IPv6'],
  ['[2001:db8:3:4::192.0.2.33]:5000/debian', 'IPv6'],
  ['example.com:port/x', 'invalid port "port"'],
  ['my_reg.local/x', 'invalid label "my_reg"'],
  [`domain/${'a'.repeat(256)}:tag`, 'more than 255'],
  [`${'a'.repeat(256)}`, 'more than 255'], // library/ + 256 > 255
  [`x/${'a'.repeat(254)}`, 'more than 255'],
  ['busybox:', 'tag is empty'],
  ['busybox:-x', 'tag "-x"'],
  ['busybox:.x', 'tag ".x"'],
  [`busybox:${'t'.repeat(129)}`, 'tag "'],
  ['busybox:a/b', 'domain "busybox:a" has an invalid port "a"'],
  ['busybox@', 'digest ""'],
  ['busybox@sha256:abc', 'digest "sha256:abc"'],
  [`repo@sha256:${'f'.repeat(34)}`, 'must have 64 hex digits, not 34'],
  [`validname@invaliddigest:${F64}`, 'algorithm "invaliddigest" is not supported'],
  [`x@sha512:${F64}`, 'sha512 digest must have 128 hex digits, not 64'],
  [`x@sha256:${'F'.repeat(64)}`, 'lowercase hex'],
  [`x@sha256:${F64}@sha256:${F64}`, 'digest "'],
  ['a:b:c', 'path component "a:b"'],
];

describe('parseReference', () => {
  it.each(valid)('parses %s', (input, canonical, familiar, domain, path, tag, digest) => {
    const ref = parseReference(input);
    expect(ref).toEqual({ domain, path, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) });
    expect(referenceString(ref)).toBe(canonical);
    expect(familiarString(ref)).toBe(familiar);
    expect(repositoryName(ref)).toBe(`${domain}/${path}`);
    // the canonical and familiar forms parse back to the same reference, except (as in Docker)
    // the familiar form of docker.io/library/<64 hex>, which reads as an image id
    expect(parseReference(canonical)).toEqual(ref);
    if (familiar === HEX64) expect(() => parseReference(familiar)).toThrow(ImageReferenceError);
    else expect(parseReference(familiar)).toEqual(ref);
  });

  it.each(invalid)('rejects %j', (input, reason) => {
    let err: unknown;
    try {
      parseReference(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ImageReferenceError);
    const e = err as ImageReferenceError;
    expect(e.code).toBe('EINVALIDREFERENCE');
    expect(e.path).toBe(input);
    expect(e.input).toBe(input);
    expect(e.message).toBe(`invalid reference ${JSON.stringify(input)}: ${e.reason}`);
    expect(e.reason).toContain(reason);
  });
});

describe('normalisation and helpers', () => {
  it('adds latest only to a reference with neither tag nor digest, as Docker does', () => {
    expect(referenceString(normalizeReference('busybox'))).toBe('docker.io/library/busybox:latest');
    expect(familiarString(normalizeReference('busybox'))).toBe('busybox:latest');
    expect(familiarString(normalizeReference('user/app'))).toBe('user/app:latest');
    expect(referenceString(normalizeReference(`busybox@${BB_DIGEST}`))).toBe(`docker.io/library/busybox@${BB_DIGEST}`);
    expect(referenceString(normalizeReference('localhost:5000/x:1'))).toBe('localhost:5000/x:1');
    const ref = parseReference('busybox');
    expect(withDefaultTag(ref)).toEqual({ ...ref, tag: 'latest' });
    expect(normalizeReference(ref)).toEqual({ ...ref, tag: 'latest' });
    expect(ref.tag).toBeUndefined(); // not mutated
  });

  it('familiar names drop docker.io and a single-level library/ only', () => {
    expect(familiarName(parseReference('docker.io/library/ubuntu:1'))).toBe('ubuntu');
    expect(familiarName(parseReference('docker.io/library/foo/bar'))).toBe('library/foo/bar');
    expect(familiarName(parseReference('quay.io/library/x'))).toBe('quay.io/library/x');
  });

  it('withTag and withDigest validate what they add', () => {
    const ref = parseReference('localhost:5000/x');
    expect(referenceString(withTag(ref, 'v1.2'))).toBe('localhost:5000/x:v1.2');
    expect(referenceString(withDigest(ref, BB_DIGEST))).toBe(`localhost:5000/x@${BB_DIGEST}`);
    expect(() => withTag(ref, '-bad')).toThrow(ImageReferenceError);
    expect(() => withTag(ref, '-bad')).toThrow('invalid reference "localhost:5000/x:-bad": tag "-bad"');
    expect(() => withDigest(ref, 'sha256:abc')).toThrow(ImageReferenceError);
  });
});

describe('isImageIdLike', () => {
  it('recognises full ids, sha256: ids and prefixes', () => {
    expect(parseImageIdLike(`sha256:${HEX64}`)).toEqual({ algorithm: 'sha256', hex: HEX64, complete: true });
    expect(parseImageIdLike(HEX64)).toEqual({ algorithm: 'sha256', hex: HEX64, complete: true });
    expect(parseImageIdLike('4a1f0c')).toEqual({ algorithm: 'sha256', hex: '4a1f0c', complete: false });
    expect(parseImageIdLike('sha256:4a1f')).toEqual({ algorithm: 'sha256', hex: '4a1f', complete: false });
    for (const s of [`sha256:${HEX64}`, HEX64, HEX64.slice(0, 12), 'sha256:1a3f']) expect(isImageIdLike(s)).toBe(true);
  });

  it('refuses names, uppercase hex, other algorithms and overlong hex', () => {
    for (const s of ['busybox', 'sha256:', '', 'ABCDEF', `${HEX64}0`, `sha512:${'a'.repeat(128)}`, 'sha256:xyz', `busybox@sha256:${HEX64}`]) {
      expect(isImageIdLike(s)).toBe(false);
    }
  });
});
