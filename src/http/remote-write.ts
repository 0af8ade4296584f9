/**
 * Prometheus remote-write receiver: `POST /api/v1/write` with `Content-Encoding: snappy`, a 1.0
 * WriteRequest as `application/x-protobuf` (or `;proto=prometheus.WriteRequest`), or a 2.0
 * io.prometheus.write.v2.Request as `application/x-protobuf;proto=io.prometheus.write.v2.Request`.
 *
 * Answers as the remote-write specification says: 204 when everything was stored; 400 for
 * what must not be retried — a malformed request, or samples refused (out of order, a bad
 * name or value, a cardinality budget): the other samples of the request are stored and the
 * body says what was refused, as Mimir and Cortex do; 401/403 credentials; 413 too large;
 * 415 another content type or encoding; 429 and 503 with Retry-After for what Prometheus should
 * retry. To a 2.0 request, every answer after decoding carries the
 * X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written headers: the samples
 * accepted (stale markers and a resend's samples included), 0 histograms (native histograms
 * are refused), 0 exemplars (not stored).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Deps } from '../context.js';
import { decodeRemoteWrite, decodeRemoteWriteV2, remoteWriteObservations } from '../ingest/prometheus-decode.js';
import { authorizeWriter, describeRejections, ingest, readBody, Refusal } from './ingest-request.js';

/** Content types (lower case, without spaces) by the remote-write version they carry. */
const VERSIONS: Record<string, 1 | 2> = {
  'application/x-protobuf': 1,
  'application/x-protobuf;proto=prometheus.writerequest': 1,
  'application/x-protobuf;proto=io.prometheus.write.v2.request': 2,
};

export function serveRemoteWrite(deps: Deps, req: IncomingMessage, res: ServerResponse, path: string, requestId: string): boolean {
  if (path !== '/api/v1/write') return false;
  void handle(deps, req, res, requestId);
  return true;
}

async function handle(deps: Deps, req: IncomingMessage, res: ServerResponse, requestId: string) {
  let written: Record<string, string> = {};
  const reply = (status: number, message: string, headers: Record<string, string> = {}) => {
    deps.metrics.protocolRequests.inc({ protocol: 'prometheus', status: String(status) });
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...written, ...headers });
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
    const version = VERSIONS[contentType];
    if (!version) {
      req.resume();
      return refuse(new Refusal(415, `Content-Type must be application/x-protobuf (remote-write 1.0) or application/x-protobuf;proto=io.prometheus.write.v2.Request (2.0); got '${contentType}'`));
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
    const request = version === 2 ? decodeRemoteWriteV2(body) : decodeRemoteWrite(body);
    if (request instanceof Error) return refuse(new Refusal(400, request.message));
    const names = new Set<string>();
    let samples = 0;
    let histograms = 0;
    for (const series of request.timeseries ?? []) {
      samples += series.samples?.length ?? 0;
      histograms += series.histograms?.length ?? 0;
      for (const label of series.labels ?? []) if (label.name === '__name__') names.add(label.value);
    }
    if (version === 2) {
      // Until the request is stored, nothing is written; on success these are replaced.
      written = { 'x-prometheus-remote-write-samples-written': '0', 'x-prometheus-remote-write-histograms-written': '0', 'x-prometheus-remote-write-exemplars-written': '0' };
    }
    const result = await ingest(deps, {
      principal,
      protocol: 'prometheus',
      requestId,
      req,
      body,
      dataPoints: samples + histograms,
      metrics: [...names],
      // The types the tenant's metrics already have decide how samples are read (as of the write's transaction).
      typesOf: [...names],
      decode: (types) => remoteWriteObservations(request, types),
    });
    if (version === 2) {
      // Native histograms are all refused (unsupported): what else was refused was a sample.
      const refusedSamples = result.rejected.filter((r) => r.reason !== 'unsupported').length;
      written = { ...written, 'x-prometheus-remote-write-samples-written': String(samples - refusedSamples) };
    }
    if (result.rejected.length > 0) return reply(400, describeRejections(result.rejected));
    return reply(204, '');
  } catch (error) {
    if (error instanceof Refusal) return refuse(error);
    deps.log.error({ requestId, err: (error as Error).message, stack: (error as Error).stack }, 'remote-write: unexpected error');
    return refuse(new Refusal(500, `Internal error (request id ${requestId})`));
  }
}
