// A panel's expected band and anomalous buckets, from metricAnomalies: kept apart from app.js,
// which only asks for the band (watchBand) and adds its layer to the chart (bandLayer).
// Hourly (or daily) buckets, because that is the resolution the history is kept at.

const REFRESH_MS = 60_000;
const BAND_FILL = 'rgba(0, 0, 0, 0.08)';
const BAND_EDGE = '#777777';
const ANOMALY_COLOUR = '#D55E00';

const QUERY = `query Band($input: AnomalyQueryInput!) {
  metricAnomalies(input: $input) { threshold series { tags state points { start expected lower upper anomaly value } } }
}`;

/** The metricAnomalies input of a panel: its metric, tags and group-by over its range, at HOUR unless the panel is daily. */
export function bandInput(config, from, to) {
  const input = { metric: config.metric, from, to, granularity: config.granularity === 'DAY' ? 'DAY' : 'HOUR' };
  if (config.groupBy) input.groupBy = [config.groupBy];
  if (config.filterKey && config.filterValue) input.tags = { [config.filterKey]: config.filterValue };
  return input;
}

/**
 * Asks for the band now and every minute (a new hour brings a new judged bucket). `range()`
 * gives the panel's current { from, to }; `changed()` is called after each answer or error.
 * Returns { current, error, stop }.
 */
export function watchBand(config, gql, range, changed) {
  const band = { current: null, error: null, stop: () => clearInterval(timer) };
  const load = async () => {
    const { from, to } = range();
    try {
      band.current = (await gql(QUERY, { input: bandInput(config, from, to ?? new Date().toISOString()) })).metricAnomalies;
      band.error = null;
    } catch (error) {
      band.error = `${error.code ?? 'ERROR'}: ${error.message}`;
    }
    changed();
  };
  const timer = setInterval(load, REFRESH_MS);
  void load();
  return band;
}

/**
 * The band's part of a uPlot chart of `seriesList` ({ metric, tags }) over `starts`
 * (ISO strings): the x values with the band's buckets merged in, the columns and series
 * options to append (lower, upper, anomalies per charted series with a READY band) from
 * column `firstIndex` on, uPlot `bands` filling between lower and upper, how many anomalies
 * are shown and how many series are still learning. Null without a band.
 *
 *   bandLayer({ series: [{ tags: {}, state: 'READY', points: [{ start: '…T10:00:00.000Z', lower: 8, upper: 14, anomaly: true, value: 20 }] }] },
 *             [{ metric: 'load', tags: {} }], ['…T10:00:00.000Z'], 2)
 *   → { starts: ['…T10:00:00.000Z'], columns: [[8], [14], [20]], series: [load expected low, … high, load anomaly],
 *       bands: [{ series: [3, 2], fill }], anomalies: 1, learning: 0 }
 */
export function bandLayer(band, seriesList, starts, firstIndex) {
  if (!band) return null;
  const byTags = new Map(band.series.map((s) => [JSON.stringify(s.tags), s]));
  const charted = seriesList.map((c) => ({ c, s: byTags.get(JSON.stringify(c.tags)) })).filter(({ s }) => s && s.state === 'READY');
  const merged = [...new Set([...starts, ...charted.flatMap(({ s }) => s.points.map((p) => p.start))])].sort();
  const columns = [];
  const series = [];
  const bands = [];
  let anomalies = 0;
  for (const { c, s } of charted) {
    const at = new Map(s.points.map((p) => [p.start, p]));
    const column = (pick) => merged.map((t) => (at.has(t) ? pick(at.get(t)) : null));
    const name = Object.values(s.tags).join(',') || c.metric;
    const lowerIndex = firstIndex + columns.length;
    columns.push(column((p) => p.lower), column((p) => p.upper), column((p) => (p.anomaly ? p.value : null)));
    series.push(
      { label: `${name} expected low`, stroke: BAND_EDGE, width: 1, dash: [2, 3], spanGaps: true },
      { label: `${name} expected high`, stroke: BAND_EDGE, width: 1, dash: [2, 3], spanGaps: true },
      { label: `${name} anomaly`, stroke: ANOMALY_COLOUR, width: 0, paths: () => null, points: { show: true, size: 10, fill: ANOMALY_COLOUR, stroke: ANOMALY_COLOUR } },
    );
    bands.push({ series: [lowerIndex + 1, lowerIndex], fill: BAND_FILL });
    anomalies += s.points.filter((p) => p.anomaly).length;
  }
  return { starts: merged, columns, series, bands, anomalies, learning: band.series.filter((s) => s.state === 'LEARNING').length };
}
