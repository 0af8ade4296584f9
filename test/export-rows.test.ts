/**
 * Export rows (src/export.ts) are written field by field, for their cost; they must be byte for
 * byte what the straightforward formatting gives: JSON.stringify of the row object, and the CSV
 * fields joined by the locale's separator.
 */
import { describe, expect, it } from 'vitest';
import type { Bucket } from '../src/query/aggregate.js';
import { csvRow, FIELDS, formatNumber, jsonRow } from '../src/export.js';

const buckets: Bucket[] = [
  { start: new Date(0), end: new Date(60_000), count: 2, sum: 1334.56, min: -0.5, max: 1e21, avg: 667.28, last: 100, rate: null, p50: 1234567.25, p90: 0, p95: 5e-7, p99: 99 },
  { start: new Date(60_000), end: new Date(120_000), count: 0, sum: null, min: null, max: null, avg: null, last: null, rate: null, p50: null, p90: null, p95: null, p99: null, value: null },
  { start: new Date(120_000), end: new Date(180_000), count: 0, sum: 0, min: 0, max: 0, avg: 0, last: 0, rate: 0, p50: 0, p90: 0, p95: 0, p99: 0, value: 0 },
];
const metric = 'shop "orders", total';
const tags = { shop: 'north;1', 'a"b': 'x\ny' };

describe('export rows', () => {
  it('JSON: what JSON.stringify of the row object gives', () => {
    const head = `{"metric":${JSON.stringify(metric)},"tags":${JSON.stringify(tags)}`;
    for (const bucket of buckets) {
      const expected = JSON.stringify({ metric, tags, start: bucket.start, end: bucket.end, ...Object.fromEntries(FIELDS.map((f) => [f, bucket[f] ?? null])) });
      expect(jsonRow(head, bucket)).toBe(expected);
      expect(JSON.parse(jsonRow(head, bucket))).toEqual(JSON.parse(expected));
    }
  });
  it('CSV in en and pl: the quoted fields joined by the separator', () => {
    const quote = (text: string, sep: string) => (text.includes(sep) || /["\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
    for (const [locale, sep] of [['en', ','], ['pl', ';']] as const) {
      const head = `${quote(metric, sep)}${sep}${quote(JSON.stringify(tags), sep)}`;
      for (const bucket of buckets) {
        const expected = [quote(metric, sep), quote(JSON.stringify(tags), sep), bucket.start.toISOString(), bucket.end.toISOString(), ...FIELDS.map((f) => quote(formatNumber(bucket[f], locale), sep))].join(sep) + '\n';
        expect(csvRow(head, bucket, sep, locale)).toBe(expected);
      }
    }
    expect(csvRow('m,{}', buckets[0]!, ';', 'pl')).toContain(';1 234 567,25;');
  });
});
