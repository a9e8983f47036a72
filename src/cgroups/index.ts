/**
 * The cgroups layer: {@link Cgroup} objects over one {@link CgroupManager} interface with
 * three backends (v1 `fs`, v2 `fs2`, `hybrid`), chosen by detecting the host.
 * @module
 */
export { Cgroup, managerFor } from './cgroup.js';
export type { CgroupDriver, CgroupOptions } from './cgroup.js';
export { blkioWeightToIoWeight, cpuSharesToWeight, cpuWeightToShares, memorySwapToV2 } from './convert.js';
export { deviceFilterProgram, encodeProgram, runProgram } from './device-filter.js';
export type { BpfInsn } from './device-filter.js';
export { containerDeviceRules, DEFAULT_ALLOWED_DEVICES, DeviceEmulator, ruleText } from './devices.js';
export type { DeviceException, SpecDeviceNode } from './devices.js';
export { CgroupError, CgroupLimitError, SystemdCgroupError } from './errors.js';
export { FsManager } from './fs.js';
export { Fs2Manager } from './fs2.js';
export { cgroupHost, parseCgroupHost, parseCpuList } from './host.js';
export type { CgroupHost, CgroupMode, HostResources, V1Hierarchy, V2Mount } from './host.js';
export { HybridManager } from './hybrid.js';
export type { CgroupManager, FreezerState, OomEvent, OomWatch } from './manager.js';
export { normalizeCgroupPath, resolveCgroupPaths } from './paths.js';
export type { CgroupPaths } from './paths.js';
export type * from './resources.js';
export { toRuncStats } from './stats.js';
export type * from './stats.js';
export { SystemdManager, systemdRunning } from './systemd.js';
export { validateDeviceRules, validateResources } from './validate.js';
export type { DeviceRule, Resources, ResourceValidateOptions } from './validate.js';
