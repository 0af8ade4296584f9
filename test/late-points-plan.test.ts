/**
 * planBucketwise (src/query/invalidations.ts): for fixed-width buckets it plans the whole range
 * at once instead of bucket by bucket; the pieces must be the same as the bucket-by-bucket plan
 * (which calendar buckets still use), for every granularity, on and off TimescaleDB.
 */
import { describe, expect, it } from 'vitest';
import { GRANULARITIES, MINUTE } from '../src/query/plan.js';
import { fixedBuckets } from '../src/query/read-buckets.js';
import { planBucketwise } from '../src/query/invalidations.js';

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number) {
  let x = seed;
  return () => ((x = (x * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
}

describe('planBucketwise', () => {
  for (const [name, width] of Object.entries(GRANULARITIES)) {
    it(`${name}: planning the whole range gives the bucket-by-bucket pieces`, () => {
      const next = random(width);
      for (let run = 0; run < 200; run++) {
        const base = Date.UTC(2026, 0, 1) + Math.floor(next() * 400) * 7 * MINUTE + Math.floor(next() * 60_000);
        const from = new Date(base);
        const to = new Date(base + Math.floor(next() * 200 * width) + 1_000);
        const buckets = fixedBuckets(from, to, width);
        const { widthMs: _fixed, ...listed } = buckets;
        // A sub-range such as avoidDirty replans: anywhere around [from, to), at minute or ms precision.
        const a = new Date(from.getTime() - width + Math.floor(next() * (to.getTime() - from.getTime() + 2 * width)));
        const b = new Date(a.getTime() + Math.floor(next() * (to.getTime() - from.getTime() + width)));
        for (const timescale of [true, false]) {
          expect(planBucketwise(buckets, a, b, timescale)).toEqual(planBucketwise(listed, a, b, timescale));
        }
      }
    });
  }
});
