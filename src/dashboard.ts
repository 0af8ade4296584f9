/**
 * The built-in dashboard: static files under src/dashboard (hand-written ES modules, no build
 * step) and uPlot from its pinned package, all served by the service itself — no CDN, the
 * machines it runs on may have no internet. The page uses only the public GraphQL API.
 */
import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';

const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'dashboard');
const UPLOT_DIR = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');

const JS = 'application/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** URL path → [file, content type]. Nothing else is served: no path is ever joined from the request. */
const FILES: Record<string, [string, string]> = {
  '/': [join(PAGE_DIR, 'index.html'), 'text/html; charset=utf-8'],
  '/dashboard': [join(PAGE_DIR, 'index.html'), 'text/html; charset=utf-8'],
  '/dashboard/': [join(PAGE_DIR, 'index.html'), 'text/html; charset=utf-8'],
  '/dashboard/app.js': [join(PAGE_DIR, 'app.js'), JS],
  '/dashboard/anomaly-band.js': [join(PAGE_DIR, 'anomaly-band.js'), JS],
  '/dashboard/style.css': [join(PAGE_DIR, 'style.css'), CSS],
  '/dashboard/vendor/uPlot.esm.js': [join(UPLOT_DIR, 'uPlot.esm.js'), JS],
  '/dashboard/vendor/uPlot.min.css': [join(UPLOT_DIR, 'uPlot.min.css'), CSS],
};

/** Serves a dashboard file for `path`; false when the path is not one. */
export function serveDashboard(path: string, res: ServerResponse): boolean {
  const file = FILES[path];
  if (!file) return false;
  res.writeHead(200, { 'content-type': file[1], 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
  createReadStream(file[0]).pipe(res);
  return true;
}
