/**
 * #16 item 10: Intl accepts every spelling of a zone whatever its letters' case (6 000 of them
 * once grew the process by 159 MB, a formatter each). Formatters are cached by canonical zone
 * and spellings in a bounded cache: 6 000 spellings of three zones add at most three formatters
 * and never hold more than 2 000 spellings.
 */
import { expect, test } from 'vitest';
import { cachedZones, isTimeZone } from '../src/definitions/calendar.js';

const ZONES = ['America/Argentina/Buenos_Aires', 'Europe/Warsaw', 'Pacific/Auckland'];

/** `zone` with the case of its letters flipped where `mask` has a bit set (letter by letter). */
function spelling(zone: string, mask: number): string {
  let letter = 0;
  return [...zone].map((c) => (!/[a-z]/i.test(c) ? c : (mask >> letter++) & 1 ? (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) : c)).join('');
}

test('6 000 spellings of three zones: at most three more formatters, at most 2 000 spellings kept', () => {
  const spellings = Array.from({ length: 6_000 }, (_, i) => spelling(ZONES[i % 3]!, Math.floor(i / 3) + 1));
  expect(new Set(spellings).size).toBe(6_000);
  const before = cachedZones();
  for (const name of spellings) expect(isTimeZone(name)).toBe(true);
  const after = cachedZones();
  expect(after.formatters - before.formatters).toBeLessThanOrEqual(3);
  expect(after.formatters).toBeLessThanOrEqual(600);
  expect(after.spellings).toBe(2_000);
  expect(isTimeZone('Europe/Nowhere')).toBe(false);
});
