/**
 * Opens the worker's shared embedded engine (test/harness.ts) before a file's own hooks, under
 * a timeout of its own. Opening PGlite with TimescaleDB is fixed work (a few CPU-seconds) that
 * a busy machine can stretch past a minute; counted inside a suite's `beforeAll`, that wait
 * failed whole files. Files that never start an embedded app (pure unit tests) skip it.
 */
import { readFileSync } from 'node:fs';
import { beforeAll } from 'vitest';
import { sharedEmbedded } from './harness.js';

/**
 * Every fetch a test makes to its in-process server closes its connection afterwards.
 *
 * Server and client share this process's event loop, and the embedded engine runs on it: a
 * statement or job that holds the loop past the server's keep-alive timeout (5 s) lets both
 * sides' idle timers expire unseen. When the loop comes back, the test's next request can be
 * written on a pooled socket just as the server's timer closes it ("other side closed"). Tests
 * used to sleep 50 ms after long jobs to let the server close first; a fresh connection per
 * request removes the race wherever it can happen (loopback connections cost microseconds).
 */
const PATCHED = Symbol.for('metrograph.test.fetchClosesConnection');
const holder = globalThis as { [PATCHED]?: true };
if (!holder[PATCHED]) {
  holder[PATCHED] = true;
  const original = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!/^https?:\/\/(127\.0\.0\.1|localhost)[:/]/.test(url)) return original(input, init);
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    if (!headers.has('connection')) headers.set('connection', 'close');
    return original(input, { ...init, headers });
  };
}

const ENGINE_OPEN_TIMEOUT_MS = 10 * 60_000;

beforeAll(async ({}, suite) => {
  const path = suite.file?.filepath;
  if (path && /\bstartApp\(|\bsharedEmbedded\(/.test(readFileSync(path, 'utf8'))) await sharedEmbedded();
}, ENGINE_OPEN_TIMEOUT_MS);
