/**
 * The dashboard's anomaly layer (src/dashboard/anomaly-band.js) as data: what it asks
 * metricAnomalies for and what it adds to a panel's uPlot chart. Chromium is not driven
 * here (test/dashboard.test.ts does that for panels; it is missing on some machines).
 */
import { describe, expect, test } from 'vitest';

// A browser module without types: loaded by a computed path so TypeScript takes it as it is.
const modulePath = new URL('../src/dashboard/anomaly-band.js', import.meta.url).href;
const { bandInput, bandLayer } = (await import(modulePath)) as {
  bandInput(config: Record<string, unknown>, from: string, to: string): Record<string, unknown>;
  bandLayer(band: unknown, seriesList: Array<{ metric?: string; tags: Record<string, string> }>, starts: string[], firstIndex: number): null | {
    starts: string[];
    columns: Array<Array<number | null>>;
    series: Array<{ label: string }>;
    bands: Array<{ series: [number, number] }>;
    anomalies: number;
    learning: number;
  };
};

const T10 = '2026-11-20T10:00:00.000Z';
const T11 = '2026-11-20T11:00:00.000Z';
const T1030 = '2026-11-20T10:30:00.000Z';

describe('bandInput: the panel’s metric, group-by and filter, hourly unless the panel is daily', () => {
  test.each([
    [{ metric: 'm', granularity: 'MINUTE' }, { metric: 'm', from: T10, to: T11, granularity: 'HOUR' }],
    [{ metric: 'm', granularity: 'DAY', groupBy: 'route' }, { metric: 'm', from: T10, to: T11, granularity: 'DAY', groupBy: ['route'] }],
    [{ metric: 'm', granularity: '', filterKey: 'host', filterValue: 'a' }, { metric: 'm', from: T10, to: T11, granularity: 'HOUR', tags: { host: 'a' } }],
  ])('%j', (config, input) => {
    expect(bandInput(config, T10, T11)).toEqual(input);
  });
});

describe('bandLayer', () => {
  const band = {
    threshold: 4.5,
    series: [
      { tags: { route: '/a' }, state: 'READY', points: [{ start: T10, expected: 11, lower: 8, upper: 14, anomaly: true, value: 20 }, { start: T11, expected: 11, lower: 8, upper: 14, anomaly: false, value: 12 }] },
      { tags: { route: '/b' }, state: 'LEARNING', points: [{ start: T10, expected: null, lower: null, upper: null, anomaly: false, value: 3 }] },
    ],
  };

  test('without a band: nothing', () => {
    expect(bandLayer(null, [{ tags: {} }], [T10], 1)).toBeNull();
  });

  test('lower, upper and anomalies for each READY charted series, on the merged x values, filled between', () => {
    // The chart has minute buckets at 10:30 and two lines (avg of /a and of /b): x is column 0.
    const layer = bandLayer(band, [{ metric: 'm', tags: { route: '/a' } }, { metric: 'm', tags: { route: '/b' } }], [T1030], 3)!;
    expect(layer.starts).toEqual([T10, T1030, T11]);
    expect(layer.columns).toEqual([
      [8, null, 8],
      [14, null, 14],
      [20, null, null],
    ]);
    expect(layer.series.map((s) => s.label)).toEqual(['/a expected low', '/a expected high', '/a anomaly']);
    expect(layer.bands).toEqual([{ series: [4, 3], fill: 'rgba(0, 0, 0, 0.08)' }]);
    expect(layer).toMatchObject({ anomalies: 1, learning: 1 });
  });

  test('a series without group-by tags is named by its metric', () => {
    const single = { series: [{ tags: {}, state: 'READY', points: [{ start: T10, lower: 1, upper: 2, anomaly: false, value: 1.5 }] }] };
    expect(bandLayer(single, [{ metric: 'load', tags: {} }], [T10], 2)!.series.map((s) => s.label)).toEqual(['load expected low', 'load expected high', 'load anomaly']);
  });

  test('a band series the chart does not show is left out', () => {
    expect(bandLayer(band, [{ tags: { route: '/c' } }], [T1030], 2)).toMatchObject({ starts: [T1030], columns: [], anomalies: 0 });
  });
});
