/**
 * Calendar periods (days, weeks from Monday, months) in an IANA time zone, as UTC instants.
 * Node's ICU knows every zone's offsets and daylight-saving rules, so a day in Europe/Warsaw
 * is 23 or 25 hours long when the clocks change, and a zone whose midnight is skipped starts
 * its day at the first instant that exists.
 */
import { LRUCache } from 'lru-cache';
import { DAY } from '../query/plan.js';

export type CalendarPeriod = 'DAY' | 'WEEK' | 'MONTH';

/**
 * Formatters by canonical zone name (Intl accepts thousands of spellings of one zone, each
 * a formatter of its own if the spelling were the key), and spellings to canonical names;
 * both bounded, the least recently used going first.
 */
const formatters = new LRUCache<string, Intl.DateTimeFormat>({ max: 600 });
const canonical = new LRUCache<string, string>({ max: 2_000 });

/** How many formatters and spellings are cached now (test/calendar-cache.test.ts holds them to their bounds). */
export function cachedZones(): { formatters: number; spellings: number } {
  return { formatters: formatters.size, spellings: canonical.size };
}

function formatter(timeZone: string): Intl.DateTimeFormat {
  const name = canonical.get(timeZone) ?? new Intl.DateTimeFormat('en-US', { timeZone }).resolvedOptions().timeZone;
  canonical.set(timeZone, name);
  let f = formatters.get(name);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: name, year: 'numeric', month: 'numeric', day: 'numeric', hourCycle: 'h23' });
    formatters.set(name, f);
  }
  return f;
}

/** Whether `timeZone` is an IANA zone name this runtime knows (e.g. `Europe/Warsaw`, `UTC`). */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** A local calendar date as a comparable number of days (the UTC day number of that date). */
type LocalDate = number;

function localDate(timeZone: string, instant: number): LocalDate {
  if (timeZone === 'UTC') return Math.floor(instant / DAY);
  const parts = formatter(timeZone).formatToParts(new Date(instant));
  const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return Math.floor(Date.UTC(get('year'), get('month') - 1, get('day')) / DAY);
}

/**
 * The first instant (ms) of local `date` in `timeZone`. Local date never decreases as time
 * goes on, so a binary search over the ±30 hours around the UTC midnight finds it, to the second.
 */
export function startOfLocalDate(timeZone: string, date: LocalDate): number {
  const utcMidnight = date * DAY;
  if (timeZone === 'UTC') return utcMidnight;
  let low = (utcMidnight - 30 * 3_600_000) / 1000;
  let high = (utcMidnight + 30 * 3_600_000) / 1000;
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if (localDate(timeZone, mid * 1000) >= date) high = mid;
    else low = mid + 1;
  }
  return low * 1000;
}

/** The local date that starts the period holding local `date`. */
function periodDate(period: CalendarPeriod, date: LocalDate): LocalDate {
  if (period === 'DAY') return date;
  const d = new Date(date * DAY);
  if (period === 'WEEK') return date - ((d.getUTCDay() + 6) % 7); // Monday
  return Math.floor(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / DAY);
}

function nextPeriodDate(period: CalendarPeriod, date: LocalDate): LocalDate {
  if (period === 'DAY') return date + 1;
  if (period === 'WEEK') return date + 7;
  const d = new Date(date * DAY);
  return Math.floor(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) / DAY);
}

function previousPeriodDate(period: CalendarPeriod, date: LocalDate): LocalDate {
  if (period === 'DAY') return date - 1;
  if (period === 'WEEK') return date - 7;
  const d = new Date(date * DAY);
  return Math.floor(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1) / DAY);
}

/**
 * The bounds (ms) of the whole periods covering [from, to), preceded by the one before them
 * (`withPrevious`, for growth): n periods give n + 1 bounds (n + 2 with the previous one).
 * Throws RangeError past `maxPeriods`.
 *
 * @example
 * periodBounds('WEEK', Date.parse('2026-03-04T00:00:00Z'), Date.parse('2026-03-10T00:00:00Z'), 'UTC', { withPrevious: false })
 * // [Mon 2026-03-02, Mon 2026-03-09, Mon 2026-03-16] as ms: two weeks
 */
export function periodBounds(period: CalendarPeriod, from: number, to: number, timeZone: string, options: { withPrevious: boolean; maxPeriods: number }): number[] {
  let date = periodDate(period, localDate(timeZone, from));
  if (options.withPrevious) date = previousPeriodDate(period, date);
  const bounds = [startOfLocalDate(timeZone, date)];
  while (bounds.at(-1)! < to) {
    date = nextPeriodDate(period, date);
    bounds.push(startOfLocalDate(timeZone, date));
    if (bounds.length - 1 > options.maxPeriods + (options.withPrevious ? 1 : 0)) throw new RangeError(`more than ${options.maxPeriods} periods`);
  }
  return bounds;
}

/** UTC period start holding `instant`, and the following start: what rollups are keyed by. */
export function utcPeriod(period: CalendarPeriod, instant: number): { start: number; end: number } {
  const date = periodDate(period, Math.floor(instant / DAY));
  return { start: date * DAY, end: nextPeriodDate(period, date) * DAY };
}

/** The sub-periods a definition's report summarises: hours of a day, days of a week or month. */
export function subBounds(period: CalendarPeriod, bounds: number[], timeZone: string): number[] {
  const out: number[] = [bounds[0]!];
  for (let i = 1; i < bounds.length; i++) {
    const end = bounds[i]!;
    if (period === 'DAY') {
      // Hours, as the clock shows them: a 25-hour day has 25.
      for (let t = out.at(-1)! + 3_600_000; t < end; t += 3_600_000) out.push(t);
    } else {
      let date = localDate(timeZone, out.at(-1)!);
      for (let t = startOfLocalDate(timeZone, ++date); t < end; t = startOfLocalDate(timeZone, ++date)) out.push(t);
    }
    out.push(end);
  }
  return out;
}
