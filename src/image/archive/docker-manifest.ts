/**
 * Reading `docker save`'s `manifest.json` into image plans, for both forms Docker writes: the
 * legacy one (config `<hex>.json`, layers `<id>/layer.tar`) and the modern one of Docker 25+
 * (config and layers under `blobs/sha256/`, alongside an OCI `index.json`). Blob digests are
 * taken from the names where the form puts them there; with an `index.json`, each image also
 * gets the manifest it was saved with, so its digest survives the round trip.
 * @module
 */
import { ImageError } from '../errors.js';
import { normalizeReference } from '../reference.js';
import type { ArchiveFiles } from './archive-files.js';
import { entryName } from './archive-files.js';
import { digestOfPath, parseArchiveJson, type ImagePlan } from './image-plan.js';
import { ociPlans } from './oci-index.js';

/** One entry of `manifest.json`, as Docker writes it. */
export interface DockerManifestItem {
  /** The config's entry name. */
  Config: string;
  /** The image's names, familiar form (`busybox:latest`). */
  RepoTags?: string[] | null;
  /** The layers' entry names, bottom first. */
  Layers: string[];
}

/** The entry name a manifest.json field gives, checked; ImageError `EINVALIDARCHIVE` naming manifest.json. */
function field(value: unknown, what: string): string {
  const name = typeof value === 'string' ? entryName(value) : undefined;
  if (name === undefined) throw new ImageError(`manifest.json has an invalid ${what} ${JSON.stringify(value)}`, 'EINVALIDARCHIVE', 'manifest.json');
  return name;
}

/** The images a `docker save` archive's `manifest.json` lists, as plans; undefined when there is no `manifest.json`. */
export async function dockerPlans(files: ArchiveFiles): Promise<ImagePlan[] | undefined> {
  const data = await files.read('manifest.json');
  if (data === undefined) return undefined;
  const items = parseArchiveJson<unknown>(data, 'manifest.json', 'manifest');
  if (!Array.isArray(items)) throw new ImageError('manifest.json is not a list of images', 'EINVALIDARCHIVE', 'manifest.json');
  const manifests = (await files.size('index.json')) === undefined ? [] : await ociPlans(files);
  return (items as DockerManifestItem[]).map((item) => {
    if (typeof item !== 'object' || item === null || !Array.isArray(item.Layers)) throw new ImageError('manifest.json has an entry without Layers', 'EINVALIDARCHIVE', 'manifest.json');
    const configName = field(item.Config, 'Config');
    const configDigest = digestOfPath(configName);
    const layers = item.Layers.map((l) => {
      const name = field(l, 'layer');
      const digest = digestOfPath(name);
      return { name, ...(digest === undefined ? {} : { digest }) };
    });
    const saved = manifests.find((m) => m.config.digest === configDigest && m.layers.length === layers.length && m.layers.every((l, i) => l.digest === layers[i]!.digest));
    return {
      source: 'manifest.json',
      config: { name: configName, ...(configDigest === undefined ? {} : { digest: configDigest }) },
      layers: saved?.layers ?? layers,
      ...(saved?.manifest === undefined ? {} : { manifest: saved.manifest }),
      references: (item.RepoTags ?? []).map((t) => normalizeReference(t)),
    };
  });
}
