import { createGraphQLError } from 'graphql-yoga';
import type { GraphQLError } from 'graphql';
import type { z } from 'zod';

/** The machine-readable codes a client can branch on (DESIGN.md §4). */
export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'RATE_LIMITED'
  | 'LIMIT_EXCEEDED'
  | 'SERVICE_UNAVAILABLE'
  | 'INTERNAL';

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  SERVICE_UNAVAILABLE: 503,
};

/** An error the caller can fix: shown to them as is, with its code. Everything else is masked. */
export function userError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  const status = HTTP_STATUS[code];
  return createGraphQLError(message, {
    extensions: { code, ...extensions, ...(status ? { http: { status, ...(extensions.http as object | undefined) } } : {}) },
  });
}

/** The per-item failure shape in batch payloads. */
export interface ItemError {
  code: ErrorCode;
  message: string;
}

/** One line that says what is wrong, with the field path: `tags: tag "a" must be a string`. */
export function describeZodError(error: z.ZodError): string {
  return error.issues.map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message)).join('; ');
}

/** Parses with a zod schema, or throws BAD_USER_INPUT saying what to change. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw userError('BAD_USER_INPUT', describeZodError(result.error));
  return result.data;
}

/** Errors from a database that is down or restarting: the client may retry. */
export function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: string })?.code;
  const message = (error as Error)?.message ?? '';
  return (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === '57P01' || // admin_shutdown
    code === '57P03' || // cannot_connect_now
    /timeout exceeded when trying to connect|Connection terminated/i.test(message)
  );
}
