import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLError } from 'graphql';
import { createYoga, type YogaInitialContext } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { clientOf, useQueryAudit } from './audit.js';
import { bearerToken, isUnfilledTemplate, principalFromSubscribe, type Principal } from './auth.js';
import type { Context, Deps } from './context.js';
import { isUnavailable, userError } from './errors.js';
import { serveDashboard } from './dashboard.js';
import { serveExport } from './export.js';
import { serveOtlp } from './http/otlp.js';
import { serveRemoteWrite } from './http/remote-write.js';
import { createWsGuard } from './ws-guard.js';
import { operationLimits } from './limits.js';
import { localeFrom, localizeErrors, useLocalizedErrors } from './i18n.js';
import { useRateLimits } from './rate-limit.js';
import { useMetricSuggestions } from './plugins/metric-suggestions.js';
import { useMutationJit } from './plugins/mutation-jit.js';
import { usePageAdmission } from './plugins/page-admission.js';
import { renderLocalGraphiQL, serveGraphiQLAsset } from './graphiql.js';
import { useServiceMetrics } from './observability/graphql.js';
import { live, metricsEndpoint, observeRequest, pathOf, ready } from './observability/http.js';
import { schema } from './schema/index.js';
import { useDirectDelivery } from './realtime/direct-delivery.js';

export interface Server {
  /** Listens on `port` (0 picks a free one); resolves with the base URL. */
  start(port?: number, host?: string): Promise<string>;
  /** Stops accepting, lets in-flight requests and writes finish, closes sockets. Does not close `deps.db`. */
  stop(): Promise<void>;
  deps: Deps;
}

type WsExtra = {
  principal?: Principal | null;
  token?: string;
  /** The tenant this connection counts against (LIVE_MAX_CONNECTIONS_PER_TENANT). */
  tenantId?: string;
  /** The periodic re-check of its credentials. */
  recheck?: NodeJS.Timeout;
  /** Re-checks of the credentials that single subscriptions brought in their own headers, by operation id. */
  operationRechecks?: Map<string, NodeJS.Timeout>;
};

/**
 * Content-Security-Policy and X-Frame-Options for the pages a browser opens: no framing by
 * other sites (clickjacking), and scripts, styles and connections from this origin only. The
 * dashboard has no inline script; GraphiQL's page (Yoga's renderer) boots from an inline script
 * and Monaco's workers, so /graphql allows inline scripts and blob workers of this origin.
 */
function pageHeaders(res: import('node:http').ServerResponse, path: string): void {
  const script = path === '/graphql' ? "'self' 'unsafe-inline' 'unsafe-eval'" : "'self'";
  res.setHeader(
    'content-security-policy',
    `default-src 'self'; script-src ${script}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'`,
  );
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('x-content-type-options', 'nosniff');
}

/** Counts a streamed body's bytes; past `limit`, answers 413 LIMIT_EXCEEDED and drops the rest. */
function bodyLimit(req: IncomingMessage, res: import('node:http').ServerResponse, limit: number): void {
  let size = 0;
  const count = (chunk: Buffer) => {
    size += chunk.length;
    if (size <= limit) return;
    req.off('data', count);
    if (!res.headersSent) {
      res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ errors: [{ message: `The request body is over ${limit} bytes.`, extensions: { code: 'LIMIT_EXCEEDED', limit } }] }));
    }
    res.once('finish', () => req.destroy());
    req.unpipe();
  };
  req.on('data', count);
}

export function createServer(deps: Deps): Server {
  const { log } = deps;

  const yoga = createYoga<{ principal?: Principal | null; requestId?: string; operationId?: string }, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: { title: 'Metrograph', subscriptionsProtocol: 'WS' },
    renderGraphiQL: renderLocalGraphiQL,
    logging: false,
    plugins: [...operationLimits(deps.env), useRateLimits(deps.limiter), useLocalizedErrors(), useServiceMetrics(deps.metrics, log), useQueryAudit(deps.db.kysely, log), useDirectDelivery({ field: 'metricRecorded', log }), useMetricSuggestions(deps.db.kysely), useMutationJit(), usePageAdmission()],
    context: async (initial): Promise<Context> => {
      const requestId = initial.requestId ?? randomUUID();
      // The Node request: the HTTP request itself, or a WebSocket's upgrade request.
      const client = clientOf((initial as { req?: IncomingMessage }).req);
      // Only the WebSocket path passes a principal in (from connectionParams or the subscribe message).
      if (initial.principal !== undefined) return { deps, principal: initial.principal, requestId, client, transport: 'ws' };
      const request = (initial as unknown as YogaInitialContext).request;
      const origin = new URL(request.url).origin;
      const header = request.headers.get('authorization');
      if (isUnfilledTemplate(header)) return { deps, principal: null, requestId, client, origin, unfilledTemplate: true };
      const principal = await deps.auth.authenticate(bearerToken(header));
      return { deps, principal, requestId, client, origin };
    },
    maskedErrors: {
      maskError(error) {
        const original = error instanceof GraphQLError ? (error.originalError ?? error) : error;
        if (original instanceof GraphQLError && original.extensions?.code) return original;
        // Text PostgreSQL cannot store or an identifier too long: the input's fault, not ours.
        if (['22021', '22P05', '54000', '22001'].includes((original as { code?: string })?.code ?? '')) {
          return userError('BAD_USER_INPUT', 'request.unstorable', {}, { http: { status: 400 } });
        }
        if (error instanceof GraphQLError && error.extensions?.code && !error.originalError) return error;
        // graphql-js's request errors carry no code: a variable it could not coerce ("NaN" for a Float, an unknown enum value).
        if (original instanceof GraphQLError && !(error as GraphQLError).path) return userError('BAD_USER_INPUT', 'request.invalid', { text: error instanceof GraphQLError ? error.message : original.message }, { http: { status: 400 } });
        if (isUnavailable(original)) {
          return userError('SERVICE_UNAVAILABLE', 'request.unavailable', {}, { retryAfter: 1, http: { headers: { 'retry-after': '1' } } });
        }
        const requestId = randomUUID();
        log.error({ requestId, err: (original as Error)?.message, stack: (original as Error)?.stack }, 'unexpected error');
        return userError('INTERNAL', 'request.internal', { requestId }, { requestId });
      },
    },
  });

  // Set when stop() begins: readiness turns 503 so a load balancer sends nothing new.
  let draining = false;
  const serveMetrics = metricsEndpoint(deps);
  const http = createHttpServer((req, res) => {
    const requestId = observeRequest(deps, req, res);
    const path = pathOf(req);
    if (path === '/health/live') return live(res);
    // The embedded engine's jobs give way while requests are in flight (src/db/engine-turns.ts).
    const served = deps.db.engineUsers?.begin();
    if (served) res.once('close', served);
    if (path === '/' || path === '/dashboard' || path === '/graphql') pageHeaders(res, path);
    if (path === '/health' || path === '/health/ready') return void ready(deps, res, draining);
    if (path === '/metrics') return void serveMetrics(req, res);
    if (req.url && serveGraphiQLAsset(req.url.split('?')[0]!, res)) return;
    if (req.method === 'GET' && serveDashboard(path, res)) return;
    if (serveExport(deps, req, res, path, requestId)) return;
    if (serveOtlp(deps, req, res, path, requestId) || serveRemoteWrite(deps, req, res, path, requestId)) return;
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > deps.env.MAX_BODY_BYTES) {
      res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ errors: [{ message: `The request body is ${length} bytes; at most ${deps.env.MAX_BODY_BYTES} are accepted.`, extensions: { code: 'LIMIT_EXCEEDED', limit: deps.env.MAX_BODY_BYTES } }] }));
      req.resume();
      return;
    }
    // A chunked body has no Content-Length to refuse up front: its bytes are counted as they
    // arrive, and past MAX_BODY_BYTES the request gets the same 413 and its connection is closed.
    if (req.headers['content-length'] === undefined) bodyLimit(req, res, deps.env.MAX_BODY_BYTES);
    return void yoga(req, res, { requestId });
  });

  // Idle keep-alive connections stay open longer than clients and load balancers keep them
  // (undici ~4 s, AWS ALB 60 s): with Node's 5 s, a busy server closed a socket as a client
  // was sending its next request on it, and the client got ECONNRESET (seen in the tests under
  // load). The client, not the server, should end an idle connection.
  http.keepAliveTimeout = 65_000;
  http.headersTimeout = 66_000;

  const wss = new WebSocketServer({ server: http, path: '/graphql' });
  // The WebSocket server re-emits the HTTP server's errors (a port in use); start() reports those.
  wss.on('error', () => {});
  const unwatchSockets = deps.metrics.watchLiveSockets(() => wss.clients);
  // Registered before graphql-ws' own listener: limits on sockets and per-operation principal checks (src/ws-guard.ts).
  const guard = createWsGuard(deps.auth, log, { maxPending: deps.env.LIVE_MAX_PENDING_CONNECTIONS, maxAnonymous: deps.env.LIVE_MAX_ANONYMOUS_CONNECTIONS });
  wss.on('connection', (socket) => guard.opened(socket));
  const connectionsByTenant = new Map<string, number>();
  /**
   * Counts a connection against its tenant (LIVE_MAX_CONNECTIONS_PER_TENANT), once: at connect
   * from connectionParams, or at its first subscribe whose own header names a tenant (GraphiQL).
   * Over the limit the socket is closed with 4429 and false is returned.
   */
  const admitConnection = (extra: WsExtra & { socket: import('ws').WebSocket }, tenantId: string): boolean => {
    if (extra.tenantId) return true;
    const open = connectionsByTenant.get(tenantId) ?? 0;
    if (open >= deps.env.LIVE_MAX_CONNECTIONS_PER_TENANT) {
      extra.socket.close(4429, `Too many connections: a tenant may hold ${deps.env.LIVE_MAX_CONNECTIONS_PER_TENANT}`);
      return false;
    }
    connectionsByTenant.set(tenantId, open + 1);
    extra.tenantId = tenantId;
    return true;
  };
  const wsDisposable = useServer<Record<string, unknown> | undefined, WsExtra>(
    {
      connectionInitWaitTimeout: 3_000,
      execute: (args) => (args.rootValue as { execute: typeof import('graphql').execute }).execute(args),
      subscribe: (args) => (args.rootValue as { subscribe: typeof import('graphql').subscribe }).subscribe(args),
      onConnect: async (ctx) => {
        guard.initialising(ctx.extra.socket);
        const raw = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        let token: string | undefined;
        try {
          token = bearerToken(typeof raw === 'string' ? raw : undefined);
          ctx.extra.principal = await deps.auth.authenticate(token);
          ctx.extra.token = token;
        } catch {
          return false; // graphql-ws closes with 4403 Forbidden
        }
        // Closed while it was being authenticated: onClose has run already, so nothing may be counted now.
        if (!guard.stillOpen(ctx.extra.socket)) return false;
        const principal = ctx.extra.principal;
        if (!principal && !guard.admitAnonymous(ctx.extra.socket)) return false;
        if (principal?.kind === 'tenant' && !admitConnection(ctx.extra, principal.tenantId)) return false;
        if (token && principal) {
          // A revoked key or an expired JWT loses its connection, and so its subscriptions, within the interval
          // (each operation is checked too); a database that cannot answer keeps it.
          ctx.extra.recheck = setInterval(() => void guard.recheck(ctx.extra.socket, principal, token), deps.env.LIVE_AUTH_RECHECK_MS);
          ctx.extra.recheck.unref();
        }
        return true;
      },
      // Messages in the connection's language (connectionParams.locale); codes unchanged.
      onNext: (ctx, _id, _payload, _args, result) => {
        const locale = localeFrom(String(ctx.connectionParams?.locale ?? ''));
        if (locale === 'en' || !('errors' in result) || !result.errors?.length) return;
        return { ...result, errors: localizeErrors(result.errors as GraphQLError[], locale) };
      },
      onError: (ctx, _id, _payload, errors) => {
        const locale = localeFrom(String(ctx.connectionParams?.locale ?? ''));
        return locale === 'en' ? undefined : localizeErrors(errors as GraphQLError[], locale);
      },
      onComplete: (ctx, id) => {
        const recheck = ctx.extra.operationRechecks?.get(id);
        if (recheck) clearInterval(recheck);
        ctx.extra.operationRechecks?.delete(id);
      },
      onClose: (ctx) => {
        if (ctx.extra.recheck) clearInterval(ctx.extra.recheck);
        for (const recheck of ctx.extra.operationRechecks?.values() ?? []) clearInterval(recheck);
        const tenantId = ctx.extra.tenantId;
        if (tenantId) {
          const open = (connectionsByTenant.get(tenantId) ?? 1) - 1;
          if (open > 0) connectionsByTenant.set(tenantId, open);
          else connectionsByTenant.delete(tenantId);
          ctx.extra.tenantId = undefined;
        }
      },
      onSubscribe: async (ctx, id, payload) => {
        // graphql-ws has already counted this one in. Checked before anything is awaited, while the count is this operation's.
        const limit = deps.env.LIVE_MAX_SUBSCRIPTIONS_PER_CONNECTION;
        if (Object.keys(ctx.subscriptions).length > limit) {
          return [userError('LIMIT_EXCEEDED', 'live.tooManySubscriptions', { limit }, { limit })];
        }
        // Every operation checks the connection's principal (JWT expiry, revocations): src/ws-guard.ts.
        const refused = await guard.beforeOperation(ctx.extra.socket, ctx.extra.principal, ctx.extra.token);
        if (refused) return refused;
        // GraphiQL sends its headers with each subscribe message, not in connection_init.
        let operation: Awaited<ReturnType<typeof principalFromSubscribe>>;
        try {
          operation = await principalFromSubscribe(deps.auth, payload, ctx.extra.principal ?? null);
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        if (operation.token && operation.principal && operation.principal !== ctx.extra.principal) {
          const refusedOperation = await guard.beforeOperation(ctx.extra.socket, operation.principal, operation.token);
          if (refusedOperation) return refusedOperation;
        }
        if (operation.principal?.kind === 'tenant' && !admitConnection(ctx.extra, operation.principal.tenantId)) {
          return [userError('LIMIT_EXCEEDED', 'live.tooManyConnections', { limit: deps.env.LIVE_MAX_CONNECTIONS_PER_TENANT }, { limit: deps.env.LIVE_MAX_CONNECTIONS_PER_TENANT })];
        }
        const { schema: s, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
          principal: operation.principal,
          // One id per WebSocket operation, as per HTTP request: it is in each of its log lines.
          requestId: randomUUID(),
          // metricRecorded writes its messages itself (src/realtime/direct-delivery.ts): it needs the id.
          operationId: id,
        });
        let document;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [error as GraphQLError];
        }
        let errors: readonly GraphQLError[];
        try {
          errors = validate(s, document);
        } catch (error) {
          // Operation limits (src/limits.ts) throw their refusals.
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        if (errors.length > 0) return errors;
        if (operation.token) {
          // The same re-check as a connection's: revoked or expired credentials end the socket.
          const token = operation.token;
          const principal = operation.principal!;
          const recheck = setInterval(() => void guard.recheck(ctx.extra.socket, principal, token), deps.env.LIVE_AUTH_RECHECK_MS);
          recheck.unref();
          (ctx.extra.operationRechecks ??= new Map()).set(id, recheck);
        }
        return {
          schema: s,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
      },
    },
    wss,
  );

  const sockets = new Set<import('node:net').Socket>();
  http.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  return {
    deps,
    start(port = 0, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => {
          const address = http.address() as AddressInfo;
          const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
          resolve(`http://${shown}:${address.port}`);
        });
      });
    },
    async stop() {
      draining = true;
      // 1. Stop accepting; keep-alive sockets close once idle.
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeIdleConnections();
      // 2. End live sockets with "going away".
      for (const client of wss.clients) client.close(1001, 'Server shutting down');
      await wsDisposable.dispose();
      // 3. In-flight requests finish, bounded by the shutdown timeout.
      const timeout = deps.env.SHUTDOWN_TIMEOUT_MS;
      const timer = setTimeout(() => {
        log.warn({ sockets: sockets.size }, 'shutdown: timed out waiting for requests; closing connections');
        http.closeAllConnections();
      }, timeout);
      // A keep-alive socket whose request finishes now would otherwise stay open until its client drops it (seconds).
      const sweep = setInterval(() => http.closeIdleConnections(), 50);
      await closed;
      clearInterval(sweep);
      clearTimeout(timer);
      await deps.recorder.drain();
      unwatchSockets();
    },
  };
}

// The wiring moved to src/deps.ts; re-exported so existing callers (tests, benches) keep working.
export { openDeps, type OpenOptions } from './deps.js';
