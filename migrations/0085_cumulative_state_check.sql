-- Cumulative state (0060) is now written with a compare-and-set: the one-round-trip write of a
-- protocol request (src/ingest/record-points.ts) advances a series' state only from the state
-- it computed its increment against, without taking the tenant's advisory lock. When another
-- writer moved the state first, the statement updates fewer rows than it expected and this
-- function aborts the whole transaction (points, claim, audit row, state: none commit) with
-- serialization_failure, so the caller computes again from the state now stored.
create function cumulative_state_expect(actual bigint, expected bigint) returns void
language plpgsql as $$
begin
  if actual <> expected then
    raise exception 'cumulative state changed concurrently (% of % series as expected)', actual, expected
      using errcode = 'serialization_failure';
  end if;
end
$$;
