/**
 * What the recorder stores (RecordItem) and the key of a tag set: shared by the recorder
 * (record-points.ts), the protocols' cumulative state (cumulative.ts) and live delivery.
 */
import type { Tags } from '../db/tables.js';
import type { MetricInput } from './metric-input.js';

/**
 * An item to store: a validated MetricInput, optionally one row of a distribution (an OTLP
 * histogram's bucket): `weight` observations at `value`, and on one row of the distribution its
 * exact sum (as `sumAdjust`), min and max. See migrations/0050_distribution_points.sql.
 */
export type RecordItem = MetricInput & {
  weight?: number | null;
  sumAdjust?: number | null;
  minValue?: number | null;
  maxValue?: number | null;
};

const tagsKeys = new WeakMap<Tags, string>();

/**
 * Sorted-key JSON: one string per distinct tag set. Remembered per Tags object (validated tags
 * are never changed): the points of a protocol request share theirs (src/ingest/otlp-decode.ts).
 */
export function tagsKey(tags: Tags): string {
  const known = tagsKeys.get(tags);
  if (known !== undefined) return known;
  // Validated tags come sorted already; the replacer (slower) is for rows read back from jsonb.
  const keys = Object.keys(tags);
  let key: string | undefined;
  for (let i = 1; i < keys.length && key === undefined; i++) if (keys[i - 1]! > keys[i]!) key = JSON.stringify(tags, keys.sort());
  key ??= JSON.stringify(tags);
  tagsKeys.set(tags, key);
  return key;
}
