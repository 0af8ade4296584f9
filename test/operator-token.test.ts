/**
 * #16 item 10: the operator token is compared in constant time, as SHA-256 digests, so the
 * comparison never depends on the given token's length. Checked by what is compared (a
 * recording comparison in place of crypto.timingSafeEqual), not by measuring time.
 */
import { timingSafeEqual } from 'node:crypto';
import { expect, test } from 'vitest';
import { secretMatcher } from '../src/auth.js';

const OPERATOR = 'operator-token-0123456789abcdef';

test('every token, of any length, is compared as a 32-byte digest with timingSafeEqual', () => {
  const compared: Array<[number, number]> = [];
  const isOperator = secretMatcher(OPERATOR, (a, b) => {
    compared.push([a.length, b.length]);
    return timingSafeEqual(a, b);
  });
  const tokens = ['', 'o', OPERATOR.slice(0, -1), `${OPERATOR}x`, OPERATOR.toUpperCase(), 'x'.repeat(10_000), OPERATOR];
  expect(tokens.map(isOperator)).toEqual([false, false, false, false, false, false, true]);
  expect(compared).toEqual(tokens.map(() => [32, 32]));
});

test('the default comparison is crypto.timingSafeEqual: tokens of other lengths are refused, not thrown on', () => {
  const isOperator = secretMatcher(OPERATOR);
  expect([isOperator(OPERATOR), isOperator('short'), isOperator(`${OPERATOR}${OPERATOR}`)]).toEqual([true, false, false]);
});
