/**
 * OTLP/HTTP metrics receiver: `POST /v1/metrics` with an ExportMetricsServiceRequest as
 * `application/x-protobuf` or `application/json`, `Content-Encoding: gzip` or none.
 *
 * Answers as the OTLP specification says, in the request's encoding:
 * - 200 with ExportMetricsServiceResponse; `partial_success { rejected_data_points,
 *   error_message }` when some data points were refused (clients do not retry those);
 * - 400 malformed request (not retried), 401/403 credentials, 413 too large, 415 media type or
 *   encoding not supported; the body a google.rpc.Status;
 * - 429 and 503 with Retry-After for what a client should retry (rate limit, database down).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Deps } from '../context.js';
import { decodeOtlp, encodeOtlpResponse, encodeOtlpStatus, otlpObservations } from '../ingest/otlp-decode.js';
import { authorizeWriter, describeRejections, ingest, readBody, Refusal, type Protocol } from './ingest-request.js';

/** gRPC status codes for the Status body (google.rpc.Code), by HTTP status. */
const RPC_CODE: Record<number, number> = { 400: 3, 401: 16, 403: 7, 405: 12, 413: 8, 415: 3, 429: 8, 500: 13, 503: 14 };

export function serveOtlp(deps: Deps, req: IncomingMessage, res: ServerResponse, path: string, requestId: string): boolean {
  if (path !== '/v1/metrics') return false;
  void handle(deps, req, res, requestId);
  return true;
}

async function handle(deps: Deps, req: IncomingMessage, res: ServerResponse, requestId: string) {
  const mediaType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const format = mediaType === 'application/json' ? 'json' : 'protobuf';
  const protocol: Protocol = format === 'json' ? 'otlp_json' : 'otlp_protobuf';
  const reply = (status: number, body: Uint8Array | string, headers: Record<string, string> = {}) => {
    deps.metrics.protocolRequests.inc({ protocol, status: String(status) });
    res.writeHead(status, { 'content-type': format === 'json' ? 'application/json' : 'application/x-protobuf', ...headers });
    res.end(body);
  };
  const refuse = (refusal: Refusal) => {
    if (refusal.status === 413) res.setHeader('connection', 'close');
    reply(refusal.status, encodeOtlpStatus(format, RPC_CODE[refusal.status] ?? 2, refusal.message), refusal.retryAfter ? { 'retry-after': String(refusal.retryAfter) } : {});
  };
  try {
    if (req.method !== 'POST') {
      req.resume();
      return refuse(new Refusal(405, 'Send OTLP metrics with POST'));
    }
    if (mediaType !== 'application/x-protobuf' && mediaType !== 'application/json') {
      req.resume();
      return refuse(new Refusal(415, `Content-Type must be application/x-protobuf or application/json; got '${mediaType}'`));
    }
    const contentEncoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (contentEncoding !== 'gzip' && contentEncoding !== 'identity') {
      req.resume();
      return refuse(new Refusal(415, `Content-Encoding must be gzip or none; got '${contentEncoding}'`));
    }
    const principal = await authorizeWriter(deps, req);
    if (principal instanceof Refusal) {
      req.resume();
      return refuse(principal);
    }
    const body = await readBody(req, deps.env.MAX_BODY_BYTES, contentEncoding);
    if (body instanceof Refusal) return refuse(body);
    const request = decodeOtlp(body, format);
    if (request instanceof Error) return refuse(new Refusal(400, request.message));
    // Decoded once, before the transaction: the rate limit needs the count of data points.
    const decoded = otlpObservations(request);
    const result = await ingest(deps, {
      principal,
      protocol,
      requestId,
      req,
      body,
      dataPoints: decoded.dataPoints,
      metrics: [...new Set(decoded.observations.map((o) => o.name))],
      typesOf: [],
      decode: () => decoded,
    });
    return reply(200, encodeOtlpResponse(format, result.rejected.length, describeRejections(result.rejected)));
  } catch (error) {
    if (error instanceof Refusal) return refuse(error);
    deps.log.error({ requestId, err: (error as Error).message, stack: (error as Error).stack }, 'otlp: unexpected error');
    return refuse(new Refusal(500, `Internal error (request id ${requestId})`));
  }
}
