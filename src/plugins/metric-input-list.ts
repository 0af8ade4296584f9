/**
 * recordMetrics' items, a `[MetricInput!]` variable, read straight from the request's JSON into
 * validated MetricInputs: GraphQL's coercion of the variable and readMetricInput in one pass,
 * with one object per item instead of a coerced copy and then the read one (#13: a 500-item
 * batch's copies, alive while the batch waits on the database, were promoted and collected).
 *
 * It only ever accepts: for a list that GraphQL would coerce and whose every item
 * readMetricInput takes, it returns exactly `list.map((item) => readMetricInput(coerced item))`
 * (test/metric-input-list.test.ts holds it to graphql-js's coerceInputValue); for anything else
 * it returns undefined, and the variable goes through GraphQL's coercion and the resolver's
 * checks as before, which say what is wrong, with the same codes and messages.
 */
import { readMetricFields, type MetricInput } from '../ingest/metric-input.js';

/**
 * `raw` read as recordMetrics' items, or undefined when GraphQL or readMetricInput would refuse
 * any of it. `parseTime` is the DateTime scalar's parseValue (it throws on what it refuses).
 */
export function readMetricInputList(raw: unknown, parseTime: (value: unknown) => unknown): MetricInput[] | undefined {
  // A single object is a list of one to GraphQL; that case is left to it.
  if (!Array.isArray(raw)) return undefined;
  const items: MetricInput[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const item: unknown = raw[i];
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return undefined;
    let name: unknown, value: unknown, type: unknown, tags: unknown, timestamp: unknown, unit: unknown, id: unknown;
    // A field GraphQL does not know is an error of the whole request: GraphQL says so.
    for (const key in item) {
      const field = (item as Record<string, unknown>)[key];
      switch (key) {
        case 'name': name = field; break;
        case 'value': value = field; break;
        case 'type': type = field; break;
        case 'tags': tags = field; break;
        case 'timestamp': timestamp = field; break;
        case 'unit': unit = field; break;
        case 'id': id = field; break;
        default: return undefined;
      }
    }
    // GraphQL's scalars, where they differ from what readMetricFields checks: DateTime parses a
    // text into a Date (readMetricFields checks its range), Tags passes its value through. String,
    // Float and the MetricType enum accept only what readMetricFields accepts anyway, and an
    // integer ID (which GraphQL turns into a text) is no UUID, so readMetricFields refuses it.
    if (timestamp !== undefined && timestamp !== null) {
      try {
        timestamp = parseTime(timestamp);
      } catch {
        return undefined;
      }
    }
    const read = readMetricFields(name, value, type, tags, timestamp, unit, id);
    if (read === undefined) return undefined;
    items[i] = read;
  }
  return items;
}
