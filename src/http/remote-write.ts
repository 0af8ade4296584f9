/**
 * Prometheus remote-write 1.0 receiver: `POST /api/v1/write`, a WriteRequest as
 * `application/x-protobuf` with `Content-Encoding: snappy`.
 *
 * Answers as the remote-write specification says: 204 when everything was stored; 400 for
 * what must not be retried — a malformed request, or samples refused (out of order, a bad
 * name or value, a cardinality budget): the other samples of the request are stored and the
 * body says what was refused, as Mimir and Cortex do; 401/403 credentials; 413 too large;
 * 415 a content type or encoding other than 1.0's (remote-write 2.0 included); 429 and 503 with
 * Retry-After for what Prometheus should retry.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Deps } from '../context.js';
import { decodeRemoteWrite, remoteWriteObservations } from '../ingest/prometheus-decode.js';
import { authorizeWriter, describeRejections, ingest, readBody, Refusal } from './ingest-request.js';

export function serveRemoteWrite(deps: Deps, req: IncomingMessage, res: ServerResponse, path: string, requestId: string): boolean {
  if (path !== '/api/v1/write') return false;
  void handle(deps, req, res, requestId);
  return true;
}

async function handle(deps: Deps, req: IncomingMessage, res: ServerResponse, requestId: string) {
  const reply = (status: number, message: string, headers: Record<string, string> = {}) => {
    deps.metrics.protocolRequests.inc({ protocol: 'prometheus', status: String(status) });
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
    res.end(message ? `${message}\n` : undefined);
  };
  const refuse = (refusal: Refusal) => {
    if (refusal.status === 413) res.setHeader('connection', 'close');
    reply(refusal.status, refusal.message, refusal.retryAfter ? { 'retry-after': String(refusal.retryAfter) } : {});
  };
  try {
    if (req.method !== 'POST') {
      req.resume();
      return refuse(new Refusal(405, 'Send remote-write requests with POST'));
    }
    const contentType = (req.headers['content-type'] ?? '').toLowerCase().replace(/\s+/g, '');
    // 1.0 sends exactly application/x-protobuf; 2.0 adds ;proto=io.prometheus.write.v2.Request.
    if (contentType !== 'application/x-protobuf' && contentType !== 'application/x-protobuf;proto=prometheus.writerequest') {
      req.resume();
      return refuse(new Refusal(415, `Content-Type must be application/x-protobuf (remote-write 1.0); got '${contentType}'`));
    }
    if ((req.headers['content-encoding'] ?? '').trim().toLowerCase() !== 'snappy') {
      req.resume();
      return refuse(new Refusal(415, 'Content-Encoding must be snappy'));
    }
    const principal = await authorizeWriter(deps, req);
    if (principal instanceof Refusal) {
      req.resume();
      return refuse(principal);
    }
    const body = await readBody(req, deps.env.MAX_BODY_BYTES, 'snappy');
    if (body instanceof Refusal) return refuse(body);
    const request = decodeRemoteWrite(body);
    if (request instanceof Error) return refuse(new Refusal(400, request.message));
    const names = new Set<string>();
    let samples = 0;
    for (const series of request.timeseries ?? []) {
      samples += (series.samples?.length ?? 0) + (series.histograms?.length ?? 0);
      for (const label of series.labels ?? []) if (label.name === '__name__') names.add(label.value);
    }
    const result = await ingest(deps, {
      principal,
      protocol: 'prometheus',
      requestId,
      req,
      body,
      dataPoints: samples,
      metrics: [...names],
      // The types the tenant's metrics already have decide how samples are read (as of the write's transaction).
      typesOf: [...names],
      decode: (types) => remoteWriteObservations(request, types),
    });
    if (result.rejected.length > 0) return reply(400, describeRejections(result.rejected));
    return reply(204, '');
  } catch (error) {
    if (error instanceof Refusal) return refuse(error);
    deps.log.error({ requestId, err: (error as Error).message, stack: (error as Error).stack }, 'remote-write: unexpected error');
    return refuse(new Refusal(500, `Internal error (request id ${requestId})`));
  }
}
