-- One bounded batch of retention: up to 5000 finished jobs older than the retention, with their
-- attempts, and up to 5000 events handled before it (their detections go with them). Finished
-- rows are never claimed, so a batch does not hold up claims; the caller repeats it while
-- batches come back full.
WITH old AS (
    -- Oldest first along the primary key: old jobs are finished ones, and no index on
    -- `finished_at` has to be written for every job.
    SELECT id FROM engine_jobs
     WHERE state IN ('completed', 'failed', 'cancelled', 'discarded')
       AND finished_at < now() - make_interval(secs => $1)
     ORDER BY id
     LIMIT 5000),
old_events AS (
    SELECT id FROM engine_events
     WHERE state <> 'pending' AND received_at < now() - make_interval(secs => $1)
     ORDER BY received_at
     LIMIT 5000),
runs AS (
    DELETE FROM engine_schedule_runs WHERE created_at < now() - make_interval(secs => $1)),
keys AS (
    DELETE FROM engine_idempotency WHERE created_at < now() - interval '24 hours'),
attempts AS (
    DELETE FROM engine_job_attempts a USING old WHERE a.job_id = old.id),
jobs AS (
    DELETE FROM engine_jobs j USING old WHERE j.id = old.id RETURNING 1),
events AS (
    DELETE FROM engine_events e USING old_events WHERE e.id = old_events.id RETURNING 1)
SELECT (SELECT count(*) FROM jobs) AS "jobs!", (SELECT count(*) FROM events) AS "events!"
