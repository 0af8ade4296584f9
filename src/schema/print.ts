/** `npm run schema`: prints the Pothos schema to schema.graphql (a test fails when it is stale). */
import { writeFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { schema } from './index.js';

export const SCHEMA_FILE = new URL('../../schema.graphql', import.meta.url);
export const printedSchema = () => printSchema(schema) + '\n';

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  writeFileSync(SCHEMA_FILE, printedSchema());
  console.log(`wrote ${SCHEMA_FILE.pathname}`);
}
