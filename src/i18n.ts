/**
 * Error messages in English and Polish, chosen by Accept-Language over HTTP and
 * `connectionParams.locale` over WebSocket. `extensions.code` never changes: clients branch on
 * the code, people read the message.
 *
 * An error raised by message id (userError, or a zod schema's zodMessage) keeps its id and
 * params, and is said again from src/messages.ts in the caller's language. The Polish catalog
 * covers the messages users meet most: authentication and roles, the validation of recorded
 * points and queries, limits, rate limits, lookups that find nothing and the masked internal
 * error; every other id states that its Polish answer is the English one, and an error not raised
 * by id (graphql-js' own, graphql-armor's) stays as it was written.
 */
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { renderSaid, saidBy } from './errors.js';
import type { Locale } from './messages.js';

export type { Locale };

/** The first language of `header` (by q-value) we speak; English otherwise. */
export function localeFrom(header: string | null | undefined): Locale {
  if (!header) return 'en';
  const ranked = header
    .split(',')
    .map((part, index) => {
      const [tag, ...params] = part.trim().toLowerCase().split(';');
      const q = Number(params.find((p) => p.trim().startsWith('q='))?.split('=')[1] ?? 1);
      return { tag: tag ?? '', q: Number.isFinite(q) ? q : 0, index };
    })
    .filter((l) => l.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const { tag } of ranked) {
    if (tag === 'pl' || tag.startsWith('pl-')) return 'pl';
    if (tag === 'en' || tag.startsWith('en-') || tag === '*') return 'en';
  }
  return 'en';
}

/** The same errors with their messages in `locale`; codes, paths and locations kept. */
export function localizeErrors(errors: readonly GraphQLError[], locale: Locale): GraphQLError[] {
  return errors.map((error) => {
    const said = saidBy(error);
    const message = said ? renderSaid(said, locale) : error.message;
    if (message === error.message) return error;
    return new GraphQLError(message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, originalError: error.originalError, extensions: error.extensions });
  });
}

/** Yoga: results over HTTP in the language of Accept-Language. */
export function useLocalizedErrors(): Plugin {
  return {
    onResultProcess({ request, result, setResult }) {
      const locale = localeFrom(request.headers.get('accept-language'));
      if (locale === 'en' || Array.isArray(result) || !result || typeof result !== 'object' || !('errors' in result) || !result.errors?.length) return;
      setResult({ ...result, errors: localizeErrors(result.errors as GraphQLError[], locale) });
    },
  };
}
