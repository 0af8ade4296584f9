import { defineConfig } from 'vitest/config';

export default defineConfig({
  // graphql ships ESM and CJS builds; Pothos and Yoga must see the same one as our code.
  resolve: { alias: { graphql: 'graphql/index.js' } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: two files at a time. Files run one after another in each worker without a
    // fresh module graph, so test/harness.ts keeps one embedded engine per worker for every
    // file it runs (a tenant per suite) instead of opening PGlite for each suite.
    maxWorkers: 2,
    fileParallelism: true,
    isolate: false,
    // Opens that engine before a file's own hooks, under its own timeout (the open is fixed work).
    setupFiles: ['test/setup-engine.ts'],
    // expect.poll waits for a condition; its 1 s default failed browser tests on a busy machine.
    // A poll that is met returns at once, so a longer wait costs nothing when things work.
    expect: { poll: { timeout: 20_000 } },
    reporters: ['default'],
  },
});
