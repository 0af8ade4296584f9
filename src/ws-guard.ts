/**
 * The WebSocket's principal and socket limits, apart from the graphql-ws wiring in server.ts:
 *
 * - every operation (query, mutation or subscription) checks its connection's principal first:
 *   a revoked key or an expired JWT gets UNAUTHENTICATED and the socket is closed with 4403,
 *   without waiting for the periodic re-check;
 * - the periodic re-check closes with 4403 only when the credentials are refused; when the
 *   database cannot answer (PostgreSQL restarting) the socket stays, and the next check decides;
 * - sockets that have not sent connection_init are capped (closed with 1013, try again later)
 *   on top of graphql-ws' 3 s init timeout, and so are acknowledged sockets without credentials
 *   (4429);
 * - a socket that closes while its connection_init is being authenticated is not counted
 *   against its tenant (graphql-ws runs onClose before that onConnect returns).
 */
import type { Redis } from 'ioredis';
import type { WebSocket } from 'ws';
import type { GraphQLError } from 'graphql';
import type { Authenticator, Principal } from './auth.js';
import { userError } from './errors.js';
import type { Logger } from './log.js';

export interface WsGuardLimits {
  /** Sockets that have not yet sent connection_init, per instance. */
  maxPending: number;
  /** Acknowledged sockets without credentials, per instance. */
  maxAnonymous: number;
}

export const FORBIDDEN_CLOSE = 4403;

export function createWsGuard(auth: Authenticator, log: Logger, limits: WsGuardLimits) {
  const pending = new Set<WebSocket>();
  const anonymous = new Set<WebSocket>();

  return {
    /** A new socket, before graphql-ws sees it: refused at once past the pending cap. */
    opened(socket: WebSocket): void {
      if (pending.size >= limits.maxPending) {
        socket.close(1013, 'Too many connections waiting for connection_init; try again later');
        return;
      }
      pending.add(socket);
      socket.once('close', () => {
        pending.delete(socket);
        anonymous.delete(socket);
      });
    },

    /** connection_init arrived: the socket leaves the pending set. */
    initialising(socket: WebSocket): void {
      pending.delete(socket);
    },

    /** Whether the socket is still open after connection_init's (awaited) authentication. */
    stillOpen(socket: WebSocket): boolean {
      return socket.readyState === socket.OPEN;
    },

    /** An acknowledged socket without credentials: false (and closed with 4429) past the cap. */
    admitAnonymous(socket: WebSocket): boolean {
      if (anonymous.size >= limits.maxAnonymous) {
        socket.close(4429, `Too many connections without credentials: at most ${limits.maxAnonymous}`);
        return false;
      }
      anonymous.add(socket);
      return true;
    },

    /**
     * Before each operation: null when it may run, else the errors to answer it with (the socket
     * is then closed with 4403 once they are sent).
     */
    async beforeOperation(socket: WebSocket, principal: Principal | null | undefined, token: string | undefined): Promise<GraphQLError[] | null> {
      if (!principal || !token) return null;
      const state = await auth.check(principal, token);
      if (state !== 'refused') return null;
      setImmediate(() => socket.close(FORBIDDEN_CLOSE, 'Forbidden: the credentials were revoked or have expired'));
      return [userError('UNAUTHENTICATED', 'auth.connectionRevoked')];
    },

    /** The periodic re-check: closes with 4403 only when the credentials are refused. */
    async recheck(socket: WebSocket, principal: Principal, token: string): Promise<void> {
      const state = await auth.check(principal, token);
      if (state === 'refused') socket.close(FORBIDDEN_CLOSE, 'Forbidden: the credentials were revoked or have expired');
      else if (state === 'unavailable') log.warn({ tenant: principal.kind === 'tenant' ? principal.tenantId : null }, 'live: credentials not re-checked, the database is unavailable; the connection stays');
    },

    stats: () => ({ pending: pending.size, anonymous: anonymous.size }),
  };
}

export type WsGuard = ReturnType<typeof createWsGuard>;

const REVOKED_CHANNEL = 'mg:auth:revoked';

/**
 * Carries key revocations between instances: the revoking instance publishes the key id, each
 * instance marks it revoked in its authenticator, so open WebSockets elsewhere are refused at
 * their next operation instead of after the key cache's TTL. Without Redis, other instances
 * learn it when their cache entry expires (5 s). Returns the publisher for createAuthenticator's
 * onRevoke, and a close function.
 */
export function shareRevocations(redis: Redis, log: Logger): { publish(keyId: string): void; listen(auth: Authenticator): void; close(): void } {
  const subscriber = redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, autoResubscribe: true });
  subscriber.on('error', (error) => log.warn({ err: error.message }, 'auth: redis revocation channel error'));
  return {
    publish(keyId) {
      redis.publish(REVOKED_CHANNEL, keyId).catch((error: unknown) => log.warn({ err: (error as Error).message }, 'auth: revocation not published; other instances learn it within the key cache TTL'));
    },
    listen(auth) {
      subscriber.on('message', (channel, keyId) => {
        if (channel === REVOKED_CHANNEL) auth.revoked(keyId);
      });
      subscriber.subscribe(REVOKED_CHANNEL).catch((error: unknown) => log.warn({ err: (error as Error).message }, 'auth: revocation channel not subscribed'));
    },
    close: () => subscriber.disconnect(),
  };
}
