/**
 * Typos in a query's names, told as such: a misspelt metric gets the nearest name the caller
 * could have meant, an unknown groupBy key the keys the metrics do carry. Without these checks
 * `groupBy: ["rout"]` answered one untagged series, as if the key existed with no values.
 */
import { sql } from 'kysely';
import type { TenantTx } from '../db/tenant.js';
import { didYouMean } from '../definitions/parse-formula.js';
import { findDefinitions, scopeTo, type DefinitionReader } from '../definitions/store-definitions.js';
import { userError } from '../errors.js';

/**
 * The recorded metric or visible definition whose name is nearest `name` (a few edits away), or
 * undefined. Only names of about the same length are read, so a tenant with many metrics reads few.
 */
export async function suggestMetricName(trx: TenantTx, name: string, reader: DefinitionReader): Promise<string | undefined> {
  const [shortest, longest] = [Math.max(1, name.length - 3), name.length + 3];
  const recorded = await trx.selectFrom('metrics').select('name').where((eb) => eb.between(eb.fn<number>('length', ['name']), shortest, longest)).execute();
  // Row-level security shows the reader only the definitions they may see (PRIVATE ones are their creator's).
  const defs = await scopeTo(trx, reader);
  const defined = await defs.selectFrom('metric_definitions').select('name').where((eb) => eb.between(eb.fn<number>('length', ['name']), shortest, longest)).execute();
  return didYouMean(name, [...recorded, ...defined].map((r) => r.name).filter((n) => n !== name));
}

/**
 * Throws NOT_FOUND for the first of `names` that is neither recorded nor a definition the reader
 * sees, with the nearest name when there is one. For subscriptions, whose refusals a plugin
 * cannot amend after the fact (src/plugins/metric-suggestions.ts does it for queries).
 */
export async function requireKnownMetrics(trx: TenantTx, names: readonly string[], reader: DefinitionReader): Promise<void> {
  const recorded = new Set((await trx.selectFrom('metrics').select('name').where('name', 'in', [...names]).execute()).map((r) => r.name));
  const rest = names.filter((n) => !recorded.has(n));
  if (rest.length === 0) return;
  const defined = new Set((await findDefinitions(trx, rest, reader)).map((d) => d.name));
  const missing = rest.find((n) => !defined.has(n));
  if (missing === undefined) return;
  const suggestion = await suggestMetricName(trx, missing, reader);
  throw userError('NOT_FOUND', suggestion ? 'metric.notFoundAnywhereDidYouMean' : 'metric.notFoundAnywhere', { metric: missing, ...(suggestion ? { suggestion } : {}) }, {
    metric: missing,
    ...(suggestion ? { suggestion } : {}),
  });
}

/**
 * Throws BAD_USER_INPUT for a groupBy key that no series of these recorded metrics has ever
 * carried, naming the keys they do carry. Keys of metric definitions are not checked here
 * (a definition's keys are those every metric it reads has; `tagKeys` lists them).
 *
 * @example checkGroupBy(trx, ['http.requests'], ['rout'])
 * // BAD_USER_INPUT: groupBy key 'rout' is not a tag of http.requests; its tag keys are route, status (did you mean 'route'?)
 */
export async function checkGroupBy(trx: TenantTx, metrics: readonly string[], groupBy: readonly string[]): Promise<void> {
  if (groupBy.length === 0 || metrics.length === 0) return;
  const recorded = await trx.selectFrom('metrics').select('id').where('name', 'in', [...metrics]).execute();
  // A definition among them: its keys come from its formula's metrics; left to the query.
  if (recorded.length < new Set(metrics).size) return;
  const ids = recorded.map((r) => r.id);
  // One probe per key that stops at the first series carrying it (an index on series.metric_id narrows the scan).
  const { rows } = await sql<{ key: string }>`
    select k.key from unnest(${[...groupBy]}::text[]) as k(key)
    where not exists (select 1 from series s where s.metric_id = any(${ids}) and jsonb_exists(s.tags, k.key))`.execute(trx);
  const unknown = rows[0]?.key;
  if (unknown === undefined) return;
  const known = (
    await sql<{ key: string }>`select distinct jsonb_object_keys(s.tags) as key from series s where s.metric_id = any(${ids}) order by key limit 50`.execute(trx)
  ).rows.map((r) => r.key);
  const suggestion = didYouMean(unknown, known);
  const names = metrics.join(', ');
  const said = { key: unknown, metrics: names, known: known.join(', '), ...(suggestion ? { suggestion } : {}) };
  throw userError('BAD_USER_INPUT', known.length === 0 ? 'groupBy.notATagNoTags' : suggestion ? 'groupBy.notATagDidYouMean' : 'groupBy.notATag', said, {
    key: unknown,
    knownKeys: known,
    ...(suggestion ? { suggestion } : {}),
  });
}

/**
 * For metricRecorded, which may wait for a metric's first point: throws NOT_FOUND only for a
 * name not yet recorded that is a few edits from one that is (a typo, not a new metric).
 */
export async function refuseMisspeltMetrics(trx: TenantTx, names: readonly string[], reader: DefinitionReader): Promise<void> {
  const recorded = new Set((await trx.selectFrom('metrics').select('name').where('name', 'in', [...names]).execute()).map((r) => r.name));
  for (const name of names) {
    if (recorded.has(name)) continue;
    const suggestion = await suggestMetricName(trx, name, reader);
    if (suggestion) {
      throw userError('NOT_FOUND', 'metric.notRecordedDidYouMean', { metric: name, suggestion }, {
        metric: name,
        suggestion,
      });
    }
  }
}
