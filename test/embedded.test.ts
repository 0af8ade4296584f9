/**
 * The embedded default as a newcomer meets it: data kept on disk across restarts, with
 * hypertables and continuous aggregates working after the restart; GraphiQL served by the
 * service itself (the machine may have no internet).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseEnv } from '../src/env.js';
import { createLogger } from '../src/log.js';
import { createServer, openDeps } from '../src/server.js';
import { print } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { graphql } from './gql/index.js';
import { OPERATOR_TOKEN, startApp } from './harness.js';
import { EXAMPLE_QUERY, HEADERS_TEMPLATE } from '../src/graphiql.js';
import { CreateTenant } from './operations.js';

const log = createLogger('silent');
const env = parseEnv({ NODE_ENV: 'test', LOG_LEVEL: 'silent', OPERATOR_TOKEN, QUERY_CACHE_SIZE: '0' });

async function serve(dataDir: string) {
  const deps = await openDeps(env, log, { embeddedDataDir: dataDir });
  const server = createServer(deps);
  const url = await server.start(0);
  const gql = async <R, V>(document: TypedDocumentNode<R, V>, variables: V, token: string) => {
    const body = JSON.stringify({ query: print(document), variables });
    const response = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
    return (await response.json()) as { data?: R; errors?: unknown[] };
  };
  return {
    url,
    gql,
    latePoints: deps.latePoints,
    async close() {
      await server.stop();
      await deps.close();
    },
  };
}

const RECORD = graphql(`
  mutation RecordDiskUsed($t: DateTime!, $v: Float!) {
    recordMetric(input: { name: "disk.used", type: GAUGE, value: $v, timestamp: $t }) { id }
  }
`);
const HOURLY = graphql(`
  query DiskUsedHourly {
    metricAggregates(input: { metrics: ["disk.used"], from: "2026-11-20T00:00:00Z", to: "2026-11-20T02:00:00Z", granularity: HOUR }) {
      series { buckets { start count sum last } }
      metadata { source }
    }
  }
`);

describe('embedded engine on disk', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'metrograph-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('keeps tenants, keys, points and aggregates across a restart, and keeps ingesting', async () => {
    const first = await serve(dir);
    const created = await first.gql(CreateTenant, { input: { name: 'acme' } }, OPERATOR_TOKEN);
    const key = created.data!.createTenant.adminKey.key;
    expect((await first.gql(RECORD, { t: '2026-11-20T00:10:00Z', v: 10 }, key)).errors).toBeUndefined();
    await first.close();

    const second = await serve(dir);
    try {
      // A hypertable with continuous aggregates takes writes after the restart (TimescaleDB is loaded again).
      expect((await second.gql(RECORD, { t: '2026-11-20T01:10:00Z', v: 20 }, key)).errors).toBeUndefined();
      // Both points are late: the late-points job takes them into the aggregates (until then, raw points answer).
      await second.latePoints.refreshPending();
      const result = await second.gql(HOURLY, {}, key);
      expect(result.data?.metricAggregates).toEqual({
        series: [
          {
            buckets: [
              { start: '2026-11-20T00:00:00.000Z', count: 1, sum: 10, last: 10 },
              { start: '2026-11-20T01:00:00.000Z', count: 1, sum: 20, last: 20 },
            ],
          },
        ],
        metadata: { source: 'group_stats_1h' },
      });
    } finally {
      await second.close();
    }
    // Two engine opens and a late-points job run: fixed work that a busy machine stretches past the default 30 s.
  }, 10 * 60_000);

  test('GraphiQL and its assets are served locally, with no CDN; it opens on a Metrograph example and a headers template', async () => {
    const app = await startApp('embedded');
    try {
      const page = await fetch(`${app.url}/graphql`, { headers: { accept: 'text/html' } });
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('/graphiql/yoga-graphiql.umd.js');
      expect(html).not.toMatch(/https?:\/\//);
      for (const asset of ['graphiql.css', 'yoga-graphiql.umd.js', 'monacoeditorwork/editor.worker.bundle.js']) {
        const response = await fetch(`${app.url}/graphiql/${asset}`);
        expect(response.status, asset).toBe(200);
        expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(1000);
      }
      expect((await fetch(`${app.url}/graphiql/../package.json`)).status).toBe(404);
      expect(html).toContain(JSON.stringify(EXAMPLE_QUERY));
      expect(html).toContain(JSON.stringify(HEADERS_TEMPLATE));
      expect(html).toContain('<link rel=icon href=/favicon.svg type=image/svg+xml>');
      const icon = await fetch(`${app.url}/favicon.svg`);
      expect([icon.status, icon.headers.get('content-type')]).toEqual([200, 'image/svg+xml']);
      expect(await icon.text()).toMatch(/^<svg /);
    } finally {
      await app.close();
    }
  });
});
