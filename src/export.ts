/**
 * Exports: `GET /export?query=<AggregateQueryInput as JSON>&format=csv|json&locale=en|pl` or
 * `POST /export` with `{ "input": …, "format": …, "locale": … }`, authenticated like GraphQL
 * (Authorization: Bearer …), or with the signed parameters of a link from `exportUrl`.
 *
 * The answer is the same as metricAggregates', one row per (series, bucket), streamed: the
 * range is cut into windows of about WINDOW_ROWS rows (series × buckets), each answered by
 * answerQuery() and written before the next is read, so memory stays that of one window
 * whatever the size of the export, and a client that reads slowly slows the export instead of
 * filling the server's memory.
 *
 * Bounded work (#16): before anything is read, the rows an export may write are counted as
 * matching series × buckets and refused past EXPORT_MAX_ROWS (LIMIT_EXCEEDED). The embedded
 * engine has one connection and ignores statement_timeout, so the only bound on how long one
 * statement keeps other requests from the database is how much it is asked: a window is at
 * most WINDOW_ROWS rows (~1 000). Formatting is this process's work: the export yields to the
 * event loop after every window and every YIELD_ROWS rows it formats, so /health/live and
 * other requests run in between.
 * Each window holds its rows in the answer gate (src/query/answer-gate.ts) while it is read and
 * written, so exports and pages together read at most QUERY_PAGE_BUCKETS_IN_FLIGHT at once.
 *
 * Numbers: CSV in `en` is `1234.56` with `,` between fields; in `pl` it is `1 234,56` (groups
 * of three split by a space, U+0020) with `;` between fields, as Polish spreadsheets expect.
 * JSON numbers are JSON numbers in every locale. Timestamps are ISO 8601 in UTC.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { audit, auditRow, clientOf, contextActor } from './audit.js';
import { bearerToken, type Principal } from './auth.js';
import type { Context, Deps, TenantPrincipal } from './context.js';
import { tenantTx } from './context.js';
import { GRANULARITIES } from './query/plan.js';
import type { AggregateQuery, Bucket } from './query/aggregate.js';
import { NO_CACHE } from './query/cache.js';
import { aggregateInputSchema } from './query/aggregate-input.js';
import { answerQuery, countSeries } from './query/answer-query.js';
import type { Release } from './query/answer-gate.js';
import { bucketBudget, bucketSpan, ticker, yieldToLoop } from './query/budget.js';
import { fillAll } from './query/fill.js';
import { describeZodError } from './errors.js';

/** Rows (series × buckets) one window reads and formats at most: tens of ms of one statement on the embedded engine. */
const WINDOW_ROWS = 1_000;
/** And at most this many buckets, whatever the series. */
const WINDOW_BUCKETS = 1_000;
/** Rows formatted between two yields to the event loop. */
const YIELD_ROWS = 250;

/** A query's coded error as the export's HTTP answer. */
function asExportError(error: unknown): unknown {
  const extensions = (error as { extensions?: { code?: string; retryAfter?: number } }).extensions;
  const code = extensions?.code;
  if (!code) return error;
  const status = ({ NOT_FOUND: 404, FORBIDDEN: 403, UNAUTHENTICATED: 401, RATE_LIMITED: 429, SERVICE_UNAVAILABLE: 503 } as Record<string, number>)[code] ?? 400;
  const retryAfter = extensions.retryAfter;
  return new ExportError(status, code, (error as Error).message, retryAfter ? { retryAfter } : {}, retryAfter ? { 'retry-after': String(retryAfter) } : {});
}

export const exportOptions = z.object({
  format: z.enum(['csv', 'json']).default('csv'),
  locale: z.enum(['en', 'pl']).default('en'),
});
export type ExportOptions = z.infer<typeof exportOptions>;

export const FIELDS = ['count', 'sum', 'min', 'max', 'avg', 'last', 'rate', 'p50', 'p90', 'p95', 'p99', 'value'] as const;

/** A number as the locale writes it in CSV. */
export function formatNumber(value: number | null | undefined, locale: ExportOptions['locale']): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  if (locale === 'en' || !/^-?\d+(\.\d+)?$/.test(text)) return locale === 'en' ? text : text.replace('.', ',');
  const [whole, fraction] = text.split('.') as [string, string | undefined];
  const sign = whole.startsWith('-') ? '-' : '';
  const digits = sign ? whole.slice(1) : whole;
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
  return `${sign}${grouped}${fraction ? `,${fraction}` : ''}`;
}

/** One CSV line: `head` (metric and tags), the bucket's frame, then FIELDS as the locale writes them. */
export function csvRow(head: string, bucket: Bucket, separator: string, locale: ExportOptions['locale']): string {
  let line = `${head}${separator}${bucket.start.toISOString()}${separator}${bucket.end.toISOString()}`;
  for (const field of FIELDS) line += separator + csvField(formatNumber(bucket[field], locale), separator);
  return `${line}\n`;
}

/** One JSON row, as JSON.stringify({ metric, tags, start, end, ...FIELDS }) writes it (missing fields null): `head` holds metric and tags. */
export function jsonRow(head: string, bucket: Bucket): string {
  let row = `${head},"start":${JSON.stringify(bucket.start)},"end":${JSON.stringify(bucket.end)}`;
  for (const field of FIELDS) row += `,"${field}":${JSON.stringify(bucket[field] ?? null)}`;
  return `${row}}`;
}

function csvField(text: string, separator: string): string {
  return text.includes(separator) || /["\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

class ExportError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extensions: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The client hung up mid-export: nothing more is written, and the audit row says so. */
class ClientGone extends Error {}

function fail(res: ServerResponse, error: ExportError) {
  res.writeHead(error.status, { 'content-type': 'application/json', ...error.headers });
  res.end(JSON.stringify({ errors: [{ message: error.message, extensions: { code: error.code, ...error.extensions } }] }));
}

/** The key of exportUrl's signatures: EXPORT_URL_SECRET, or one random key per process. */
const processKey = randomBytes(32).toString('hex');

function signature(secret: string, fields: string[]): string {
  return createHmac('sha256', secret).update(fields.join('\n')).digest('base64url');
}

/** A link to this export that works without a header until `expires` (EXPORT_URL_TTL_SECONDS), for the same tenant and role. */
export function signedExportPath(deps: Pick<Deps, 'env'>, principal: TenantPrincipal, input: unknown, options: ExportOptions, now = Date.now()): string {
  const query = JSON.stringify(input);
  const expires = String(Math.floor(now / 1000) + deps.env.EXPORT_URL_TTL_SECONDS);
  const fields = [principal.tenantId, principal.role, principal.keyId ?? '', query, options.format, options.locale, expires];
  const params = new URLSearchParams({ query, format: options.format, locale: options.locale, tenant: principal.tenantId, role: principal.role, key: principal.keyId ?? '', expires });
  params.set('signature', signature(deps.env.EXPORT_URL_SECRET ?? processKey, fields));
  return `/export?${params}`;
}

/** The principal of a signed link, or null when the request has no signature. Throws when it is wrong or expired. */
async function signedPrincipal(deps: Deps, params: URLSearchParams): Promise<TenantPrincipal | null> {
  const given = params.get('signature');
  if (!given) return null;
  const fields = ['tenant', 'role', 'key', 'query', 'format', 'locale', 'expires'].map((name) => params.get(name) ?? '');
  const [tenantId, role, keyId, query, format, locale, expires] = fields as [string, string, string, string, string, string, string];
  const expected = signature(deps.env.EXPORT_URL_SECRET ?? processKey, [tenantId, role, keyId, query, format || 'csv', locale || 'en', expires]);
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw new ExportError(403, 'FORBIDDEN', 'This export link is not valid.');
  if (Number(expires) * 1000 < Date.now()) throw new ExportError(403, 'FORBIDDEN', 'This export link has expired; ask for a new one with exportUrl.');
  if (keyId) {
    // A revoked key's links die with it.
    const row = await deps.db.kysely.selectFrom('api_keys').select('revoked_at').where('id', '=', keyId).executeTakeFirst();
    if (!row || row.revoked_at) throw new ExportError(403, 'FORBIDDEN', 'The key this link was made with has been revoked.');
  }
  return { kind: 'tenant', tenantId, role: role as TenantPrincipal['role'], keyId: keyId || null, via: 'api_key' };
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new ExportError(413, 'BAD_USER_INPUT', `The request body is over ${limit} bytes.`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Writes `text`, waiting for the socket to drain when its buffer is full. A response already
 * closed (the client hung up before or while waiting) rejects with ClientGone at once: its
 * 'close' has been emitted already and no 'drain' will ever come, so waiting for them would
 * hold the export (and its reader) forever.
 */
async function write(res: ServerResponse, text: string): Promise<void> {
  if (res.destroyed || res.closed) throw new ClientGone();
  if (res.write(text)) return;
  await new Promise<void>((resolve, reject) => {
    const settle = (gone: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      if (gone) reject(new ClientGone());
      else resolve();
    };
    const onDrain = () => settle(false);
    const onClose = () => settle(true);
    res.on('drain', onDrain);
    res.on('close', onClose);
    if (res.destroyed || res.closed) settle(true);
  });
}

/** Serves /export; false when the path is not it. */
export function serveExport(deps: Deps, req: IncomingMessage, res: ServerResponse, path: string, requestId: string): boolean {
  if (path !== '/export') return false;
  void handle(deps, req, res, requestId).catch((error: unknown) => {
    if (error instanceof ClientGone) return void res.destroy();
    if (error instanceof ExportError) {
      if (!res.headersSent) fail(res, error);
      else res.destroy();
      return;
    }
    deps.log.error({ requestId, err: (error as Error).message }, 'export failed');
    if (!res.headersSent) fail(res, new ExportError(500, 'INTERNAL', `The export failed (request id ${requestId}).`));
    else res.destroy();
  });
  return true;
}

async function handle(deps: Deps, req: IncomingMessage, res: ServerResponse, requestId: string) {
  if (req.method !== 'GET' && req.method !== 'POST') throw new ExportError(405, 'BAD_USER_INPUT', 'Use GET or POST.');
  const params = new URL(req.url ?? '/', 'http://local').searchParams;
  let principal: Principal | null = await signedPrincipal(deps, params);
  // A signed link runs exactly what it was signed for: its own query, by GET. A body (POST)
  // would be an input the signature never covered, so the link refuses it.
  if (principal && req.method !== 'GET') throw new ExportError(405, 'BAD_USER_INPUT', 'A signed export link is used with GET only; POST needs an Authorization header.', {}, { allow: 'GET' });
  if (!principal) {
    try {
      principal = await deps.auth.authenticate(bearerToken(req.headers.authorization));
    } catch (error) {
      throw new ExportError(401, 'UNAUTHENTICATED', (error as Error).message);
    }
  }
  if (principal?.kind !== 'tenant') throw new ExportError(401, 'UNAUTHENTICATED', 'An export needs an API key or JWT of a tenant (Authorization: Bearer …).');
  // Charged like a query (src/rate-limit.ts), before the body is read or anything is planned.
  const wait = await deps.limiter.take(principal.tenantId, 'queries', 1);
  if (wait !== null) throw new ExportError(429, 'RATE_LIMITED', `Too many queries for this tenant; retry in ${wait} s.`, { retryAfter: wait }, { 'retry-after': String(wait) });

  let raw: unknown;
  let optionsRaw: Record<string, unknown>;
  if (req.method === 'POST') {
    let body: { input?: unknown; format?: unknown; locale?: unknown };
    try {
      body = JSON.parse(await readBody(req, 1_000_000)) as typeof body;
    } catch (error) {
      if (error instanceof ExportError) throw error;
      throw new ExportError(400, 'BAD_USER_INPUT', 'The body must be JSON: { "input": …, "format": "csv" | "json", "locale": "en" | "pl" }.');
    }
    raw = body.input;
    optionsRaw = { format: body.format ?? undefined, locale: body.locale ?? undefined };
  } else {
    try {
      raw = JSON.parse(params.get('query') ?? 'null');
    } catch {
      throw new ExportError(400, 'BAD_USER_INPUT', 'query must be the AggregateQueryInput as JSON.');
    }
    optionsRaw = { format: params.get('format') ?? undefined, locale: params.get('locale') ?? undefined };
  }
  const options = exportOptions.safeParse(optionsRaw);
  if (!options.success) throw new ExportError(400, 'BAD_USER_INPUT', describeZodError(options.error));
  const revived = raw && typeof raw === 'object' ? { ...(raw as Record<string, unknown>) } : raw;
  if (revived && typeof revived === 'object') {
    for (const field of ['from', 'to'] as const) {
      const value = (revived as Record<string, unknown>)[field];
      if (typeof value === 'string') (revived as Record<string, unknown>)[field] = new Date(value);
    }
  }
  const parsed = aggregateInputSchema.safeParse(revived);
  if (!parsed.success) throw new ExportError(400, 'BAD_USER_INPUT', describeZodError(parsed.error));
  const { query } = parsed.data;
  const { format, locale } = options.data;
  // Windows are answered one by one; PREVIOUS would need the value before each window.
  if (query.fill === 'PREVIOUS') throw new ExportError(400, 'BAD_USER_INPUT', 'fill PREVIOUS is not available in exports; use NONE, NULL or ZERO.');

  const ctx: Context = { deps: { ...deps, queryCache: NO_CACHE }, principal, requestId, client: clientOf(req) };
  const width = GRANULARITIES[query.granularity];
  // #16: the whole range is budgeted before anything is read: at most QUERY_MAX_BUCKETS buckets,
  // then at most EXPORT_MAX_ROWS rows (series × buckets), so at most about
  // EXPORT_MAX_ROWS / WINDOW_ROWS window transactions.
  let buckets: number;
  try {
    buckets = bucketBudget(query.from, query.to, width, { maxBuckets: deps.env.QUERY_MAX_BUCKETS }, query.granularity);
  } catch (error) {
    throw new ExportError(400, 'LIMIT_EXCEEDED', (error as Error).message, { limit: deps.env.QUERY_MAX_BUCKETS });
  }
  const seriesCount = await countSeries(deps, principal, query).catch((error: unknown) => {
    throw asExportError(error);
  });
  const maxRows = deps.env.EXPORT_MAX_ROWS;
  if (seriesCount * buckets > maxRows) {
    throw new ExportError(
      400,
      'LIMIT_EXCEEDED',
      `This export could write ${seriesCount} series × ${buckets} buckets of ${query.granularity} = ${seriesCount * buckets} rows, over the limit of ${maxRows} (EXPORT_MAX_ROWS). Narrow the range, coarsen the granularity or filter by tags.`,
      { limit: maxRows, rows: seriesCount * buckets },
    );
  }
  const windowMs = width * Math.max(1, Math.min(WINDOW_BUCKETS, Math.floor(WINDOW_ROWS / Math.max(1, seriesCount))));
  const separator = locale === 'pl' ? ';' : ',';
  // The first window is read before the headers go out: a bad query is still a clean 400.
  const windows: Array<[Date, Date]> = [];
  // No series: no rows, and nothing to read.
  for (let start = query.from.getTime(); seriesCount > 0 && start < query.to.getTime(); ) {
    const end = Math.min(query.to.getTime(), Math.floor(start / width) * width + windowMs);
    windows.push([new Date(start), new Date(end)]);
    start = end;
  }
  // #16: a window holds its rows (series × its buckets) in the instance's answer gate, as a page
  // does, from before it is read until it is written; between two windows the export holds
  // nothing, so it waits in line for the next one like any other request (and may be refused).
  const read = async ([from, to]: [Date, Date]) => {
    let release: Release | undefined;
    try {
      release = await deps.pages.admit(principal.tenantId, seriesCount * bucketSpan(from, to, width));
      const { series } = (await answerQuery(ctx.deps, principal, { ...query, from, to } satisfies AggregateQuery, true)).result;
      // One window's fill: series × WINDOW_BUCKETS, within the cell budget aggregate() checked.
      return { series: fillAll(series, { from, to, granularityMs: width, fill: query.fill }), release };
    } catch (error) {
      release?.();
      throw asExportError(error);
    }
  };
  let next = windows.length ? await read(windows[0]!) : null;
  const filename = `metrograph-${query.metrics.join('+').slice(0, 100).replace(/[^A-Za-z0-9._+-]/g, '_')}.${format}`;
  res.writeHead(200, {
    'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8',
    'content-disposition': `attachment; filename="${filename}"`,
    'cache-control': 'no-store',
  });
  if (format === 'csv') await write(res, ['metric', 'tags', 'start', 'end', ...FIELDS].join(separator) + '\n');
  else await write(res, '[');
  let rows = 0;
  let completed = false;
  const tick = ticker(YIELD_ROWS);
  try {
    for (let i = 0; next && i < windows.length; i++) {
      const { series } = next;
      let chunk = '';
      let chunkRows = 0;
      for (const s of series) {
        // What every row of the series starts with, made once per series, not per row (#16: an
        // export of 100 000 rows allocated ~170 MB in formatting with arrays and spreads per row).
        const head = format === 'csv' ? `${csvField(s.metric, separator)}${separator}${csvField(JSON.stringify(s.tags), separator)}` : `{"metric":${JSON.stringify(s.metric)},"tags":${JSON.stringify(s.tags)}`;
        for (const bucket of s.buckets) {
          chunk += format === 'csv' ? csvRow(head, bucket, separator, locale) : `${rows + chunkRows === 0 ? '' : ','}\n${jsonRow(head, bucket)}`;
          chunkRows++;
          const pause = tick();
          if (pause) await pause;
        }
      }
      await write(res, chunk);
      next.release();
      next = null;
      // Counted once written: an aborted export's audit row says how many rows left the server.
      rows += chunkRows;
      // A client that has gone costs no further window.
      if (res.destroyed || res.closed) throw new ClientGone();
      // Other requests (and /health/live) get the loop between two windows' statements.
      await yieldToLoop();
      if (i + 1 < windows.length) next = await read(windows[i + 1]!);
    }
    if (format === 'json') await write(res, '\n]\n');
    res.end();
    completed = true;
  } finally {
    // A window read but not written (the client went, or writing failed) gives its rows back.
    next?.release();
    // Written whether the export completed or not: an export the client aborted is recorded too, with the rows it was sent.
    await tenantTx(ctx, (trx) =>
      audit(
        trx,
        auditRow(principal.tenantId, contextActor(ctx), {
          action: 'METRICS_EXPORTED',
          details: { metrics: query.metrics, from: query.from, to: query.to, granularity: query.granularity, format, locale, rows, ...(completed ? {} : { aborted: true }) },
        }),
      ),
    ).catch((error: unknown) => deps.log.warn({ requestId, err: (error as Error).message }, 'export: audit row not written'));
  }
}
