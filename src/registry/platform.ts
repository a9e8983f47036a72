/**
 * Platform choice in an OCI index or Docker manifest list, as containerd's default matcher
 * does it: architecture names normalised (`x86_64` is `amd64`, `aarch64` is `arm64`), an
 * exact variant preferred, then the fallbacks the CPU runs too (`arm/v7` takes `v6` and `v5`;
 * `arm64` with no variant is `v8`), and attestation entries (BuildKit's `unknown/unknown`
 * provenance and SBOM manifests) never chosen.
 * @module
 */
import type { Descriptor, Platform } from '../image/oci.js';
import { hostPlatform } from '../image/oci.js';
import { RegistryError } from './errors.js';

/** A platform normalised: architecture and variant as OCI names them. */
export function normalizePlatform(p: Platform): Platform {
  const os = (p.os ?? '').toLowerCase();
  let arch = (p.architecture ?? '').toLowerCase();
  let variant = p.variant?.toLowerCase();
  switch (arch) {
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      arch = 'amd64';
      if (variant === 'v1') variant = undefined;
      break;
    case 'i386':
    case 'i686':
      arch = '386';
      variant = undefined;
      break;
    case 'aarch64':
    case 'arm64':
      arch = 'arm64';
      if (variant === 'v8' || variant === '8') variant = undefined;
      break;
    case 'armhf':
      arch = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      arch = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === undefined || variant === '') variant = 'v7';
      else if (/^\d$/.test(variant)) variant = `v${variant}`;
      break;
  }
  return { ...p, os, architecture: arch, ...(variant === undefined || variant === '' ? { variant: undefined } : { variant }) };
}

/** Reads `os/arch[/variant]` (`linux/arm64`, `linux/arm/v7`); RegistryError `EINVALIDPLATFORM` otherwise. */
export function parsePlatform(spec: string): Platform {
  const parts = spec.trim().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => x === '')) {
    throw new RegistryError(`invalid platform ${JSON.stringify(spec)}: expected os/arch[/variant]`, 'EINVALIDPLATFORM');
  }
  return normalizePlatform({ os: parts[0]!, architecture: parts[1]!, ...(parts[2] === undefined ? {} : { variant: parts[2] }) });
}

/** `os/arch[/variant]`. */
export function platformString(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x !== undefined && x !== '').join('/');
}

/** Whether an index entry is an attestation (provenance, SBOM) rather than an image. */
export function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || (d.platform?.os === 'unknown' && d.platform.architecture === 'unknown');
}

/** The variants a CPU of `arch/variant` also runs, best first (the variant itself first). */
function acceptedVariants(arch: string, variant: string | undefined): Array<string | undefined> {
  if (arch === 'arm') {
    const order = ['v8', 'v7', 'v6', 'v5'];
    const i = order.indexOf(variant ?? 'v7');
    return i < 0 ? [variant] : order.slice(i);
  }
  if (arch === 'amd64' && variant !== undefined && /^v[2-4]$/.test(variant)) {
    // an amd64 v3 CPU runs v2 and baseline images too
    const out: Array<string | undefined> = [];
    for (let n = Number(variant.slice(1)); n >= 2; n--) out.push(`v${n}`);
    out.push(undefined);
    return out;
  }
  return [variant];
}

/** How well an index entry's platform fits `wanted` (lower is better), or undefined when it does not. */
export function platformRank(candidate: Platform | undefined, wanted: Platform): number | undefined {
  if (candidate === undefined) return undefined;
  const c = normalizePlatform(candidate);
  const w = normalizePlatform(wanted);
  if (c.os !== w.os || c.architecture !== w.architecture) return undefined;
  const i = acceptedVariants(w.architecture, w.variant).indexOf(c.variant);
  return i < 0 ? undefined : i;
}

/**
 * The manifest of an index to pull for `wanted` (default: this host's platform): the best
 * ranked entry, the first of equals, attestations skipped. RegistryError `ENOPLATFORM` naming
 * the platforms offered when none fits.
 */
export function choosePlatform(manifests: readonly Descriptor[], wanted: Platform = hostPlatform(), where: { registry?: string; repository?: string; digest?: string } = {}): Descriptor {
  let best: Descriptor | undefined;
  let bestRank = Infinity;
  for (const d of manifests) {
    if (isAttestation(d)) continue;
    const r = platformRank(d.platform, wanted);
    if (r !== undefined && r < bestRank) {
      best = d;
      bestRank = r;
    }
  }
  if (best !== undefined) return best;
  const offered = manifests.filter((d) => !isAttestation(d) && d.platform !== undefined).map((d) => platformString(normalizePlatform(d.platform!)));
  throw new RegistryError(`no image for ${platformString(normalizePlatform(wanted))} in the index (it has ${offered.length === 0 ? 'none with a platform' : offered.join(', ')})`, 'ENOPLATFORM', where);
}
