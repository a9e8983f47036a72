import { defineConfig } from 'vitest/config';

// Tests run as root against the real kernel. Each file runs in its own forked process (the
// native addon and its helper are per process); files run two at a time on these 2-core hosts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-leaks.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
