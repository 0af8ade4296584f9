import { z } from 'zod';
import { METRIC_TYPES, type Tags } from '../db/tables.js';
import { inEnglish, zodMessage, type MessageId, type Params } from '../messages.js';

/** How far ahead of the server's clock a point may be stamped. */
export const MAX_FUTURE_MS = 10 * 60 * 1000;
/** The earliest timestamp accepted: points before the Unix epoch are almost always a unit bug. */
export const MIN_TIMESTAMP = new Date('1970-01-01T00:00:00Z');

export const METRIC_NAME_PATTERN = /^[a-zA-Z][a-zA-Z0-9._-]*$/;
export const metricName = z
  .string()
  .min(1, zodMessage('field.empty', { field: 'name' }))
  .max(255, zodMessage('field.tooLong', { field: 'name', max: 255 }))
  .regex(METRIC_NAME_PATTERN, zodMessage('metricName.pattern'));

const FORBIDDEN_TAG_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** NUL and lone UTF-16 surrogates: PostgreSQL text cannot hold them. */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
export const storable = (text: string) => !UNSTORABLE.test(text);
export const MAX_TAGS = 20;
export const MAX_TAG_KEY = 50;
export const MAX_TAG_VALUE = 100;

/** Why a value is not acceptable tags (a class: a tag may well be named `error`). */
class TagsError {
  constructor(readonly id: MessageId, readonly params: Params = {}) {}
}

/**
 * A flat object of string to string, or why `raw` is not one. Checked key by key before
 * anything copies it, so a `__proto__` key is rejected instead of reaching a prototype. The
 * result is sorted by key: the same tags always give the same series.
 */
function readTags(raw: unknown): Tags | TagsError {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return new TagsError('tags.notObject');
  const keys = Object.keys(raw);
  if (keys.length > MAX_TAGS) return new TagsError('tags.tooMany', { max: MAX_TAGS, got: keys.length });
  const tags: Tags = Object.create(null);
  for (const key of keys.sort()) {
    if (FORBIDDEN_TAG_KEYS.has(key)) return new TagsError('tags.keyForbidden', { key });
    if (key.length === 0 || key.length > MAX_TAG_KEY) return new TagsError('tags.keyLength', { max: MAX_TAG_KEY, key: key.slice(0, 60) });
    if (!storable(key)) return new TagsError('tags.keyUnstorable');
    const value = (raw as Record<string, unknown>)[key];
    if (typeof value !== 'string') return new TagsError('tags.valueNotString', { key, type: value === null ? 'null' : typeof value });
    if (value.length > MAX_TAG_VALUE) return new TagsError('tags.valueTooLong', { key, max: MAX_TAG_VALUE });
    if (!storable(value)) return new TagsError('tags.valueUnstorable', { key });
    tags[key] = value;
  }
  return { ...tags };
}

/** `raw` as tags (sorted, checked as `tagsSchema` checks them), or why it is not acceptable. */
export function checkTags(raw: unknown): Tags | { error: string } {
  const tags = readTags(raw);
  return tags instanceof TagsError ? { error: inEnglish(tags.id, tags.params) } : tags;
}

/**
 * Valid Tags by signature (a raw object's keys and values in order, each prefixed by its length:
 * tagSignature), kept across requests. A client sends the same tag sets request after request;
 * with one Tags object per set, every cache keyed by the object (tagsKey, cumulative.ts's series
 * keys) answers without building its key again: a key JSON and a SHA-1 per series and request
 * before (#13). Tags are never changed once validated, so one object can serve every request.
 * Bounded: long signatures are not kept, and the map starts afresh when full.
 */
const knownTags = new Map<string, Tags>();
const KNOWN_TAGS = 4096;
const KNOWN_SIGNATURE = 1024;

/** One key and value of a signature (see knownTags): their texts, each after its length. */
export const tagSignature = (key: string, value: string) => `${key.length}:${key}${value.length}:${value}`;

function rememberTags(signature: string, tags: Tags): void {
  if (signature.length > KNOWN_SIGNATURE) return;
  if (knownTags.size >= KNOWN_TAGS) knownTags.clear();
  knownTags.set(signature, tags);
}

/**
 * checkTags of the object `raw()` builds, whose own keys and string values, in order, make
 * `signature` (tagSignature, concatenated): the same Tags object for the same signature, in
 * this request and the next (see knownTags); raw is only built for a signature not seen.
 */
export function checkTagsBySignature(signature: string, raw: () => Record<string, string>): Tags | { error: string } {
  const known = knownTags.get(signature);
  if (known) return known;
  const tags = readTags(raw());
  if (tags instanceof TagsError) return { error: inEnglish(tags.id, tags.params) };
  rememberTags(signature, tags);
  return tags;
}

/**
 * Valid Tags by a JSON object's own keys and string values, in order: a trie with a level per
 * key and then per value, kept across requests like knownTags, for the items of recordMetrics.
 * Finding an object walks its keys and values and builds nothing: its signature (knownTags),
 * one text per item, cost more than a third of reading the item (0.57 against 0.15 µs a
 * point for 4 tags, in-process A/B, #13). Equal tag sets get one Tags object as long as the
 * trie is not started afresh, which happens when it holds RAW_TAGS_NODES nodes.
 */
interface RawTagsNode {
  next: Map<string, RawTagsNode> | undefined;
  tags: Tags | undefined;
}
const RAW_TAGS_NODES = 32_768;
let rawTagsRoot: RawTagsNode = { next: undefined, tags: undefined };
let rawTagsNodes = 0;

/** The Tags readTags made of an object with the same own keys and string values in the same order, if known. */
function knownRawTags(raw: object): Tags | undefined {
  let node: RawTagsNode | undefined = rawTagsRoot;
  for (const key in raw) {
    if (!Object.hasOwn(raw, key)) continue;
    const value = (raw as Record<string, unknown>)[key];
    if (typeof value !== 'string') return undefined;
    node = node.next?.get(key)?.next?.get(value);
    if (node === undefined) return undefined;
  }
  return node.tags;
}

const rawTagsChild = (node: RawTagsNode, text: string): RawTagsNode => {
  node.next ??= new Map();
  let child = node.next.get(text);
  if (!child) {
    node.next.set(text, (child = { next: undefined, tags: undefined }));
    rawTagsNodes++;
  }
  return child;
};

/** Remembers `tags`, readTags' result for `raw` (so its values are strings, at most MAX_TAGS of them). */
function rememberRawTags(raw: object, tags: Tags): void {
  if (rawTagsNodes + 2 * MAX_TAGS > RAW_TAGS_NODES) {
    rawTagsRoot = { next: undefined, tags: undefined };
    rawTagsNodes = 0;
  }
  let node = rawTagsRoot;
  for (const key in raw) {
    if (!Object.hasOwn(raw, key)) continue;
    node = rawTagsChild(rawTagsChild(node, key), (raw as Record<string, string>)[key]!);
  }
  node.tags = tags;
}

export const tagsSchema = z.unknown().transform((raw, ctx): Tags => {
  const tags = readTags(raw);
  if (tags instanceof TagsError) {
    ctx.addIssue({ code: 'custom', message: zodMessage(tags.id, tags.params) });
    return z.NEVER;
  }
  return tags;
});

export const metricType = z.enum(METRIC_TYPES);
const METRIC_TYPE_SET: ReadonlySet<unknown> = new Set(METRIC_TYPES);
const clientId = z.string().uuid(zodMessage('field.uuid', { field: 'id' }));

/** One point as a client sends it (`MetricInput`), validated and normalised. */
export const metricInputSchema = z
  .object({
    name: metricName,
    value: z.number().refine(Number.isFinite, zodMessage('field.notFinite', { field: 'value' })),
    type: metricType,
    tags: tagsSchema.optional().nullable(),
    timestamp: z.date().optional().nullable(),
    unit: z.string().min(1).max(50, zodMessage('field.tooLong', { field: 'unit', max: 50 })).refine(storable, zodMessage('point.unitUnstorable')).optional().nullable(),
    id: clientId.optional().nullable(),
  })
  .superRefine((input, ctx) => {
    if (input.type === 'COUNTER' && input.value < 0) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: zodMessage('point.counterNegative') });
    }
    const time = input.timestamp?.getTime();
    if (time !== undefined && !Number.isNaN(time)) {
      if (time > Date.now() + MAX_FUTURE_MS) ctx.addIssue({ code: 'custom', path: ['timestamp'], message: zodMessage('point.future') });
      if (time < MIN_TIMESTAMP.getTime()) ctx.addIssue({ code: 'custom', path: ['timestamp'], message: zodMessage('point.beforeEpoch') });
    }
  })
  .transform((input) => ({
    name: input.name,
    value: input.value,
    type: input.type,
    tags: input.tags ?? {},
    timestamp: input.timestamp ?? null,
    unit: input.unit ?? null,
    id: input.id?.toLowerCase() ?? null,
  }));

export type MetricInput = z.infer<typeof metricInputSchema>;

/**
 * `metricInputSchema.safeParse(raw)` for an item that passes, at a fraction of its cost (a
 * batch reads 500 of them); undefined when anything is off, and the caller then asks the
 * schema, which says what. Accepts exactly what the schema accepts and returns the same value.
 *
 * Items whose raw tags have the same keys and values in the same order get one validated Tags
 * object, checked once (and its series found once, record-points.ts): knownRawTags.
 */
export function readMetricInput(raw: unknown): MetricInput | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const { name, value, type, tags, timestamp, unit, id } = raw as Record<string, unknown>;
  return readMetricFields(name, value, type, tags, timestamp, unit, id);
}

/** readMetricInput of an item given field by field (a reader that has them in hand builds no object for it). */
export function readMetricFields(name: unknown, value: unknown, type: unknown, tags: unknown, timestamp: unknown, unit: unknown, id: unknown): MetricInput | undefined {
  if (typeof name !== 'string' || name.length === 0 || name.length > 255 || !METRIC_NAME_PATTERN.test(name)) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  if (!METRIC_TYPE_SET.has(type)) return undefined;
  if (type === 'COUNTER' && value < 0) return undefined;
  let readTagsResult: Tags = {};
  if (tags !== undefined && tags !== null) {
    const known = typeof tags === 'object' && !Array.isArray(tags) ? knownRawTags(tags) : undefined;
    if (known) readTagsResult = known;
    else {
      const read = readTags(tags);
      if (read instanceof TagsError) return undefined;
      readTagsResult = read;
      rememberRawTags(tags as object, read);
    }
  }
  if (timestamp !== undefined && timestamp !== null) {
    if (!(timestamp instanceof Date)) return undefined;
    const time = timestamp.getTime();
    if (Number.isNaN(time) || time > Date.now() + MAX_FUTURE_MS || time < MIN_TIMESTAMP.getTime()) return undefined;
  }
  if (unit !== undefined && unit !== null && (typeof unit !== 'string' || unit.length === 0 || unit.length > 50 || !storable(unit))) return undefined;
  if (id !== undefined && id !== null && !clientId.safeParse(id).success) return undefined;
  return {
    name,
    value,
    type: type as MetricInput['type'],
    tags: readTagsResult,
    timestamp: (timestamp as Date | null | undefined) ?? null,
    unit: (unit as string | null | undefined) ?? null,
    id: (id as string | null | undefined)?.toLowerCase() ?? null,
  };
}

/**
 * Lists of items read ahead of GraphQL (src/plugins/metric-input-list.ts), by the request's
 * context: the resolver is handed the list itself (src/plugins/zod-once.ts leaves an argument
 * nothing validates as GraphQL gave it), or, should a plugin copy arguments, a copy of it.
 */
const readAhead = new WeakMap<object, MetricInput[][]>();

/** Keeps `items`, readMetricInput's results, for the request whose context is `context` (see readAheadOf). */
export function markRead(context: object, items: MetricInput[]): void {
  const lists = readAhead.get(context);
  if (lists) lists.push(items);
  else readAhead.set(context, [items]);
}

const sameItem = (copy: unknown, read: MetricInput) => {
  if (copy === read) return true;
  if (copy === null || typeof copy !== 'object') return false;
  const c = copy as Record<string, unknown>;
  return c.name === read.name && Object.is(c.value, read.value) && c.type === read.type && c.tags === read.tags && c.timestamp === read.timestamp && c.unit === read.unit && c.id === read.id;
};

/**
 * The items read ahead for this request that `list` holds (the same values, field by field,
 * tags and timestamp the very objects): then `list` is readMetricInput's result item by item.
 * Null when no list read ahead matches (the resolver reads `list` itself).
 */
export function readAheadOf(context: object, list: readonly unknown[]): MetricInput[] | null {
  for (const items of readAhead.get(context) ?? []) {
    if (items === list) return items;
    if (items.length !== list.length) continue;
    let same = true;
    for (let i = 0; i < items.length && same; i++) same = sameItem(list[i], items[i]!);
    if (same) return items;
  }
  return null;
}
