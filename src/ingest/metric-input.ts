import { z } from 'zod';
import { METRIC_TYPES, type Tags } from '../db/tables.js';

/** How far ahead of the server's clock a point may be stamped. */
export const MAX_FUTURE_MS = 10 * 60 * 1000;
/** The earliest timestamp accepted: points before the Unix epoch are almost always a unit bug. */
export const MIN_TIMESTAMP = new Date('1970-01-01T00:00:00Z');

export const METRIC_NAME_PATTERN = /^[a-zA-Z][a-zA-Z0-9._-]*$/;
export const metricName = z
  .string()
  .min(1, 'name must not be empty')
  .max(255, 'name must be at most 255 characters')
  .regex(METRIC_NAME_PATTERN, 'name must start with a letter and contain only letters, digits, ".", "_" and "-"');

const FORBIDDEN_TAG_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
export const MAX_TAGS = 20;
export const MAX_TAG_KEY = 50;
export const MAX_TAG_VALUE = 100;

/**
 * A flat object of string to string. Checked key by key before anything copies it, so a
 * `__proto__` key is rejected instead of reaching a prototype. The result is sorted by key:
 * the same tags always give the same series.
 */
export const tagsSchema = z.unknown().transform((raw, ctx): Tags => {
  const fail = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return fail('tags must be an object of string values');
  const keys = Object.keys(raw);
  if (keys.length > MAX_TAGS) return fail(`tags may have at most ${MAX_TAGS} keys; got ${keys.length}`);
  const tags: Tags = Object.create(null);
  for (const key of keys.sort()) {
    if (FORBIDDEN_TAG_KEYS.has(key)) return fail(`tag key "${key}" is not allowed`);
    if (key.length === 0 || key.length > MAX_TAG_KEY) return fail(`tag keys must be 1-${MAX_TAG_KEY} characters; "${key.slice(0, 60)}" is not`);
    const value = (raw as Record<string, unknown>)[key];
    if (typeof value !== 'string') return fail(`tag "${key}" must be a string; got ${value === null ? 'null' : typeof value}`);
    if (value.length > MAX_TAG_VALUE) return fail(`tag "${key}" is longer than ${MAX_TAG_VALUE} characters`);
    tags[key] = value;
  }
  return { ...tags };
});

export const metricType = z.enum(METRIC_TYPES);

/** One point as a client sends it (`MetricInput`), validated and normalised. */
export const metricInputSchema = z
  .object({
    name: metricName,
    value: z.number().refine(Number.isFinite, 'value must be a finite number'),
    type: metricType,
    tags: tagsSchema.optional().nullable(),
    timestamp: z.date().optional().nullable(),
    unit: z.string().min(1).max(50, 'unit must be at most 50 characters').optional().nullable(),
    id: z.string().uuid('id must be a UUID').optional().nullable(),
  })
  .superRefine((input, ctx) => {
    if (input.type === 'COUNTER' && input.value < 0) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: 'a COUNTER value is an increment and must be >= 0' });
    }
    const time = input.timestamp?.getTime();
    if (time !== undefined && !Number.isNaN(time)) {
      if (time > Date.now() + MAX_FUTURE_MS) ctx.addIssue({ code: 'custom', path: ['timestamp'], message: 'timestamp is more than 10 minutes in the future' });
      if (time < MIN_TIMESTAMP.getTime()) ctx.addIssue({ code: 'custom', path: ['timestamp'], message: 'timestamp is before 1970-01-01' });
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
