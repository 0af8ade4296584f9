/**
 * The committed artefacts printed from code: schema.graphql (from the Pothos schema) and the
 * typed documents in test/gql/ (from schema.graphql and the tests' operations). Each test
 * fails when its file is stale and says which command brings it up to date.
 */
import { readFile } from 'node:fs/promises';
import { generate } from '@graphql-codegen/cli';
import { describe, expect, test } from 'vitest';
import config from '../codegen.js';
import { printedSchema, SCHEMA_FILE } from '../src/schema/print.js';

describe('printed artefacts', () => {
  test('schema.graphql is the schema the server runs (else: npm run schema)', async () => {
    const committed = await readFile(SCHEMA_FILE, 'utf8');
    expect(committed, 'schema.graphql is stale: run `npm run schema` and commit it').toBe(printedSchema());
  });

  test('test/gql/ is what codegen makes of schema.graphql and the tests (else: npm run codegen)', async () => {
    const root = new URL('../', import.meta.url);
    const outputs: Array<{ filename: string; content: string }> = await generate({ ...config, cwd: root.pathname, silent: true, errorsOnly: true }, false);
    expect(outputs.map((o) => o.filename).sort()).toEqual(['test/gql/gql.ts', 'test/gql/graphql.ts', 'test/gql/index.ts']);
    for (const output of outputs) {
      const committed = await readFile(new URL(output.filename, root), 'utf8');
      expect(committed, `${output.filename} is stale: run \`npm run codegen\` and commit it`).toBe(output.content);
    }
  }, 60_000);
});
