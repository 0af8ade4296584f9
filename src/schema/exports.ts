/**
 * exportUrl: a short-lived signed link to GET /export (src/export.ts) for a query, usable
 * without the Authorization header (a browser download, a spreadsheet's web import).
 */

import { audit, auditRow, contextActor } from '../audit.js';
import { builder } from '../builder.js';
import { requireTenant, tenantTx } from '../context.js';
import { exportOptions, signedExportPath } from '../export.js';
import { z } from 'zod';
import { AggregateQueryInput, aggregateInputShape } from './aggregation.js';
import { validated } from './validated.js';

const ExportFormatEnum = builder.enumType('ExportFormat', { values: { CSV: { value: 'csv' }, JSON: { value: 'json' } } });
const ExportLocaleEnum = builder.enumType('ExportLocale', {
  values: { EN: { value: 'en', description: 'CSV numbers as 1234.56, fields split by ,' }, PL: { value: 'pl', description: 'CSV numbers as 1 234,56, fields split by ;' } },
});

const ExportLinkRef = builder.objectRef<{ url: string; expiresAt: Date }>('ExportLink').implement({
  fields: (t) => ({
    url: t.exposeString('url', { description: 'The link: PUBLIC_URL (or the address the request came to) with the signed path; works without Authorization until expiresAt, for the same tenant and role.' }),
    expiresAt: t.field({ type: 'DateTime', resolve: (l) => l.expiresAt }),
  }),
});

/** format and locale as exportOptions reads them (GET /export's too): left out or null, its default. */
const exportArgs = validated(
  z.looseObject({
    format: z.preprocess((value) => value ?? undefined, exportOptions.shape.format),
    locale: z.preprocess((value) => value ?? undefined, exportOptions.shape.locale),
  }),
);

builder.queryFields((t) => ({
  exportUrl: t.field({
    type: ExportLinkRef,
    description: 'A signed link to download the answer of metricAggregates(input) as CSV or JSON (streamed, any size), valid for EXPORT_URL_TTL_SECONDS.',
    access: 'tenant',
    args: {
      input: t.arg({ type: AggregateQueryInput, required: true, validate: { schema: aggregateInputShape } }),
      format: t.arg({ type: ExportFormatEnum }),
      locale: t.arg({ type: ExportLocaleEnum }),
    },
    validate: exportArgs.validate,
    resolve: async (_root, args, ctx) => {
      const principal = requireTenant(ctx);
      const { format, locale } = exportArgs.of(args);
      const options = { format, locale };
      const now = Date.now();
      const path = signedExportPath(ctx.deps, principal, args.input, options, now);
      // Absolute, so it can be pasted anywhere; PUBLIC_URL may carry a path prefix (a proxy's).
      const url = `${(ctx.deps.env.PUBLIC_URL ?? ctx.origin ?? '').replace(/\/$/, '')}${path}`;
      await tenantTx(ctx, (trx) => audit(trx, auditRow(principal.tenantId, contextActor(ctx), { action: 'EXPORT_URL_CREATED', details: { metrics: (args.input as { metrics: string[] }).metrics, ...options } })));
      return { url, expiresAt: new Date(Math.floor(now / 1000) * 1000 + ctx.deps.env.EXPORT_URL_TTL_SECONDS * 1000) };
    },
  }),
}));

