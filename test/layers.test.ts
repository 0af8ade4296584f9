/**
 * Shapes declared twice until their owners merge them (issue #14): the compiler holds them
 * equal (`npm run typecheck` covers test/), and this file fails to type-check if they drift.
 */
import { expect, test } from 'vitest';
import type { TagFilter as StoredTagFilter } from '../src/db/tables.js';
import type { TagFilter as QueryTagFilter } from '../src/query/aggregate.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const sameTagFilter: Equal<StoredTagFilter, QueryTagFilter> = true;

test('the stored tag filter is the query tag filter', () => {
  expect(sameTagFilter).toBe(true);
});
