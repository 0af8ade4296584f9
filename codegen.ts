/**
 * `npm run codegen`: typed documents for the operations the tests send.
 *
 * Reads the committed schema.graphql (printed from the Pothos schema by `npm run schema`)
 * and every `graphql(...)` call in test/, and writes test/gql/ (committed). Tests import
 * `graphql` from './gql/index.js', so a field that is renamed or removed in the schema fails
 * the typecheck of the test that asks for it.
 */
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['test/**/*.ts', '!test/gql/**'],
  ignoreNoDocuments: false,
  generates: {
    'test/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        // Our tsconfig is NodeNext with verbatimModuleSyntax: `.js` specifiers and type-only imports.
        emitLegacyCommonJSImports: false,
        useTypeImports: true,
        enumType: 'string-literal',
        // Scalars as they travel in JSON. Tags are checked by the server, so a test may send anything.
        scalars: {
          DateTime: 'string',
          Tags: { input: 'unknown', output: 'Record<string, string>' },
        },
        strictScalars: true,
      },
    },
  },
};

export default config;
