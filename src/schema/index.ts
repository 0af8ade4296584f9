import { lexicographicSortSchema } from 'graphql';
import { builder } from '../builder.js';
import './tenancy.js';
import './ingestion.js';
import './aggregation.js';
import './audit.js';
import './operations.js';
import './definitions.js';
import './reports.js';
import './live.js';
import './alerts.js';
import './anomalies.js';
import './exports.js';
import './usage.js';

/** The whole API. schema.graphql is printed from this (`npm run schema`). */
export const schema = lexicographicSortSchema(builder.toSchema());
