// ESLint (flat config): the recommended rules of ESLint and typescript-eslint, and the layering
// rules that can be said per file. Import cycles and "who may import src/schema/ and
// src/context.ts" are dependency-cruiser's (.dependency-cruiser.cjs); `npm run lint` runs both.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test/gql/', 'src/dashboard/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Tests and benchmarks take GraphQL answers and protocol messages apart as JSON.
    files: ['test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', 'no-empty-pattern': 'off' },
  },
  {
    // Schema files declare types and call domain functions: no SQL in src/schema/ (issue #14).
    files: ['src/schema/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'kysely', importNames: ['sql'], message: 'No SQL in src/schema/: put the statement in a domain module that takes the tenant transaction.' }] }],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name=/^(selectFrom|insertInto|updateTable|deleteFrom|with|replaceInto|mergeInto)$/]",
          message: 'No queries in src/schema/: put the statement in a domain module that takes the tenant transaction.',
        },
        {
          selector: "CallExpression[callee.name='requireTenant'][arguments.length>1]",
          message: "Roles are said once, in the field's `access` option (src/plugins/access.ts), which is checked before the resolver runs.",
        },
      ],
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
  },
  {
    // The NUL in UNSTORABLE is the point of the pattern (a value PostgreSQL cannot store).
    files: ['src/ingest/metric-input.ts'],
    rules: { 'no-control-regex': 'off' },
  },
);
