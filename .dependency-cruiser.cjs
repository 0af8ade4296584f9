/**
 * The layering rules (`npm run lint`). Type-only imports count too: a cycle of types is still
 * two modules that cannot be understood apart.
 *
 * Layers, from the outside in:
 *   main.ts, deps.ts, server.ts    wiring and transports
 *   schema/, plugins/, http/, builder.ts, context.ts, observability/graphql.ts   GraphQL and HTTP
 *   everything else                domain: takes a transaction or Kysely, a principal, narrow deps
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'No import cycles in src/ (issue #14).',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'schema-is-a-leaf',
      severity: 'error',
      comment: 'Only the wiring imports the built schema: src/schema/ declares types and calls domain functions, nobody calls into it.',
      from: { path: '^src/', pathNot: ['^src/schema/', '^src/(server|main|deps)\\.ts$'] },
      to: { path: '^src/schema/' },
    },
    {
      name: 'domain-knows-no-graphql-context',
      severity: 'error',
      comment: 'Domain modules take what they need (a tenant transaction, a principal, narrow deps), never the GraphQL Context (src/context.ts).',
      from: {
        path: '^src/',
        pathNot: ['^src/schema/', '^src/plugins/', '^src/http/', '^src/observability/graphql\\.ts$', '^src/(server|main|deps|builder|context|export)\\.ts$'],
      },
      to: { path: '^src/context\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/dashboard/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
