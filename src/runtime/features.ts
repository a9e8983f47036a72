/**
 * The OCI runtime "features" document: what this build of berth supports.
 * @module
 */
import { CAPABILITY_NAMES } from './capabilities.js';
import { MOUNT_OPTION_NAMES } from './mount-options.js';
import { ACTION_NAMES, FLAG_NAMES } from './seccomp/actions.js';
import { ARCH_NAMES } from './seccomp/arch.js';
import { OPERATOR_NAMES } from './seccomp/conditions.js';

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
  linux: {
    namespaces: string[];
    capabilities: string[];
    cgroup: { v1: boolean; v2: boolean; systemd: boolean; systemdUser: boolean };
    seccomp: {
      enabled: boolean;
      actions: string[];
      operators: string[];
      archs: string[];
      knownFlags: string[];
      supportedFlags: string[];
    };
    apparmor: { enabled: boolean };
    selinux: { enabled: boolean };
    intelRdt: { enabled: boolean };
  };
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
