/**
 * Opens the worker's shared embedded engine (test/harness.ts) before a file's own hooks, under
 * a timeout of its own. Opening PGlite with TimescaleDB is fixed work (a few CPU-seconds) that
 * a busy machine can stretch past a minute; counted inside a suite's `beforeAll`, that wait
 * failed whole files. Files that never start an embedded app (pure unit tests) skip it.
 */
import { readFileSync } from 'node:fs';
import { beforeAll } from 'vitest';
import { sharedEmbedded } from './harness.js';

const ENGINE_OPEN_TIMEOUT_MS = 10 * 60_000;

beforeAll(async ({}, suite) => {
  const path = suite.file?.filepath;
  if (path && /\bstartApp\(|\bsharedEmbedded\(/.test(readFileSync(path, 'utf8'))) await sharedEmbedded();
}, ENGINE_OPEN_TIMEOUT_MS);
