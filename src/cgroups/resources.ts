/**
 * The OCI runtime-spec `linux.resources` object, fully typed. Integers are JSON numbers; the
 * sentinels follow runc: `0` (or absent) leaves a setting alone and `-1` means unlimited.
 * @module
 */

/** A device cgroup rule (`linux.resources.devices[]`). */
export interface LinuxDeviceCgroup {
  /** Allow or deny. */
  allow: boolean;
  /** `a` (all), `c` (char) or `b` (block); default `a`. */
  type?: string;
  /** Major number; absent or -1: any. */
  major?: number;
  /** Minor number; absent or -1: any. */
  minor?: number;
  /** Any of `r`, `w`, `m`; default `rwm`. */
  access?: string;
}

/** Memory limits (`linux.resources.memory`), in bytes. */
export interface LinuxMemory {
  /** Hard limit; -1: unlimited. */
  limit?: number;
  /** Soft limit (v1 soft_limit_in_bytes, v2 memory.low); -1: unlimited. */
  reservation?: number;
  /** Memory plus swap (v1 memsw; on v2 swap.max gets swap - limit); -1: unlimited. */
  swap?: number;
  /** Kernel memory limit: deprecated by the kernel, accepted and ignored (as runc does). */
  kernel?: number;
  /** Kernel TCP buffer limit: deprecated, accepted and ignored. */
  kernelTCP?: number;
  /** Swappiness 0..100 (v1 only; ignored on v2 like crun). */
  swappiness?: number;
  /** Disables the OOM killer (v1 memory.oom_control; ignored on v2). */
  disableOOMKiller?: boolean;
  /** Hierarchical accounting; the kernel always uses it now, accepted and ignored. */
  useHierarchy?: boolean;
  /** Refuse an update that sets the limit below current usage (v2); v1 refuses it anyway. */
  checkBeforeUpdate?: boolean;
}

/** CPU limits (`linux.resources.cpu`). */
export interface LinuxCPU {
  /** Relative weight (v1 cpu.shares 2..262144; v2 cpu.weight converted from it). */
  shares?: number;
  /** CFS quota in microseconds per period; -1: unlimited. */
  quota?: number;
  /** CFS burst in microseconds. */
  burst?: number;
  /** CFS period in microseconds (1000..1000000). */
  period?: number;
  /** Realtime runtime in microseconds (v1 only). */
  realtimeRuntime?: number;
  /** Realtime period in microseconds (v1 only). */
  realtimePeriod?: number;
  /** CPUs the container may run on, in cpuset list form (`0-3,6`). */
  cpus?: string;
  /** Memory nodes the container may use, in list form. */
  mems?: string;
  /** 1: SCHED_IDLE for the cgroup, 0: normal. */
  idle?: number;
}

/** Task limit (`linux.resources.pids`). */
export interface LinuxPids {
  /** Maximum number of tasks; -1 (or 0 in older specs): unlimited. */
  limit: number;
}

/** A per-device weight (`linux.resources.blockIO.weightDevice[]`). */
export interface LinuxWeightDevice {
  /** Device major number. */
  major: number;
  /** Device minor number. */
  minor: number;
  /** Weight 10..1000. */
  weight?: number;
  /** Leaf weight 10..1000 (v1 CFQ only). */
  leafWeight?: number;
}

/** A per-device rate limit (`linux.resources.blockIO.throttle*Device[]`). */
export interface LinuxThrottleDevice {
  /** Device major number. */
  major: number;
  /** Device minor number. */
  minor: number;
  /** Bytes or operations per second. */
  rate: number;
}

/** Block I/O limits (`linux.resources.blockIO`). */
export interface LinuxBlockIO {
  /** Weight 10..1000 (v2: io.bfq.weight, or io.weight converted). */
  weight?: number;
  /** Leaf weight 10..1000 (v1 CFQ only). */
  leafWeight?: number;
  /** Per-device weights. */
  weightDevice?: LinuxWeightDevice[];
  /** Read bytes per second per device. */
  throttleReadBpsDevice?: LinuxThrottleDevice[];
  /** Write bytes per second per device. */
  throttleWriteBpsDevice?: LinuxThrottleDevice[];
  /** Read operations per second per device. */
  throttleReadIOPSDevice?: LinuxThrottleDevice[];
  /** Write operations per second per device. */
  throttleWriteIOPSDevice?: LinuxThrottleDevice[];
}

/** A hugetlb limit (`linux.resources.hugepageLimits[]`). */
export interface LinuxHugepageLimit {
  /** Page size: `2MB`, `1GB`, `64KB`... */
  pageSize: string;
  /** Limit in bytes. */
  limit: number;
}

/** The net_prio priority of one interface. */
export interface LinuxInterfacePriority {
  /** Interface name. */
  name: string;
  /** Priority. */
  priority: number;
}

/** Network class and priorities (`linux.resources.network`, cgroup v1 net_cls/net_prio). */
export interface LinuxNetwork {
  /** net_cls class id. */
  classID?: number;
  /** net_prio priorities per interface. */
  priorities?: LinuxInterfacePriority[];
}

/** RDMA limits of one device. */
export interface LinuxRdma {
  /** Maximum HCA handles. */
  hcaHandles?: number;
  /** Maximum HCA objects. */
  hcaObjects?: number;
}

/** The OCI `linux.resources` object. */
export interface LinuxResources {
  /** Device access rules, applied in order. */
  devices?: LinuxDeviceCgroup[];
  /** Memory limits. */
  memory?: LinuxMemory;
  /** CPU limits. */
  cpu?: LinuxCPU;
  /** Task limit. */
  pids?: LinuxPids;
  /** Block I/O limits. */
  blockIO?: LinuxBlockIO;
  /** Hugetlb limits. */
  hugepageLimits?: LinuxHugepageLimit[];
  /** Network class and priorities. */
  network?: LinuxNetwork;
  /** RDMA limits keyed by device name. */
  rdma?: Record<string, LinuxRdma>;
  /** cgroup v2 files written verbatim (`"memory.high": "1G"`), after everything else. */
  unified?: Record<string, string>;
}
