/**
 * Localized errors: English and Polish by Accept-Language (HTTP) or connectionParams.locale
 * (WebSocket); the code is the same in every language.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { localeFrom, translate } from '../src/i18n.js';
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

test('a validation summary is translated part by part; unknown text stays as it is', () => {
  expect(translate('metrics.0.value: value must be a finite number; metrics.0.name: name must not be empty', 'pl')).toBe('metrics.0.value: value musi być skończoną liczbą; metrics.0.name: name nie może być puste');
  expect(translate('something new', 'pl')).toBe('something new');
  expect(translate('Token has expired', 'en')).toBe('Token has expired');
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
    expect(english.map((e) => [e.extensions.code, e.message])).toEqual([['BAD_USER_INPUT', 'metrics: metrics needs at least one name']]);
    expect(polish.map((e) => [e.extensions.code, e.message])).toEqual([['BAD_USER_INPUT', 'metrics: metrics potrzebuje co najmniej jednej nazwy']]);
  });
});
