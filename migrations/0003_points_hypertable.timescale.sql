-- TimescaleDB: points become a hypertable in one-day chunks. Our own (series_id, time desc)
-- index serves every read, so the default time index is not created.
select create_hypertable('points', by_range('time', interval '1 day'), create_default_indexes => false);
