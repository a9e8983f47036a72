/**
 * Device access rules: the default list every container gets (runc's), and an emulator of the
 * cgroup v1 devices controller (after runc's): it folds an ordered rule list into a default
 * (allow or deny) plus exceptions, which gives both the minimal v1 transition to write to
 * devices.allow/devices.deny and the rules of a v2 eBPF program, with the same meaning.
 * @module
 */
import { ConfigError } from '../errors.js';
import type { DeviceRule } from './validate.js';
import { compareStrings } from '../util/compare-strings.js';

/** The rules runc appends to every container's list (specconv.AllowedDevices). */
export const DEFAULT_ALLOWED_DEVICES: readonly DeviceRule[] = [
  { allow: true, type: 'c', major: -1, minor: -1, access: 'm' }, // mknod of any device
  { allow: true, type: 'b', major: -1, minor: -1, access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
  { allow: true, type: 'c', major: 136, minor: -1, access: 'rwm' }, // /dev/pts/*
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // /dev/net/tun
];

/** A device node of the spec (`linux.devices[]`), as far as the cgroup cares. */
export interface SpecDeviceNode {
  /** `c`, `u` (unbuffered char), `b` or `p` (fifo: no rule). */
  type: string;
  /** Major number. */
  major?: number;
  /** Minor number. */
  minor?: number;
}

/**
 * The device rules of a container, in runc's order: the spec's own rules, then rwm for every
 * device node the spec creates, then the default allowed devices.
 */
export function containerDeviceRules(specRules: readonly DeviceRule[], nodes: readonly SpecDeviceNode[] = []): DeviceRule[] {
  const out = [...specRules];
  for (const n of nodes) {
    if (n.type === 'p' || n.major === undefined || n.minor === undefined) continue;
    out.push({ allow: true, type: n.type === 'b' ? 'b' : 'c', major: n.major, minor: n.minor, access: 'rwm' });
  }
  out.push(...DEFAULT_ALLOWED_DEVICES);
  return out;
}

/** The v1 text of a rule: `c 1:3 rwm`, `a *:* rwm`. */
export function ruleText(r: Pick<DeviceRule, 'type' | 'major' | 'minor' | 'access'>): string {
  const n = (x: number): string => (x < 0 ? '*' : String(x));
  return `${r.type} ${n(r.major)}:${n(r.minor)} ${r.access}`;
}

const ACCESS_ORDER = ['r', 'w', 'm'] as const;
const union = (a: string, b: string): string => ACCESS_ORDER.filter((c) => a.includes(c) || b.includes(c)).join('');
const difference = (a: string, b: string): string => ACCESS_ORDER.filter((c) => a.includes(c) && !b.includes(c)).join('');
const intersects = (a: string, b: string): boolean => ACCESS_ORDER.some((c) => a.includes(c) && b.includes(c));

const metaKey = (type: string, major: number, minor: number): string => `${type} ${major} ${minor}`;

/** One exception of a device state: a device (or wildcard) and the access it is excepted for. */
export interface DeviceException {
  /** `c` or `b`. */
  type: 'c' | 'b';
  /** Major number, -1 for any. */
  major: number;
  /** Minor number, -1 for any. */
  minor: number;
  /** Some of `rwm`. */
  access: string;
}

/** The state of a devices cgroup: a default action and exceptions to it. */
export class DeviceEmulator {
  /** True: everything is allowed except the exceptions (a deny list); false: an allow list. */
  defaultAllow: boolean;
  /** Exceptions keyed by `type major minor`, with their access. */
  readonly rules = new Map<string, DeviceException>();

  constructor(defaultAllow = false) {
    this.defaultAllow = defaultAllow;
  }

  /** Builds the state a v1 cgroup reports in devices.list (`a *:* rwm` is allow-all). */
  static fromList(text: string): DeviceEmulator {
    const e = new DeviceEmulator(false);
    for (const line of text.split('\n')) {
      const m = /^([abc]) (\*|\d+):(\*|\d+) ([rwm]+)$/.exec(line.trim());
      if (!m) continue;
      const num = (s: string): number => (s === '*' ? -1 : Number(s));
      e.apply({ allow: true, type: m[1] as DeviceRule['type'], major: num(m[2]!), minor: num(m[3]!), access: m[4]! }, 'devices.list');
    }
    return e;
  }

  /** Builds the state an ordered rule list produces, starting from deny-all (as runc does). */
  static fromRules(rules: readonly DeviceRule[], field = 'linux.resources.devices'): DeviceEmulator {
    const e = new DeviceEmulator(false);
    rules.forEach((r, i) => e.apply(r, `${field}[${i}]`));
    return e;
  }

  /** Applies one rule like the v1 kernel does; refuses punching a hole in a wildcard rule (v1 cannot express it). */
  apply(rule: DeviceRule, field: string): void {
    if (rule.type === 'a') {
      // "a" resets the cgroup to allow-all or deny-all, whatever the numbers and access.
      this.defaultAllow = rule.allow;
      this.rules.clear();
      return;
    }
    if (rule.allow === this.defaultAllow) this.remove(rule, field);
    else this.add(rule);
  }

  private add(rule: DeviceRule): void {
    const key = metaKey(rule.type, rule.major, rule.minor);
    const old = this.rules.get(key);
    this.rules.set(key, { type: rule.type as 'c' | 'b', major: rule.major, minor: rule.minor, access: union(old?.access ?? '', rule.access) });
  }

  private remove(rule: DeviceRule, field: string): void {
    for (const [major, minor] of [[-1, rule.minor], [rule.major, -1], [-1, -1]] as const) {
      if (major === rule.major && minor === rule.minor) continue;
      const wide = this.rules.get(metaKey(rule.type, major, minor));
      if (wide && intersects(wide.access, rule.access)) {
        throw new ConfigError(
          `${rule.allow ? 'allowing' : 'denying'} ${ruleText(rule)} would punch a hole in the wider rule ${ruleText(wide)}, which cgroup v1 cannot express`,
          field,
        );
      }
    }
    const key = metaKey(rule.type, rule.major, rule.minor);
    const old = this.rules.get(key);
    if (!old) return;
    const left = difference(old.access, rule.access);
    if (left === '') this.rules.delete(key);
    else this.rules.set(key, { ...old, access: left });
  }

  /** True when everything is allowed. */
  get allowsAll(): boolean {
    return this.defaultAllow && this.rules.size === 0;
  }

  /** Exceptions sorted by major, minor, type (deterministic output). */
  entries(): DeviceException[] {
    return [...this.rules.values()].sort((a, b) => a.major - b.major || a.minor - b.minor || compareStrings(a.type, b.type));
  }

  /**
   * The rules that turn a cgroup in this state into `target`, in order: a reset (`a *:* rwm`)
   * when the default changes or this is a deny list, then the exceptions dropped, then those
   * gained in the order they were first given.
   */
  transition(target: DeviceEmulator): DeviceRule[] {
    const out: DeviceRule[] = [];
    let old = this.rules;
    if (this.defaultAllow || this.defaultAllow !== target.defaultAllow) {
      out.push({ allow: target.defaultAllow, type: 'a', major: -1, minor: -1, access: 'rwm' });
      old = new Map();
    }
    for (const r of [...old.values()].sort((a, b) => a.major - b.major || a.minor - b.minor)) {
      const dropped = difference(r.access, target.rules.get(metaKey(r.type, r.major, r.minor))?.access ?? '');
      if (dropped !== '') out.push({ allow: target.defaultAllow, type: r.type, major: r.major, minor: r.minor, access: dropped });
    }
    // In the order the rules were given: the spec's own rules come first (the OCI spec asks
    // for the listed order, and the validation suite reads it back from devices.list).
    for (const r of target.rules.values()) {
      const gained = difference(r.access, old.get(metaKey(r.type, r.major, r.minor))?.access ?? '');
      if (gained !== '') out.push({ allow: !target.defaultAllow, type: r.type, major: r.major, minor: r.minor, access: gained });
    }
    return out;
  }

  /** The minimal rule list that produces this state from a fresh cgroup. */
  toRules(): DeviceRule[] {
    return new DeviceEmulator(false).transition(this);
  }
}
