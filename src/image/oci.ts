/**
 * OCI image-spec and Docker image formats as berth reads and writes them: media types,
 * descriptors, manifests, indexes and the image config.
 * @module
 */
import type { Digest } from './digest.js';

/** Media types berth knows. */
export const MediaType = {
  /** OCI image manifest. */
  OCI_MANIFEST: 'application/vnd.oci.image.manifest.v1+json',
  /** OCI image index. */
  OCI_INDEX: 'application/vnd.oci.image.index.v1+json',
  /** OCI image config. */
  OCI_CONFIG: 'application/vnd.oci.image.config.v1+json',
  /** Uncompressed OCI layer. */
  OCI_LAYER: 'application/vnd.oci.image.layer.v1.tar',
  /** gzip OCI layer. */
  OCI_LAYER_GZIP: 'application/vnd.oci.image.layer.v1.tar+gzip',
  /** zstd OCI layer. */
  OCI_LAYER_ZSTD: 'application/vnd.oci.image.layer.v1.tar+zstd',
  /** Docker schema2 manifest. */
  DOCKER_MANIFEST: 'application/vnd.docker.distribution.manifest.v2+json',
  /** Docker manifest list. */
  DOCKER_MANIFEST_LIST: 'application/vnd.docker.distribution.manifest.list.v2+json',
  /** Docker image config. */
  DOCKER_CONFIG: 'application/vnd.docker.container.image.v1+json',
  /** Docker gzip layer. */
  DOCKER_LAYER_GZIP: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** A content descriptor. */
export interface Descriptor {
  /** The content's media type. */
  mediaType: string;
  /** Its digest. */
  digest: Digest;
  /** Its size in bytes. */
  size: number;
  /** Annotations (`org.opencontainers.image.ref.name` names a tag in an index). */
  annotations?: Record<string, string>;
  /** The platform, in an index. */
  platform?: Platform;
  /** Alternative download locations (foreign layers). */
  urls?: string[];
}

/** An image's platform. */
export interface Platform {
  /** `amd64`, `arm64`, ... */
  architecture: string;
  /** `linux`, ... */
  os: string;
  /** `v7`, `v8`, ... */
  variant?: string;
  /** OS version (Windows). */
  'os.version'?: string;
  /** OS features (Windows). */
  'os.features'?: string[];
}

/** An image manifest (OCI or Docker schema2). */
export interface ImageManifest {
  /** Always 2. */
  schemaVersion: 2;
  /** The manifest's media type. */
  mediaType?: string;
  /** The config blob. */
  config: Descriptor;
  /** The layer blobs, bottom first. */
  layers: Descriptor[];
  /** Annotations. */
  annotations?: Record<string, string>;
}

/** An image index or Docker manifest list. */
export interface ImageIndex {
  /** Always 2. */
  schemaVersion: 2;
  /** The index's media type. */
  mediaType?: string;
  /** The manifests it lists. */
  manifests: Descriptor[];
  /** Annotations. */
  annotations?: Record<string, string>;
}

/** The runtime part of an image config. */
export interface ImageRunConfig {
  /** `user`, `uid`, `user:group` or `uid:gid`. */
  User?: string;
  /** Ports the image exposes (`80/tcp`). */
  ExposedPorts?: Record<string, object>;
  /** `KEY=value` entries. */
  Env?: string[];
  /** The entrypoint. */
  Entrypoint?: string[] | null;
  /** The default command. */
  Cmd?: string[] | null;
  /** Volume mount points. */
  Volumes?: Record<string, object>;
  /** The default working directory. */
  WorkingDir?: string;
  /** Labels. */
  Labels?: Record<string, string>;
  /** The signal that stops the container. */
  StopSignal?: string;
}

/** One history entry of an image config. */
export interface HistoryEntry {
  /** When the step ran. */
  created?: string;
  /** The command of the step. */
  created_by?: string;
  /** The author. */
  author?: string;
  /** A comment. */
  comment?: string;
  /** True when the step made no layer. */
  empty_layer?: boolean;
}

/** An image config (OCI image-spec `config`, which Docker's extends). */
export interface ImageConfig {
  /** When the image was made. */
  created?: string;
  /** Its author. */
  author?: string;
  /** CPU architecture. */
  architecture: string;
  /** Operating system. */
  os: string;
  /** CPU variant. */
  variant?: string;
  /** Defaults for containers. */
  config?: ImageRunConfig;
  /** The layers' DiffIDs, bottom first. */
  rootfs: {
    /** Always `layers`. */
    type: 'layers';
    /** DiffIDs, bottom first. */
    diff_ids: Digest[];
  };
  /** How the image was made. */
  history?: HistoryEntry[];
  /** Other fields (Docker's `container_config`, `docker_version`, ...) are kept as they are. */
  [key: string]: unknown;
}

/** The platform of this host as OCI names it. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return { os: 'linux', architecture: arch[process.arch] ?? process.arch };
}
