/**
 * What the OTLP and remote-write receivers share: who may write (the Bearer API key or JWT of
 * a role that may write metrics, as for recordMetrics), the body within MAX_BODY_BYTES before
 * and after decompression, the tenant's rate limits, and the store: the recorder's transaction
 * claims the request, turns cumulative values into increments, stores the points (cardinality
 * budgets apply per series) and writes the audit row; the live bus then has the points. The
 * receivers only decode and answer in their protocol's terms.
 */
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { IncomingMessage } from 'node:http';
import { GraphQLError } from 'graphql';
import snappy from 'snappyjs';
import { auditRow, actorOf, clientOf } from '../audit.js';
import { bearerToken } from '../auth.js';
import { WRITERS, type Deps, type TenantPrincipal } from '../context.js';
import type { MetricType } from '../db/tables.js';
import { isUnavailable } from '../errors.js';
import { requestId as requestIdOf, type Observation } from '../ingest/cumulative.js';
import type { ObservationResult } from '../ingest/record-points.js';
import type { RejectReason } from '../observability/metrics.js';

const gunzipAsync = promisify(gunzip);

export type Protocol = 'otlp_protobuf' | 'otlp_json' | 'prometheus';

/** A request refused whole: the HTTP status, a message, and for retryable ones the seconds to wait. */
export class Refusal {
  constructor(
    readonly status: number,
    readonly message: string,
    readonly retryAfter?: number,
  ) {}
}

/** The caller as a tenant principal that may write metrics, or the refusal (401, 403). */
export async function authorizeWriter(deps: Deps, req: IncomingMessage): Promise<TenantPrincipal | Refusal> {
  try {
    const principal = await deps.auth.authenticate(bearerToken(req.headers.authorization));
    if (!principal) return new Refusal(401, 'Send "Authorization: Bearer <API key or JWT>"');
    if (principal.kind !== 'tenant') return new Refusal(403, 'The operator token can only manage tenants');
    if (!WRITERS.includes(principal.role)) return new Refusal(403, `Writing metrics needs one of the roles ${WRITERS.join(', ')}; your key is ${principal.role}`);
    return principal;
  } catch (error) {
    if (error instanceof GraphQLError && error.extensions?.code === 'UNAUTHENTICATED') return new Refusal(401, error.message);
    if (isUnavailable(error)) return new Refusal(503, 'The database is unavailable; retry shortly', 1);
    throw error;
  }
}

/**
 * The request body, decompressed (`gzip`, `snappy` block format, or none), or the refusal:
 * 413 past `max` bytes either compressed or decompressed (a small bomb is refused before it is
 * inflated past the limit), 400 for a stream that does not decompress.
 */
export async function readBody(req: IncomingMessage, max: number, encoding: 'gzip' | 'snappy' | 'identity'): Promise<Buffer | Refusal> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) {
    req.resume();
    return new Refusal(413, `The request body is ${declared} bytes; at most ${max} are accepted`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      req.resume();
      return new Refusal(413, `The request body is over ${max} bytes`);
    }
    chunks.push(chunk);
  }
  const raw = Buffer.concat(chunks, size);
  if (encoding === 'identity') return raw;
  try {
    if (encoding === 'gzip') return await gunzipAsync(raw, { maxOutputLength: max });
    return Buffer.from(snappy.uncompress(raw, max));
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || /too big/.test((error as Error).message)) return new Refusal(413, `The request body decompresses to more than ${max} bytes`);
    return new Refusal(400, `The body is not valid ${encoding} data: ${(error as Error).message}`);
  }
}

/** A data point not stored, and why. */
export interface Rejected {
  source: number;
  reason: RejectReason;
  message: string;
}

export interface IngestResult {
  /** False when this exact request had been stored before (nothing stored now). */
  claimed: boolean;
  /** Rows stored (a histogram point is one row per non-empty bucket). */
  rows: number;
  /** Data points refused, by the decoder, the cumulative state or the store. */
  rejected: Rejected[];
}

export interface IngestRequest {
  principal: TenantPrincipal;
  protocol: Protocol;
  requestId: string;
  req: IncomingMessage;
  /** The decompressed body: with the tenant, it is the request's identity for resends. */
  body: Uint8Array;
  /** Data points in the request (for the rate limit and the metrics). */
  dataPoints: number;
  /** Metric names for the audit row. */
  metrics: string[];
  /** Metric names whose types in the tenant decide the decoding (remote-write); empty for none. */
  typesOf: readonly string[];
  /** The observations, given the types the tenant's metrics of `typesOf` already have (in the write's transaction, or from the recorder's cache). */
  decode(types: ReadonlyMap<string, MetricType>): { observations: Observation[]; rejections: Rejected[] };
}

/**
 * Stores a decoded request; throws a Refusal for a rate limit (429) or an unavailable database
 * (503), so the client retries.
 */
export async function ingest(deps: Deps, request: IngestRequest): Promise<IngestResult> {
  const { principal, protocol } = request;
  const tenantId = principal.tenantId;
  const wait = (await deps.limiter.take(tenantId, 'writes', 1)) ?? (request.dataPoints > 0 ? await deps.limiter.take(tenantId, 'points', request.dataPoints) : null);
  if (wait !== null) throw new Refusal(429, `Too many writes or points for this tenant; retry in ${wait} s`, wait);

  const actor = actorOf(principal, request.requestId, clientOf(request.req));
  const auditOf = (result: ObservationResult) => {
    // Loops, not arrays per outcome: a request has one outcome per row stored.
    let rows = 0;
    const rejected = new Set<number>();
    for (const r of result.rejections) rejected.add(r.source);
    result.outcomes.forEach((o, i) => (o.ok ? rows++ : rejected.add(result.sources[i]!)));
    return auditRow(tenantId, actor, {
      action: 'METRICS_BATCH_RECORDED',
      details: { protocol, duplicateRequest: !result.claimed, dataPoints: request.dataPoints, rows, rejected: rejected.size, metrics: request.metrics.slice(0, 50) },
    });
  };
  let last: ObservationResult;
  try {
    last = await deps.recorder.recordObservations(tenantId, {
      claimId: requestIdOf(tenantId, protocol, request.body),
      size: request.dataPoints,
      typesOf: request.typesOf,
      decode: request.decode,
      auditOf,
    });
  } catch (error) {
    if (isUnavailable(error)) throw new Refusal(503, 'The database is unavailable; retry shortly', 1);
    throw error;
  }

  const rejected = new Map<number, Rejected>();
  for (const r of last.rejections) if (!rejected.has(r.source)) rejected.set(r.source, r);
  let rows = 0;
  last.outcomes.forEach((outcome, i) => {
    if (outcome.ok) return void rows++;
    const source = last.sources[i]!;
    if (rejected.has(source)) return;
    const reason: RejectReason = outcome.code === 'LIMIT_EXCEEDED' ? 'cardinality' : outcome.code === 'BAD_USER_INPUT' ? 'conflict' : 'internal';
    rejected.set(source, { source, reason, message: outcome.message });
  });
  const list = [...rejected.values()];
  count(deps, protocol, request.dataPoints, last.claimed, rows, list);
  return { claimed: last.claimed, rows, rejected: list };
}

function count(deps: Deps, protocol: Protocol, dataPoints: number, claimed: boolean, rows: number, rejected: Rejected[]) {
  const { pointsIngested, pointsRejected, protocolDataPoints } = deps.metrics;
  if (!claimed) return void protocolDataPoints.inc({ protocol, outcome: 'duplicate' }, dataPoints);
  if (rows) pointsIngested.inc(rows);
  const byReason = new Map<RejectReason, number>();
  for (const r of rejected) byReason.set(r.reason, (byReason.get(r.reason) ?? 0) + 1);
  for (const [reason, n] of byReason) pointsRejected.inc({ reason }, n);
  if (rejected.length) protocolDataPoints.inc({ protocol, outcome: 'rejected' }, rejected.length);
  if (dataPoints - rejected.length > 0) protocolDataPoints.inc({ protocol, outcome: 'stored' }, dataPoints - rejected.length);
}

/** A summary of rejections for a response: how many, and the first few reasons. */
export function describeRejections(rejected: Rejected[]): string {
  if (rejected.length === 0) return '';
  const messages = [...new Set(rejected.map((r) => r.message))];
  const shown = messages.slice(0, 10).join('; ');
  return `${rejected.length} data point(s) rejected: ${shown}${messages.length > 10 ? `; and ${messages.length - 10} more reasons` : ''}`;
}
