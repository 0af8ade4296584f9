/**
 * Localized errors: English and Polish by Accept-Language (HTTP) or connectionParams.locale
 * (WebSocket); the code is the same in every language.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { GraphQLError } from 'graphql';
import { z } from 'zod';
import { invalidInput } from '../src/errors.js';
import { localeFrom, localizeErrors } from '../src/i18n.js';
import { metricName } from '../src/ingest/metric-input.js';
import { english, ENGLISH, polish, render, zodMessage, type MessageId } from '../src/messages.js';
import { startApp, type TestApp } from './harness.js';

test('the language comes from Accept-Language, by q-value, English by default', () => {
  expect(localeFrom(undefined)).toBe('en');
  expect(localeFrom('pl')).toBe('pl');
  expect(localeFrom('pl-PL,pl;q=0.9,en;q=0.8')).toBe('pl');
  expect(localeFrom('en-US,pl;q=0.5')).toBe('en');
  expect(localeFrom('de;q=1, pl;q=0.7')).toBe('pl');
  expect(localeFrom('fr, de')).toBe('en');
  expect(localeFrom('pl;q=0, en')).toBe('en');
});

const paramsOf = (template: string) => [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test('every catalog id has a Polish template naming the same params, or states that Polish answers in English', () => {
  expect(Object.keys(polish).sort()).toEqual(Object.keys(english).sort());
  for (const id of Object.keys(english) as MessageId[]) {
    const pl = polish[id];
    if (pl === ENGLISH || typeof pl === 'function') continue;
    expect(typeof pl, id).toBe('string');
    expect(paramsOf(pl), id).toEqual(paramsOf(english[id]));
  }
});

test('a message with params is said with its params in each language; an English-only id answers in English', () => {
  const batch = { id: 'batch.tooLarge', params: { max: 500, got: 501 } } as const;
  expect(render(batch, 'en')).toBe('A batch may hold at most 500 items; got 501. Split it.');
  expect(render(batch, 'pl')).toBe('Partia może zawierać najwyżej 500 elementów; otrzymano 501. Podziel ją.');
  const limited = { id: 'request.rateLimited', params: { kind: 'points', seconds: 3 } } as const;
  expect(render(limited, 'en')).toBe('Too many points for this tenant; retry in 3 s.');
  expect(render(limited, 'pl')).toBe('Zbyt wiele punktów dla tego najemcy; spróbuj ponownie za 3 s.');
  expect(render({ id: 'anomaly.tooManyBuckets', params: { buckets: 900, max: 744 } }, 'pl')).toBe('the range holds 900 buckets; at most 744 are judged per request');
});

test("a validation summary is said part by part, by id; zod's own messages stay as zod wrote them", () => {
  const schema = z.object({ metrics: z.array(z.object({ value: z.number().max(10, zodMessage('field.range', { field: 'value', min: 0, max: 10 })), unit: z.string().max(3, zodMessage('field.tooLong', { field: 'unit', max: 3 })), name: metricName })), count: z.number() });
  const parsed = schema.safeParse({ metrics: [{ value: 11, unit: 'bytes', name: '1a' }], count: 'x' });
  const error: GraphQLError | undefined = parsed.success ? undefined : invalidInput(parsed.error);
  expect(error!.extensions.code).toBe('BAD_USER_INPUT');
  expect(error!.message).toBe(
    'metrics.0.value: value must be 0-10; metrics.0.unit: unit must be at most 3 characters; metrics.0.name: name must start with a letter and contain only letters, digits, ".", "_" and "-"; count: Invalid input: expected number, received string',
  );
  expect(localizeErrors([error!], 'pl')[0]!.message).toBe(
    'metrics.0.value: value must be 0-10; metrics.0.unit: unit może mieć najwyżej 3 znaków; metrics.0.name: name musi zaczynać się literą i zawierać tylko litery, cyfry, ".", "_" i "-"; count: Invalid input: expected number, received string',
  );
  expect(localizeErrors([error!], 'en')[0]!.message).toBe(error!.message);
  expect(Object.keys(error!.extensions)).toEqual(['code']);
});

describe('over HTTP and WebSocket', () => {
  let app: TestApp;
  let key: string;
  beforeAll(async () => {
    app = await startApp('embedded', { MAX_BATCH_SIZE: '2' });
    key = (await app.createTenant()).adminKey;
    await app.gql('mutation { recordMetric(input: { name: "cpu", type: GAUGE, value: 1 }) { id } }', {}, key);
  });
  afterAll(() => app.close());

  const ask = async (query: string, language: string | null, token: string | null = key) => {
    const response = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(language ? { 'accept-language': language } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query }),
    });
    const body = (await response.json()) as { errors: Array<{ message: string; extensions: { code: string } }> };
    return [body.errors[0]!.extensions.code, body.errors[0]!.message];
  };

  const CASES: Array<[string, string | null, string, string, string]> = [
    ['bad key', 'mg_nope', '{ tenant { id } }', 'Invalid API key', 'Nieprawidłowy klucz API'],
    ['type conflict', null, 'mutation { recordMetric(input: { name: "cpu", type: COUNTER, value: 1 }) { id } }', "metric 'cpu' is a GAUGE; it cannot record a COUNTER", "metryka 'cpu' jest typu GAUGE; nie może zapisać punktu typu COUNTER"],
    ['negative counter', null, 'mutation { recordMetric(input: { name: "c", type: COUNTER, value: -1 }) { id } }', 'input.value: a COUNTER value is an increment and must be >= 0', 'input.value: wartość COUNTER jest przyrostem i musi być >= 0'],
    ['batch too large', null, 'mutation { recordMetrics(input: { metrics: [{ name: "a", type: GAUGE, value: 1 }, { name: "a", type: GAUGE, value: 1 }, { name: "a", type: GAUGE, value: 1 }] }) { accepted } }', 'A batch may hold at most 2 items; got 3. Split it.', 'Partia może zawierać najwyżej 2 elementów; otrzymano 3. Podziel ją.'],
  ];

  test.each(CASES)('%s: the same code, the message in each language', async (_name, token, query, en, pl) => {
    const who = token ?? key;
    const english = await ask(query, null, who);
    const polish = await ask(query, 'pl-PL,pl;q=0.9', who);
    expect(english[1]).toBe(en);
    expect(polish[1]).toBe(pl);
    expect(polish[0]).toBe(english[0]);
  });

  test('over WebSocket, connectionParams.locale chooses', async () => {
    const errorsIn = async (locale: string | undefined) => {
      const client = createClient({ url: `${app.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${key}`, ...(locale ? { locale } : {}) }, retryAttempts: 0 });
      try {
        return await new Promise<Array<{ message: string; extensions: { code: string } }>>((resolve) => {
          client.subscribe({ query: 'subscription { metricRecorded(filter: { metrics: [] }) { dropped } }' }, { next: (m) => resolve((m.errors ?? []) as never), error: (e) => resolve(e as never), complete: () => resolve([]) });
        });
      } finally {
        await client.dispose();
      }
    };
    const english = await errorsIn(undefined);
    const polish = await errorsIn('pl');
    expect(english.map((e) => [e.extensions.code, e.message])).toEqual([['BAD_USER_INPUT', 'filter.metrics: metrics needs at least one name']]);
    expect(polish.map((e) => [e.extensions.code, e.message])).toEqual([['BAD_USER_INPUT', 'filter.metrics: metrics potrzebuje co najmniej jednej nazwy']]);
  });
});
