import { createGraphQLError } from 'graphql-yoga';
import { GraphQLError } from 'graphql';
import type { z } from 'zod';
import { phraseOfZod, render, type Locale, type MessageId, type Params, type Phrase } from './messages.js';

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

/**
 * What an error says, kept beside its English message so src/i18n.ts can say it in another
 * language: one phrase, or the `path: phrase` parts of a validation summary (joined by "; ").
 * A part zod wrote itself (no id) is kept as its text.
 */
export type Said = ReadonlyArray<{ path: string | null; phrase: Phrase | string }>;

/** Where an error keeps what it said: a symbol on its extensions, never serialized, kept by graphql-js' located errors. */
const SAID = Symbol('said');

export function renderSaid(said: Said, locale: Locale): string {
  return said.map(({ path, phrase }) => `${path === null ? '' : `${path}: `}${typeof phrase === 'string' ? phrase : render(phrase, locale)}`).join('; ');
}

/** What `error` (or the error it wraps) said, if it was raised by id. */
export function saidBy(error: GraphQLError): Said | undefined {
  type Saying = { [SAID]?: Said } | undefined;
  return (error.extensions as Saying)?.[SAID] ?? ((error.originalError as GraphQLError | undefined)?.extensions as Saying)?.[SAID];
}

function errorSaying(code: ErrorCode, said: Said, extensions: Record<string, unknown>): GraphQLError {
  const status = HTTP_STATUS[code];
  const error = createGraphQLError(renderSaid(said, 'en'), {
    extensions: { code, ...extensions, ...(status ? { http: { status, ...(extensions.http as object | undefined) } } : {}) },
  });
  Object.defineProperty(error.extensions, SAID, { value: said, enumerable: false });
  return error;
}

/** An error the caller can fix, by message id (src/messages.ts): shown to them as is, with its code. Everything else is masked. */
export function userError(code: ErrorCode, id: MessageId, params: Params = {}, extensions: Record<string, unknown> = {}): GraphQLError {
  return errorSaying(code, [{ path: null, phrase: { id, params } }], extensions);
}

/** `error` with "; did you mean '…'?" added to what it says, and `extensions.suggestion`. */
export function withSuggestion(error: GraphQLError, suggestion: string): GraphQLError {
  const said: Said = [...(saidBy(error) ?? [{ path: null, phrase: error.message }]), { path: null, phrase: { id: 'metric.didYouMean', params: { suggestion } } }];
  // No originalError: the error masking would show the original, without the suggestion.
  const located = new GraphQLError(renderSaid(said, 'en'), { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, extensions: { ...error.extensions, suggestion } });
  Object.defineProperty(located.extensions, SAID, { value: said, enumerable: false });
  return located;
}

/** The per-item failure shape in batch payloads. */
export interface ItemError {
  code: ErrorCode;
  message: string;
}

function saidByZod(error: z.ZodError): Said {
  return error.issues.map((issue) => ({ path: issue.path.length ? issue.path.join('.') : null, phrase: phraseOfZod(issue.message) ?? issue.message }));
}

/** One line that says what is wrong, with the field path: `tags: tag "a" must be a string`. */
export function describeZodError(error: z.ZodError): string {
  return renderSaid(saidByZod(error), 'en');
}

/** BAD_USER_INPUT saying what to change, part by part (each part by id where the schema gave one). */
export function invalidInput(error: z.ZodError): GraphQLError {
  return errorSaying('BAD_USER_INPUT', saidByZod(error), {});
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
