/**
 * The OCI runtime "features" document: what this build of berth supports.
 * @module
 */
import { CAPABILITY_NAMES } from './capabilities.js';
import { MOUNT_OPTION_NAMES } from './mount-options.js';
import { ACTION_NAMES, FLAG_NAMES } from './seccomp/actions.js';
import { ARCH_NAMES } from './seccomp/arch.js';
import { OPERATOR_NAMES } from './seccomp/conditions.js';

/** A feature that is either there or not. */
export interface Toggle {
  /** Whether berth supports it. */
  enabled: boolean;
}

/** Which cgroup drivers and versions berth manages. */
export interface CgroupFeatures {
  /** cgroup v1 hierarchies. */
  v1: boolean;
  /** The cgroup v2 unified hierarchy. */
  v2: boolean;
  /** The systemd driver (needs systemd). */
  systemd: boolean;
  /** The systemd user-session driver. */
  systemdUser: boolean;
}

/** What berth's seccomp support understands. */
export interface SeccompFeatures extends Toggle {
  /** SCMP_ACT_* actions. */
  actions: string[];
  /** SCMP_CMP_* operators. */
  operators: string[];
  /** SCMP_ARCH_* architectures. */
  archs: string[];
  /** SECCOMP_FILTER_FLAG_* flags it recognises. */
  knownFlags: string[];
  /** The flags it can apply. */
  supportedFlags: string[];
}

/** The Linux part of the features document. */
export interface LinuxFeatures {
  /** Namespace kinds. */
  namespaces: string[];
  /** Capability names. */
  capabilities: string[];
  /** Cgroup support. */
  cgroup: CgroupFeatures;
  /** Seccomp support. */
  seccomp: SeccompFeatures;
  /** AppArmor profiles (not applied by berth). */
  apparmor: Toggle;
  /** SELinux labels (not applied by berth). */
  selinux: Toggle;
  /** Intel RDT (not supported). */
  intelRdt: Toggle;
}

/** The OCI features structure (runtime-spec features.md), as berth fills it. */
export interface Features {
  /** Oldest spec version accepted. */
  ociVersionMin: string;
  /** Newest spec version accepted. */
  ociVersionMax: string;
  /** Hook kinds run. */
  hooks: string[];
  /** Mount options understood. */
  mountOptions: string[];
  /** Linux-specific features. */
  linux: LinuxFeatures;
  /** Implementation details. */
  annotations: Record<string, string>;
}

/** Returns the features document. */
export function features(): Features {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: '1.2.0',
    hooks: ['prestart', 'createRuntime', 'poststart', 'poststop'],
    mountOptions: [...MOUNT_OPTION_NAMES],
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts'],
      capabilities: CAPABILITY_NAMES,
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
      seccomp: {
        enabled: true,
        actions: [...ACTION_NAMES],
        operators: [...OPERATOR_NAMES],
        archs: [...ARCH_NAMES],
        knownFlags: [...FLAG_NAMES, 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'],
        supportedFlags: [...FLAG_NAMES],
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
    },
    annotations: { 'io.github.berth.version': '0.1.0' },
  };
}
