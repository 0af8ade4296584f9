import { defineConfig } from 'vitest/config';

export default defineConfig({
  // graphql ships ESM and CJS builds; Pothos and Yoga must see the same one as our code.
  resolve: { alias: { graphql: 'graphql/index.js' } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Each file starts its own engine (PGlite in memory, or a fresh PostgreSQL database).
    // Two cores: two files at a time.
    maxWorkers: 2,
    fileParallelism: true,
    reporters: ['default'],
  },
});
