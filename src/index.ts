/**
 * berth: run Linux containers from inside a Node.js process.
 *
 * ```ts
 * import { Container } from 'berth';
 * const c = await Container.create({ id: 'demo', bundle: '/path/to/bundle', stdio: 'inherit' });
 * await c.start();
 * console.log(await c.wait()); // { exitCode: 0, signal: null, oomKilled: false }
 * await c.delete();
 * ```
 * @module berth
 */
export * from './errors.js';
export * from './cgroups/index.js';
export { Container } from './runtime/container.js';
export type { ContainerStatus, CreateOptions, ExecOptions, RootOptions } from './runtime/container.js';
export { ContainerProcess, signalNumber } from './runtime/process.js';
export type { ExitResult, SignalLike } from './runtime/process.js';
export type { StdioMode, StdioOption, StdioStreams } from './runtime/stdio.js';
export { HookError } from './runtime/hooks.js';
export { TerminalStream, closeFd, connectUnix, getWindowSize, makeRaw, openPty, recvFd, restoreTerminal, sendFd, setWindowSize, socketPair } from './native/index.js';
export type { PtyPair, ReceivedFd, WindowSize } from './native/index.js';
export { MonitorSession, attachMonitor, monitorAlive, readMonitorState } from './runtime/monitor.js';
export type { MonitorAttachOptions, MonitorOptions, MonitorState, RestartPolicy } from './runtime/monitor.js';
export type { ContainerLoadOptions, InitIdentity } from './runtime/container.js';
export { formatLogEntry, parseRestartPolicy } from './engine/detached.js';
export type { DetachSettings, DetachedState, LogEntry, LogsOptions } from './engine/detached.js';
export { humanDuration } from './engine/engine-container.js';
export type { ContainerSummary } from './engine/engine-container.js';
export { features } from './runtime/features.js';
export type { Features } from './runtime/features.js';
export { defaultSpec } from './runtime/spec.js';
export type * from './runtime/spec.js';
export { validateSpec } from './runtime/validate.js';
export { compileSeccomp, encodeSeccomp } from './runtime/seccomp/compile.js';
export type { CompiledSeccomp } from './runtime/seccomp/compile.js';
export { DEFAULT_STATE_ROOT } from './runtime/state-store.js';
export { createBusyboxRootfs, findStaticBusybox } from './util/busybox-rootfs.js';
export type { SockFilter } from './runtime/seccomp/bpf.js';
export type { RlimitPolicy } from './runtime/rlimits.js';
export type { ValidateOptions } from './runtime/validate.js';
export type { CgroupFeatures, LinuxFeatures, SeccompFeatures, Toggle } from './runtime/features.js';
export { ContentStore } from './image/content-store.js';
export type { BlobInfo } from './image/content-store.js';
export { digestHex, sha256 } from './image/digest.js';
export type { Digest } from './image/digest.js';
export { ContentError, LayerError } from './image/errors.js';
export { ImageReferenceError } from './image/errors.js';
export {
  DEFAULT_DOMAIN,
  DEFAULT_TAG,
  MAX_PATH_LENGTH,
  familiarName,
  familiarString,
  isImageIdLike,
  normalizeReference,
  parseImageIdLike,
  parseReference,
  referenceString,
  repositoryName,
  withDefaultTag,
  withDigest,
  withTag,
} from './image/reference.js';
export type { ImageIdLike, Reference } from './image/reference.js';
export {
  COMPRESSION_MAGIC_LENGTH,
  assertSupportedCompression,
  compressStream,
  compressionOfMediaType,
  decompressStream,
  detectCompression,
  isNonDistributableMediaType,
  layerMediaType,
} from './image/compression.js';
export type { CompressOptions, Compression, Decompressed, MediaTypeFormat, SupportedCompression } from './image/compression.js';
export { applyLayer, applyLayerInto, cleanEntryPath, isFileRange } from './image/layer-apply.js';
export type { ApplyLayerOptions, ApplyLayerResult, FileRange, LayerInput, WhiteoutFormat } from './image/layer-apply.js';
export { applyLayerInWorker, layerWorkerCount } from './image/layer-workers.js';
export type { RootfsMount } from './runtime/rootfs-mounts.js';
export type { ApplyDiffOptions, GraphDriver, LayerDirs, PrepareOptions, SnapshotCommitOptions, SnapshotInfo, SnapshotKind, SnapshotMount, SnapshotUsage } from './graphdriver/driver.js';
export { GraphDriverError } from './graphdriver/errors.js';
export { defaultGraphDriver, openGraphDriver } from './graphdriver/index.js';
export type { GraphDriverName } from './graphdriver/index.js';
export { Overlay2Driver } from './graphdriver/overlay2.js';
export { VfsDriver } from './graphdriver/vfs.js';
export { FullTreeDriver } from './graphdriver/full-tree-driver.js';
export { OWNER_PID_LABEL, SnapshotterBase } from './graphdriver/snapshotter-base.js';
export type { SnapshotRecord } from './graphdriver/snapshot-records.js';
export { BtrfsDriver } from './graphdriver/btrfs.js';
export { SnapshotRecords, checkKey } from './graphdriver/snapshot-records.js';
export { mergedTreeTar } from './graphdriver/diff-tar.js';
export { ImageError } from './image/errors.js';
export { MediaType, hostPlatform } from './image/oci.js';
export type { Descriptor, HistoryEntry, ImageConfig, ImageIndex, ImageManifest, ImageRunConfig, Platform } from './image/oci.js';
export { Layer, LayerStore, chainID, chainIDs } from './image/layer-store.js';
export type { LayerRecord, RegisteredLayer, RegisterOptions, RegisterStackOptions, StackLayer } from './image/layer-store.js';
export { Image, ImageStore, imageIdOf } from './image/image-store.js';
export type { AddImageOptions, ImageInspect, ImageLayer, ImageRecord, ImageStoreOptions, RemoveImageOptions, RemoveImageResult } from './image/image-store.js';
export { loadArchive, readOciLayout } from './image/archive/load.js';
export type { LoadOptions } from './image/archive/load.js';
export type { LoadProgress, LoadResult } from './image/archive/ingest.js';
export type { OciPlanOptions } from './image/archive/oci-index.js';
export { saveArchive, writeOciLayout } from './image/archive/save.js';
export type { SaveOptions, SaveResult, SavedImage } from './image/archive/save.js';
export { Engine } from './engine/engine.js';
export type { CommitOptions, CreateContainerOptions, EngineOptions, RecordedOptions } from './engine/engine.js';
export { applyCapabilities, applyMounts, applyResources, capabilitySet, checkMount, DOCKER_DEFAULT_CAPABILITIES } from './engine/host-config.js';
export { defaultSeccomp } from './engine/default-seccomp.js';
export type { MountOption, ResourceOptions } from './engine/host-config.js';
export { Volumes } from './engine/volumes.js';
export { EngineContainer } from './engine/engine-container.js';
export type { ContainerInspect, ContainerRecord } from './engine/engine-container.js';
export { EngineError } from './engine/errors.js';
export { containerSpec, mergeEnv, processArgs } from './engine/container-spec.js';
export type { ProcessOptions } from './engine/container-spec.js';
export { resolveImageUser } from './engine/image-user.js';
export type { ResolvedUser } from './engine/image-user.js';
export * from './network/index.js';
export { connectNetwork, openNetns, prepareNetwork } from './engine/network-config.js';
export type { NetworkOptions, PreparedNetwork } from './engine/network-config.js';
export { FileLock, withFileLock } from './util/file-lock.js';
export * from './registry/index.js';
export { ensureImage, pull, push, search, tags } from './engine/registry.js';
export type { EngineRegistryOptions } from './engine/registry.js';
