import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { renderGraphiQL, type GraphiQLOptions } from 'graphql-yoga';

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

export function renderLocalGraphiQL(options: GraphiQLOptions): string {
  return renderGraphiQL(options)
    .replace(CDN_PREFIX, '/graphiql/')
    .replace(/<link rel=icon[^>]*>/, '');
}

/** Serves a GraphiQL asset for `/graphiql/<name>`; false when the path is not one. */
export function serveGraphiQLAsset(path: string, res: ServerResponse): boolean {
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
