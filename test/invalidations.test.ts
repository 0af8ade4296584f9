/**
 * The pure half of late points (src/query/invalidations.ts): which rows a write records, and how
 * a plan gives a dirty range up to raw points while every other bucket keeps its source.
 */
import { describe, expect, test } from 'vitest';
import { avoidDirty, invalidationSql, mergeIntervals, type Interval } from '../src/query/invalidations.js';
import { planSegments, type Segment } from '../src/query/plan.js';

const T = Date.parse('2026-11-20T10:00:00Z');
const MIN = 60_000;
const at = (hhmm: string) => Date.parse(`2026-11-20T${hhmm}:00Z`);
const show = (segments: Array<{ source: string; from: Date; to: Date }>) =>
  segments.map((s) => `${s.source} ${s.from.toISOString().slice(11, 16)}-${s.to.toISOString().slice(11, 16)}`);

describe('avoidDirty', () => {
  const hourly = (from: string, to: string) => planSegments(new Date(at(from)), new Date(at(to)), 60 * MIN, true);
  const replan = (granularity: number) => (from: Date, to: Date) => planSegments(from, to, granularity, true);

  test.each<[string, Segment[], Interval[], number, string[]]>([
    ['nothing dirty: the plan as it was', hourly('10:00', '14:00'), [], 60 * MIN, ['1h 10:00-14:00']],
    [
      'two dirty minutes inside an hour: raw for them, finer levels around them, the other hours kept',
      hourly('10:00', '14:00'),
      [{ from: at('11:07'), to: at('11:09') }],
      60 * MIN,
      ['1h 10:00-11:00', '5m 11:00-11:05', '1m 11:05-11:07', 'raw 11:07-11:09', '1m 11:09-11:10', '5m 11:10-12:00', '1h 12:00-14:00'],
    ],
    [
      'dirty ranges touching a raw edge join it',
      planSegments(new Date(at('09:59') + 30_000), new Date(at('11:00')), 60 * MIN, true),
      [{ from: at('09:59'), to: at('10:02') }],
      60 * MIN,
      ['raw 09:59-10:02', '1m 10:02-10:05', '5m 10:05-11:00'],
    ],
    ['a whole level segment dirty: all raw', hourly('10:00', '11:00'), [{ from: at('09:00'), to: at('12:00') }], 60 * MIN, ['raw 10:00-11:00']],
    [
      'at MINUTE granularity only 1m segments are cut',
      planSegments(new Date(at('10:00')), new Date(at('10:10')), MIN, true),
      [{ from: at('10:03'), to: at('10:04') }],
      MIN,
      ['1m 10:00-10:03', 'raw 10:03-10:04', '1m 10:04-10:10'],
    ],
  ])('%s', (_name, segments, dirty, granularity, expected) => {
    expect(show(avoidDirty(segments, dirty, replan(granularity)))).toEqual(expected);
  });

  test('a report rollup cut by a dirty range gives it up to raw and is planned again around it', () => {
    const rollup = { source: 'rollup' as const, period: 'WEEK', from: new Date(Date.parse('2026-11-16T00:00:00Z')), to: new Date(Date.parse('2026-11-23T00:00:00Z')) };
    const out = avoidDirty([rollup], [{ from: at('10:00'), to: at('10:01') }], (from, to) => planSegments(from, to, 86_400_000, true));
    expect(out.map((s) => `${s.source} ${s.from.toISOString().slice(5, 16)}-${s.to.toISOString().slice(5, 16)}`)).toEqual([
      '1d 11-16T00:00-11-20T00:00',
      '1h 11-20T00:00-11-20T10:00',
      'raw 11-20T10:00-11-20T10:01',
      '1m 11-20T10:01-11-20T10:05',
      '5m 11-20T10:05-11-20T11:00',
      '1h 11-20T11:00-11-21T00:00',
      '1d 11-21T00:00-11-23T00:00',
    ]);
  });
});

describe('mergeIntervals', () => {
  test.each<[string, Interval[], number, Interval[]]>([
    ['overlapping and touching join', [{ from: 5, to: 8 }, { from: 0, to: 5 }, { from: 7, to: 9 }], 0, [{ from: 0, to: 9 }]],
    ['apart stay apart', [{ from: 0, to: 1 }, { from: 3, to: 4 }], 0, [{ from: 0, to: 1 }, { from: 3, to: 4 }]],
    ['apart by less than the gap join', [{ from: 0, to: 1 }, { from: 3, to: 4 }], 2, [{ from: 0, to: 4 }]],
  ])('%s', (_name, input, gap, expected) => expect(mergeIntervals(input, gap)).toEqual(expected));
});

describe('invalidationSql', () => {
  const now = T + 60 * MIN;
  test('current points (within 5 minutes) record nothing', () => {
    expect(invalidationSql([{ seriesId: 1, time: new Date(now - 4 * MIN) }], now)).toBeNull();
  });
  test('late points fold per series and hour before they reach SQL, in one statement', () => {
    const text = invalidationSql(
      [
        { seriesId: 1, time: new Date(T + 5 * MIN) },
        { seriesId: 1, time: new Date(T + 50 * MIN) },
        { seriesId: 2, time: new Date(T - 10 * MIN) },
        { seriesId: 1, time: new Date(now - MIN) },
      ],
      now,
    )!;
    expect(text).toContain(`'{1,2}'::bigint[]`);
    expect(text).toContain(`'{2026-11-20T10:00:00.000Z,2026-11-20T09:00:00.000Z}'::timestamptz[]`);
    expect(text).toContain(`'{2026-11-20T10:05:00.000Z,2026-11-20T09:50:00.000Z}'::timestamptz[]`);
    expect(text).toContain(`'{2026-11-20T10:50:00.000Z,2026-11-20T09:50:00.000Z}'::timestamptz[]`);
    expect(text).toContain('generation = i.generation + 1');
  });
  test('a series id that is not a safe integer is refused, never inlined', () => {
    expect(() => invalidationSql([{ seriesId: 1.5, time: new Date(T) }], now)).toThrow('not safe to inline');
  });
});
