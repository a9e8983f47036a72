/**
 * Output as Docker prints it: aligned tables, human sizes (`1.23MB`, decimal units), times
 * (`2 minutes ago`, `Up 5 seconds`), short ids and truncated commands.
 * @module
 */
import { humanDuration } from '../../engine/engine-container.js';

/** Columns aligned with at least three spaces between them, as Docker's tables. */
export function table(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

/** A size in decimal units with three significant digits (`4.26MB`), as Docker's `images`. */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${Number(v.toPrecision(3))}${units[u]}`;
}

/** `<duration> ago` of an ISO time. */
export function ago(iso: string | undefined, now = Date.now()): string {
  if (iso === undefined) return 'N/A';
  return `${humanDuration(now - Date.parse(iso))} ago`;
}

/** The first 12 hex digits of an id (`sha256:` dropped). */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** A command quoted and cut to `max` characters with `…`, as `docker ps` shows it. */
export function truncatedCommand(args: readonly string[], max = 20): string {
  const s = args.join(' ');
  return `"${s.length > max ? `${s.slice(0, max - 1)}…` : s}"`;
}
