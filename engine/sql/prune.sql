-- Deletes up to 5000 finished jobs older than the retention, with their attempts.
WITH old AS (
    -- Oldest first along the primary key: old jobs are finished ones, and no index on
    -- `finished_at` has to be written for every job.
    SELECT id FROM engine_jobs
     WHERE state IN ('completed', 'failed', 'cancelled', 'discarded')
       AND finished_at < now() - make_interval(secs => $1)
     ORDER BY id
     LIMIT 5000),
runs AS (
    DELETE FROM engine_schedule_runs WHERE created_at < now() - make_interval(secs => $1)),
keys AS (
    DELETE FROM engine_idempotency WHERE created_at < now() - interval '24 hours'),
attempts AS (
    DELETE FROM engine_job_attempts a USING old WHERE a.job_id = old.id)
DELETE FROM engine_jobs j USING old WHERE j.id = old.id
