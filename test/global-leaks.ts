// Run once around the whole suite (vitest globalSetup): afterwards, no bridge that a test's root
// made may be left on the host. A root's default network outlives its containers (as docker0
// does), so every test file that runs containers on it must remove it; this catches one that
// forgets, which the next network operation would otherwise quietly collect as an orphan.
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

const REGISTRY = '/run/berth-network/bridges';

/** Bridges registered for a network record under this host's temp directory (tests' roots). */
function testBridges(): string[] {
  let names: string[];
  try {
    names = readdirSync(REGISTRY);
  } catch {
    return [];
  }
  return names.filter((n) => {
    try {
      return n.endsWith('.json') && (JSON.parse(readFileSync(`${REGISTRY}/${n}`, 'utf8')) as { record?: string }).record?.startsWith(`${os.tmpdir()}/berth-`) === true;
    } catch {
      return false;
    }
  }).map((n) => n.slice(0, -'.json'.length));
}

/** vitest globalSetup: nothing before; the check after. */
export default function setup(): () => void {
  const before = new Set(testBridges());
  return () => {
    const left = testBridges().filter((b) => !before.has(b));
    if (left.length > 0) throw new Error(`test roots left bridges on the host: ${left.join(', ')} (remove their default network: removeDefaultNetwork in test/support.ts)`);
  };
}
