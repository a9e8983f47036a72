// The typedoc site builds with no warning: every export is documented.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';

it('npm run docs builds without warnings', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'berth-docs-'));
  try {
    const r = spawnSync('npx', ['typedoc', '--treatWarningsAsErrors', '--out', out], { encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/warning|error/i);
    expect(r.status).toBe(0);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 120_000);
