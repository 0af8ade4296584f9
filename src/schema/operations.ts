import { readStorageStats, type LevelStorage, type StorageRow } from '../ops/storage.js';
import { z } from 'zod';
import { audit, auditRow, contextActor } from '../audit.js';
import { builder } from '../builder.js';
import { ADMINS, requireTenant, tenantTx } from '../context.js';
import { userError } from '../errors.js';
import { metricName } from '../ingest/metric-input.js';
import { purgeMetrics, type PurgeResult } from '../ops/purge.js';
import { RETENTION_DEFAULTS, RETENTION_LIMITS, setTenantRetention, SOURCES, tenantRetention, type Source, type TenantRetention } from '../ops/retention.js';
import { zodMessage } from '../messages.js';
import { validated } from './validated.js';

/** GraphQL field names of each source's days. */
const FIELDS: Record<Source, 'rawDays' | 'minuteDays' | 'fiveMinuteDays' | 'hourDays' | 'dayDays'> = {
  raw: 'rawDays',
  '1m': 'minuteDays',
  '5m': 'fiveMinuteDays',
  '1h': 'hourDays',
  '1d': 'dayDays',
};
const LABELS: Record<Source, string> = { raw: 'raw points', '1m': '1 minute aggregates', '5m': '5 minute aggregates', '1h': '1 hour aggregates', '1d': '1 day aggregates' };
const describe = (source: Source) => {
  const [min, max] = RETENTION_LIMITS[source];
  return `Days ${LABELS[source]} are kept: ${min}-${max}, default ${RETENTION_DEFAULTS[source]}.`;
};

const RetentionRef = builder.objectRef<TenantRetention>('RetentionSettings').implement({
  description:
    'How long this tenant’s data is kept. Queries over data older than the raw retention are answered from the aggregates still kept (metadata.source names them, metadata.downsampled is true).',
  fields: (t) => ({
    rawDays: t.int({ description: describe('raw'), resolve: (r) => r.raw }),
    minuteDays: t.int({ description: describe('1m'), resolve: (r) => r['1m'] }),
    fiveMinuteDays: t.int({ description: describe('5m'), resolve: (r) => r['5m'] }),
    hourDays: t.int({ description: describe('1h'), resolve: (r) => r['1h'] }),
    dayDays: t.int({ description: describe('1d'), resolve: (r) => r['1d'] }),
    defaults: t.stringList({
      description: 'The fields that have the service’s default (not set for this tenant).',
      resolve: (r) => SOURCES.filter((s) => !r.custom.includes(s)).map((s) => FIELDS[s]),
    }),
    compressAfterHours: t.int({
      nullable: true,
      description: 'Raw chunks older than this are compressed (service-wide), aggregate chunks once older than this and than their level’s refresh window (1m 3 hours, 5m 6 hours, 1h 3 days, 1d 35 days); null without TimescaleDB or with compression off.',
      resolve: (_r, _args, ctx) => (ctx.deps.db.timescale && ctx.deps.env.COMPRESS_AFTER_HOURS > 0 ? ctx.deps.env.COMPRESS_AFTER_HOURS : null),
    }),
    updatedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.updatedAt }),
  }),
});

const SetRetentionInput = builder.inputType('SetRetentionInput', {
  description: 'Leave a field out to keep its value; set it to null to return it to the default.',
  fields: (t) => ({
    rawDays: t.int({ description: describe('raw') }),
    minuteDays: t.int({ description: describe('1m') }),
    fiveMinuteDays: t.int({ description: describe('5m') }),
    hourDays: t.int({ description: describe('1h') }),
    dayDays: t.int({ description: describe('1d') }),
  }),
});

const days = (source: Source) => {
  const [min, max] = RETENTION_LIMITS[source];
  return z
    .number()
    .int()
    .min(min, zodMessage('field.range', { field: FIELDS[source], min, max }))
    .max(max, zodMessage('field.range', { field: FIELDS[source], min, max }))
    .nullish();
};
const setRetentionInput = validated(z.object({ rawDays: days('raw'), minuteDays: days('1m'), fiveMinuteDays: days('5m'), hourDays: days('1h'), dayDays: days('1d') }));

const PurgeMetricsInput = builder.inputType('PurgeMetricsInput', {
  fields: (t) => ({
    metrics: t.stringList({ required: true, description: '1-100 metric names of this tenant.' }),
    olderThan: t.field({ type: 'DateTime', required: true, description: 'Points before this instant are removed.' }),
  }),
});

const purgeInput = validated(
  z.object({
    metrics: z.array(metricName).min(1, zodMessage('metrics.empty')).max(100, zodMessage('metrics.tooMany', { max: 100 })),
    olderThan: z.date(),
  }),
);

const PurgeMetricsPayload = builder.objectRef<PurgeResult>('PurgeMetricsPayload').implement({
  fields: (t) => ({
    deleted: t.exposeFloat('deleted', { description: 'Points removed.' }),
    metrics: t.exposeStringList('metrics'),
    olderThan: t.field({ type: 'DateTime', resolve: (p) => p.olderThan }),
  }),
});

const RawStorageRef = builder.objectRef<StorageRow>('RawStorage').implement({
  description: 'Raw points. Bytes are this tenant’s share of tables it shares with others, indexes included.',
  fields: (t) => ({
    rows: t.exposeFloat('rows'),
    bytes: t.exposeFloat('bytes', { description: 'On disk now.' }),
    compressedRows: t.exposeFloat('compressed_rows', { description: 'Rows in compressed chunks.' }),
    compressedBytes: t.exposeFloat('compressed_bytes', { description: 'What the compressed rows take.' }),
    uncompressedBytes: t.exposeFloat('uncompressed_bytes', { description: 'What all the rows would take uncompressed.' }),
    compressionRatio: t.float({
      nullable: true,
      description: 'Before ÷ after compression, over the compressed rows; null when none is compressed.',
      resolve: (r) => {
        if (Number(r.compressed_bytes) === 0) return null;
        const plainBytes = Number(r.bytes) - Number(r.compressed_bytes);
        return (Number(r.uncompressed_bytes) - plainBytes) / Number(r.compressed_bytes);
      },
    }),
  }),
});

const AggregateStorageRef = builder.objectRef<LevelStorage>('AggregateStorage').implement({
  description: 'One continuous aggregate level: its counts and sums (stats) and its percentile histograms (sketch) together, per series and per tag group.',
  fields: (t) => ({
    level: t.exposeString('level', { description: '1m, 5m, 1h or 1d.' }),
    rows: t.exposeFloat('rows'),
    bytes: t.exposeFloat('bytes', { description: 'On disk now.' }),
    compressedRows: t.exposeFloat('compressedRows', { description: 'Rows in compressed chunks (chunks older than the level’s compression age).' }),
    compressedBytes: t.exposeFloat('compressedBytes', { description: 'What the compressed rows take.' }),
    uncompressedBytes: t.exposeFloat('uncompressedBytes', { description: 'What all the rows would take uncompressed.' }),
  }),
});

const StorageStatsRef = builder.objectRef<{ raw: StorageRow; aggregates: LevelStorage[] }>('StorageStats').implement({
  fields: (t) => ({
    raw: t.field({ type: RawStorageRef, resolve: (s) => s.raw }),
    aggregates: t.field({ type: [AggregateStorageRef], description: 'Empty without TimescaleDB.', resolve: (s) => s.aggregates }),
    totalBytes: t.float({ resolve: (s) => Number(s.raw.bytes) + s.aggregates.reduce((n, a) => n + a.bytes, 0) }),
  }),
});

/** Storage statistics read every chunk's size; allow them longer than a query. */
const STATS_TIMEOUT_MS = 60_000;

builder.queryFields((t) => ({
  retention: t.field({
    type: RetentionRef,
    description: 'How long this tenant’s raw points and aggregates are kept. ADMIN only.',
    access: { roles: ADMINS },
    resolve: (_root, _args, ctx) => tenantTx(ctx, (trx) => tenantRetention(trx)),
  }),
  storageStats: t.field({
    type: StorageStatsRef,
    description: 'What this tenant’s data takes: raw points (compressed and not) and each aggregate level. ADMIN only.',
    access: { roles: ADMINS },
    resolve: (_root, _args, ctx) => tenantTx(ctx, readStorageStats, { timeoutMs: STATS_TIMEOUT_MS }),
  }),
}));

builder.mutationFields((t) => ({
  setRetention: t.field({
    type: RetentionRef,
    description: 'Changes how long this tenant’s data is kept. The retention job applies it on its next run (RETENTION_CRON, hourly). ADMIN only.',
    access: { roles: ADMINS },
    args: { input: t.arg({ type: SetRetentionInput, required: true, validate: setRetentionInput.validate }) },
    resolve: (_root, args, ctx) => {
      const principal = requireTenant(ctx);
      const input = setRetentionInput.of(args.input);
      // A field sent as null goes back to the default; one left out stays as it is (zod leaves it out too).
      const changes = Object.fromEntries(SOURCES.filter((s) => input[FIELDS[s]] !== undefined).map((s) => [s, input[FIELDS[s]] ?? null]));
      return tenantTx(ctx, async (trx) => {
        const { before, after } = await setTenantRetention(trx, principal.tenantId, changes);
        const pick = (r: TenantRetention) => Object.fromEntries(SOURCES.map((s) => [FIELDS[s], r[s]]));
        await audit(trx, auditRow(principal.tenantId, contextActor(ctx), { action: 'RETENTION_CHANGED', details: { before: pick(before), after: pick(after) } }));
        return after;
      });
    },
  }),
  purgeMetrics: t.field({
    type: PurgeMetricsPayload,
    description:
      'Removes this tenant’s points of `metrics` older than `olderThan`, and the aggregate buckets that held them; cannot be undone. ADMIN only; `confirm` must be true.',
    access: { roles: ADMINS },
    args: {
      input: t.arg({ type: PurgeMetricsInput, required: true, validate: purgeInput.validate }),
      confirm: t.arg.boolean({ required: true, description: 'Must be true: the points are gone for good.' }),
    },
    resolve: async (_root, args, ctx) => {
      const principal = requireTenant(ctx);
      const input = purgeInput.of(args.input);
      if (args.confirm !== true) throw userError('BAD_USER_INPUT', 'purge.confirm');
      return purgeMetrics(ctx.deps, principal, contextActor(ctx), input);
    },
  }),
}));
