-- Records finished attempts in batches (every 2 ms or 500 jobs), fenced by lease owner and
-- attempt: one statement (`engine_finish`) updates the jobs and writes their attempt rows.
-- $9 lists the recorded jobs of queues with a per-key cap: their keys have room again, so the
-- queue's fetchers everywhere are woken (`engine_jobs`) instead of waiting for their next poll.
WITH recorded AS (
    SELECT id FROM engine_finish($1, $2::bigint[], $3::int[], $4::text[], $5::timestamptz[], $6::text[], $7::jsonb[], $8::text[]) AS id),
told AS (
    SELECT count(pg_notify('engine_jobs', queues.queue)) AS told
      FROM (SELECT DISTINCT j.queue FROM engine_jobs j
             WHERE j.id = ANY ($9::bigint[]) AND j.id IN (SELECT id FROM recorded)) AS queues)
SELECT r.id AS "id!" FROM recorded r, told
