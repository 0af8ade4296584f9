/**
 * Downsampling in the planner: where a tenant's retention has removed raw points (or a level),
 * the range is answered from the finest level left, in whole buckets of it, and never twice.
 */
import { describe, expect, test } from 'vitest';
import { DAY, GRANULARITIES, HOUR, MINUTE, planSegments, type Horizons } from '../src/query/plan.js';
import { horizons, RETENTION_DEFAULTS } from '../src/ops/retention.js';

const NOW = Date.parse('2026-11-24T12:00:00Z');
const at = (iso: string) => new Date(iso);
/** Segments as `source [from, to)` strings, oldest first. */
const plan = (from: string, to: string, granularity: keyof typeof GRANULARITIES, h?: Horizons) =>
  planSegments(at(from), at(to), GRANULARITIES[granularity], true, h)
    .map((s) => `${s.source} [${s.from.toISOString().slice(5, 16)}, ${s.to.toISOString().slice(5, 16)})`)
    .sort((a, b) => a.slice(a.indexOf('[')).localeCompare(b.slice(b.indexOf('['))));

const defaults = horizons(RETENTION_DEFAULTS, NOW);

describe('horizons from retention', () => {
  test('defaults: raw and 1 minute 30 days, 5 minutes 90, 1 hour a year, 1 day five years', () => {
    expect(Object.fromEntries(Object.entries(defaults).map(([k, v]) => [k, (NOW - v) / DAY]))).toEqual({ raw: 30, '1m': 30, '5m': 90, '1h': 365, '1d': 1825 });
  });
});

describe('planSegments with retention', () => {
  test.each<[string, string, string, keyof typeof GRANULARITIES, Horizons | undefined, string[]]>([
    [
      'within raw retention: exactly as without retention',
      '2026-11-20T10:37:12Z',
      '2026-11-20T12:00:00Z',
      'HOUR',
      defaults,
      ['raw [11-20T10:37, 11-20T10:38)', '1m [11-20T10:38, 11-20T10:40)', '5m [11-20T10:40, 11-20T11:00)', '1h [11-20T11:00, 11-20T12:00)'],
    ],
    [
      'older than raw and 1 minute retention, at HOUR: 1 hour buckets, the first one whole',
      '2026-09-01T10:37:12Z',
      '2026-09-01T14:00:00Z',
      'HOUR',
      defaults,
      ['1h [09-01T10:00, 09-01T14:00)'],
    ],
    [
      'older than raw retention, at MINUTE: 5 minute buckets (1 minute is gone too), from the first 5 minutes that start in the first minute',
      '2026-09-01T10:37:12Z',
      '2026-09-01T10:50:00Z',
      'MINUTE',
      defaults,
      ['5m [09-01T10:40, 09-01T10:50)'],
    ],
    [
      'a year ago at MINUTE: one bucket per hour, at the hour',
      '2026-01-01T00:00:00Z',
      '2026-01-01T03:00:00Z',
      'MINUTE',
      defaults,
      ['1h [01-01T00:00, 01-01T03:00)'],
    ],
    [
      'across the raw horizon: 5 minutes up to the first 5 minute boundary after it, then exact',
      '2026-10-24T11:00:00Z',
      '2026-10-25T12:00:00Z',
      'HOUR',
      { ...defaults, raw: Date.parse('2026-10-25T11:37:00Z'), '1m': Date.parse('2026-10-25T11:37:00Z') },
      ['1h [10-24T11:00, 10-25T11:00)', '5m [10-25T11:00, 10-25T11:40)', '5m [10-25T11:40, 10-25T12:00)'],
    ],
    [
      'raw kept longer than 1 minute: where 1 minute is gone the edges are raw, and exact',
      '2026-11-10T10:37:12Z',
      '2026-11-10T11:00:00Z',
      'HOUR',
      { ...defaults, '1m': NOW - 7 * DAY },
      ['raw [11-10T10:37, 11-10T10:40)', '5m [11-10T10:40, 11-10T11:00)'],
    ],
    [
      'older than every level: nothing to read',
      '2020-01-01T00:00:00Z',
      '2020-01-02T00:00:00Z',
      'HOUR',
      defaults,
      [],
    ],
    [
      'no retention given: exact, as before',
      '2026-01-01T10:37:12Z',
      '2026-01-01T11:00:00Z',
      'HOUR',
      undefined,
      ['raw [01-01T10:37, 01-01T10:38)', '1m [01-01T10:38, 01-01T10:40)', '5m [01-01T10:40, 01-01T11:00)'],
    ],
  ])('%s', (_name, from, to, granularity, h, expected) => {
    expect(plan(from, to, granularity, h)).toEqual(expected);
  });

  test('segments never overlap and cover the range in bucket starts, across every horizon', () => {
    const h: Horizons = { raw: NOW - 10 * DAY - 17 * MINUTE, '1m': NOW - 20 * DAY - 3 * MINUTE, '5m': NOW - 40 * DAY - 7 * MINUTE, '1h': NOW - 100 * DAY - 5 * HOUR, '1d': NOW - 1000 * DAY };
    for (const granularity of Object.keys(GRANULARITIES) as Array<keyof typeof GRANULARITIES>) {
      const from = new Date(NOW - 120 * DAY + 12_345);
      const segments = planSegments(from, new Date(NOW), GRANULARITIES[granularity], true, h);
      for (let i = 1; i < segments.length; i++) expect(segments[i]!.from.getTime(), granularity).toBe(segments[i - 1]!.to.getTime());
      expect(segments.at(-1)!.to.getTime()).toBe(NOW);
      for (const s of segments) expect(s.from < s.to, `${granularity} ${s.source}`).toBe(true);
      // Each source is only read where it is kept.
      for (const s of segments) expect(s.from.getTime(), `${granularity} ${s.source}`).toBeGreaterThanOrEqual(Math.floor(h[s.source] / DAY) * DAY - DAY);
    }
  });
});
