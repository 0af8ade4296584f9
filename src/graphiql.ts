import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { renderGraphiQL, type GraphiQLOptions } from 'graphql-yoga';
import { KEY_PLACEHOLDER } from './auth.js';

/**
 * GraphiQL served from this service, not from a CDN: the machines it runs on may have no
 * internet. Yoga's page is kept and its asset URLs point at /graphiql/ instead, served
 * from the pinned @graphql-yoga/graphiql package.
 */
const ASSETS_DIR = join(dirname(createRequire(import.meta.url).resolve('@graphql-yoga/graphiql/package.json')), 'dist');
const CDN_PREFIX = /https:\/\/unpkg\.com\/@graphql-yoga\/graphiql@[\d.]+\/dist\//g;

const ASSETS: Record<string, string> = {
  'graphiql.css': 'text/css; charset=utf-8',
  'yoga-graphiql.umd.js': 'application/javascript; charset=utf-8',
  'monacoeditorwork/editor.worker.bundle.js': 'application/javascript; charset=utf-8',
  'monacoeditorwork/json.worker.bundle.js': 'application/javascript; charset=utf-8',
  'monacoeditorwork/graphql.worker..bundle.js': 'application/javascript; charset=utf-8',
};

/** What GraphiQL opens on: a query that works on a fresh tenant once a point is recorded, and where the key goes. */
export const EXAMPLE_QUERY = `# Welcome to Metrograph. Paste your API key in Headers (below), replacing <your API key>.
# Run a mutation with the play button, then the query; subscriptions work here too.

mutation Record {
  recordMetric(input: { name: "http.latency", value: 42.5, type: HISTOGRAM, unit: "ms", tags: { route: "/login" } }) {
    point { metric value timestamp }
  }
}

query Metrics {
  metrics { name type unit }
  latestValue(metric: "http.latency") { value unit timestamp }
}

subscription Live {
  metricRecorded(filter: { metrics: ["http.latency"] }) { point { metric tags value timestamp } }
}
`;
export const HEADERS_TEMPLATE = JSON.stringify({ Authorization: `Bearer ${KEY_PLACEHOLDER}` }, null, 2);

/** Metrograph's icon: three bars of a chart. */
const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#0072B2"/><rect x="6" y="16" width="5" height="10" fill="#fff"/><rect x="13.5" y="10" width="5" height="16" fill="#fff"/><rect x="21" y="5" width="5" height="21" fill="#E69F00"/></svg>`;

// Yoga's page opens on its `query` option, else on its own welcome text, never on GraphiQL's
// `defaultQuery`; and a `query` option would win over a `?query=` in the URL (the dashboard's
// links). So the page itself sets `query` to the example when the URL has none.
const PAGE_OPTIONS = `function pageOptions(o){try{if(!new URLSearchParams(location.search).has("query"))o.query=o.defaultQuery;const h=new URLSearchParams(location.hash.slice(1)).get("headers");if(h){o.headers=h;history.replaceState(null,"",location.pathname+location.search)}}catch(e){}return o}`;

/**
 * Yoga's page with local assets, our icon, the example query unless the URL has one, and
 * headers taken from the URL's fragment
 * (`#headers=<JSON>`): the dashboard's "Open in GraphiQL" carries the key that way, and a
 * fragment never reaches a server or its logs.
 */
export function renderLocalGraphiQL(options: GraphiQLOptions): string {
  return renderGraphiQL({ defaultQuery: EXAMPLE_QUERY, headers: HEADERS_TEMPLATE, defaultEditorToolsVisibility: 'headers', ...options })
    .replace(CDN_PREFIX, '/graphiql/')
    .replace(/<link rel=icon[^>]*>/, '<link rel=icon href=/favicon.svg type=image/svg+xml>')
    .replace('<script>prepareWorkers()', `<script>${PAGE_OPTIONS}</script><script>prepareWorkers()`)
    .replace('YogaGraphiQL.renderYogaGraphiQL(root,', 'YogaGraphiQL.renderYogaGraphiQL(root,pageOptions(')
    .replace(')})</script></body>', '))})</script></body>');
}

/** Serves a GraphiQL asset for `/graphiql/<name>`, and the icon; false when the path is neither. */
export function serveGraphiQLAsset(path: string, res: ServerResponse): boolean {
  if (path === '/favicon.svg' || path === '/favicon.ico') {
    res.writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'public, max-age=86400' }).end(FAVICON);
    return true;
  }
  if (!path.startsWith('/graphiql/')) return false;
  const name = path.slice('/graphiql/'.length);
  const type = ASSETS[name];
  if (!type) {
    res.writeHead(404).end();
    return true;
  }
  res.writeHead(200, { 'content-type': type, 'cache-control': 'public, max-age=86400' });
  createReadStream(join(ASSETS_DIR, name)).pipe(res);
  return true;
}
