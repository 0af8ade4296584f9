/**
 * Error messages in English (as written in the code) and Polish, chosen by Accept-Language
 * over HTTP and `connectionParams.locale` over WebSocket. `extensions.code` never changes:
 * clients branch on the code, people read the message.
 *
 * The Polish catalog covers the messages users meet most: authentication and roles, the
 * validation of recorded points and queries, limits, rate limits, lookups that find nothing
 * and the masked internal error. A message not in it stays in English.
 */
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

export type Locale = 'en' | 'pl';

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

const KIND_PL: Record<string, string> = { points: 'punktów', writes: 'zapisów', queries: 'zapytań' };

/** English message → Polish, whole messages first; `$n` are the pattern's groups. */
const PL: Array<[RegExp, string | ((...groups: string[]) => string)]> = [
  [/^Invalid API key or token$/, 'Nieprawidłowy klucz API lub token'],
  [/^Invalid API key$/, 'Nieprawidłowy klucz API'],
  [/^Send "Authorization: Bearer <API key or JWT>"$/, 'Wyślij nagłówek "Authorization: Bearer <klucz API lub JWT>"'],
  [
    /^Send connectionParams: \{ "authorization": "Bearer <API key or JWT>" \} in connection_init, or an Authorization header in the subscribe message's extensions\.headers \(as GraphiQL does\)$/,
    'Wyślij connectionParams: { "authorization": "Bearer <klucz API lub JWT>" } w connection_init albo nagłówek Authorization w extensions.headers komunikatu subscribe (jak robi to GraphiQL)',
  ],
  [/^Authorization must be "Bearer <token>"$/, 'Nagłówek Authorization musi mieć postać "Bearer <token>"'],
  [/^Token has expired$/, 'Token wygasł'],
  [/^Malformed token$/, 'Token ma nieprawidłową postać'],
  [/^Invalid token signature$/, 'Nieprawidłowy podpis tokenu'],
  [/^Token names a tenant that does not exist$/, 'Token wskazuje najemcę, który nie istnieje'],
  [/^This needs one of the roles (.+)$/, 'Wymagana jest jedna z ról: $1'],
  [/^Only the operator token can (create tenants|set tenant limits)$/, (what) => `Tylko token operatora może ${what === 'create tenants' ? 'tworzyć najemców' : 'ustawiać limity najemców'}`],
  [/^A batch may hold at most (\d+) items; got (\d+)\. Split it\.$/, 'Partia może zawierać najwyżej $1 elementów; otrzymano $2. Podziel ją.'],
  [/^Too many (points|writes|queries) for this tenant; retry in (\d+) s\.$/, (kind, seconds) => `Zbyt wiele ${KIND_PL[kind!]} dla tego najemcy; spróbuj ponownie za ${seconds} s.`],
  [/^The database is unavailable; retry shortly$/, 'Baza danych jest niedostępna; spróbuj ponownie za chwilę'],
  [/^Unexpected error\. \(request id ([0-9a-f-]+)\)$/, 'Nieoczekiwany błąd. (identyfikator żądania $1)'],
  [/^The query ran longer than (\d+) ms\. Narrow the range, coarsen the granularity or filter by tags\.$/, 'Zapytanie trwało dłużej niż $1 ms. Zawęź zakres, wybierz grubszą ziarnistość lub filtruj po tagach.'],
  [/^metric '(.+)' is a (\w+); it cannot record a (\w+)$/, "metryka '$1' jest typu $2; nie może zapisać punktu typu $3"],
  [/^metric '(.+)' has unit '(.+)'; got '(.+)'$/, "metryka '$1' ma jednostkę '$2'; otrzymano '$3'"],
  [/^metric '(.+)' does not exist in this tenant(.*)$/, "metryka '$1' nie istnieje u tego najemcy$2"],
  [/^alert rule (\S+) does not exist$/, 'reguła alertu $1 nie istnieje'],
  [/^from must be before to$/, 'from musi być wcześniej niż to'],
  [/^name must not be empty$/, 'name nie może być puste'],
  [/^name must be at most 255 characters$/, 'name może mieć najwyżej 255 znaków'],
  [/^name must start with a letter and contain only letters, digits, "\.", "_" and "-"$/, 'name musi zaczynać się literą i zawierać tylko litery, cyfry, ".", "_" i "-"'],
  [/^value must be a finite number$/, 'value musi być skończoną liczbą'],
  [/^a COUNTER value is an increment and must be >= 0$/, 'wartość COUNTER jest przyrostem i musi być >= 0'],
  [/^timestamp is more than 10 minutes in the future$/, 'timestamp jest ponad 10 minut w przyszłości'],
  [/^timestamp is before 1970-01-01$/, 'timestamp jest wcześniejszy niż 1970-01-01'],
  [/^tags may have at most (\d+) keys; got (\d+)$/, 'tagi mogą mieć najwyżej $1 kluczy; otrzymano $2'],
  [/^tag "(.+)" must be a string; got (\w+)$/, 'tag "$1" musi być tekstem; otrzymano $2'],
  [/^metrics needs at least one name$/, 'metrics potrzebuje co najmniej jednej nazwy'],
  [/^metrics takes at most (\d+) names$/, 'metrics przyjmuje najwyżej $1 nazw'],
];

/** One message, or each `path: message` part of a validation summary, in `locale`. */
export function translate(message: string, locale: Locale): string {
  if (locale === 'en') return message;
  const whole = translateOne(message);
  if (whole !== null) return whole;
  return message
    .split('; ')
    .map((part) => {
      const colon = part.indexOf(': ');
      if (colon === -1) return translateOne(part) ?? part;
      return `${part.slice(0, colon)}: ${translateOne(part.slice(colon + 2)) ?? part.slice(colon + 2)}`;
    })
    .join('; ');
}

function translateOne(message: string): string | null {
  for (const [pattern, target] of PL) {
    const match = pattern.exec(message);
    if (!match) continue;
    const groups = match.slice(1);
    return typeof target === 'string' ? target.replace(/\$(\d)/g, (_, n: string) => groups[Number(n) - 1] ?? '') : target(...groups);
  }
  return null;
}

/** The same errors with their messages in `locale`; codes, paths and locations kept. */
export function localizeErrors(errors: readonly GraphQLError[], locale: Locale): GraphQLError[] {
  return errors.map((error) => {
    const message = translate(error.message, locale);
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
