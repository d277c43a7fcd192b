-- Records finished attempts in batches (every 2 ms or 500 jobs), fenced by lease owner and
-- attempt: one statement (`engine_finish`) updates the jobs and writes their attempt rows.
SELECT id AS "id!"
  FROM engine_finish($1, $2::bigint[], $3::int[], $4::text[], $5::timestamptz[], $6::text[], $7::jsonb[], $8::text[]) AS id
