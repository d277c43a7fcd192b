-- Expired leases back to the queue (their workers died or stalled); the attempt is spent and
-- the job is isolated. Only a death while the job ran alone is counted against it: at
-- `poison_after` such deaths it fails with that reason (J6).
WITH expired AS (
    SELECT id, lease_owner, started_at FROM engine_jobs
     WHERE state = 'running' AND lease_expires_at < now()
     ORDER BY lease_expires_at
     LIMIT 200
       FOR UPDATE SKIP LOCKED),
held AS (
    SELECT lease_owner, count(*) AS jobs FROM engine_jobs
     WHERE state = 'running' AND lease_owner IN (SELECT lease_owner FROM expired)
     GROUP BY lease_owner),
judged AS (
    SELECT e.id, h.jobs AS beside, h.jobs = 1 AS alone
      FROM expired e JOIN held h USING (lease_owner)),
reaped AS (
    UPDATE engine_jobs j
       SET crashes = j.crashes + CASE WHEN d.alone THEN 1 ELSE 0 END,
           isolate = true,
           state = CASE WHEN (d.alone AND j.crashes + 1 >= $1) OR j.attempt >= j.max_attempts
                        THEN 'failed' ELSE 'available' END,
           last_error = CASE
               WHEN d.alone AND j.crashes + 1 >= $1
                   THEN format('its worker died %s times while running it', j.crashes + 1)
               WHEN d.alone THEN 'its worker stopped heartbeating (crashed or stalled) while running it alone'
               ELSE format('its worker stopped heartbeating (crashed or stalled) while running it and %s other jobs', d.beside - 1) END,
           finished_at = CASE WHEN (d.alone AND j.crashes + 1 >= $1) OR j.attempt >= j.max_attempts
                              THEN now() END,
           run_at = now(), lease_owner = NULL, lease_expires_at = NULL
      FROM judged d
     WHERE j.id = d.id
    RETURNING j.id, j.attempt, j.queue, j.kind, j.state, j.last_error),
attempts AS (
    INSERT INTO engine_job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
    SELECT r.id, r.attempt, e.lease_owner, e.started_at, now(), 'lease_expired', r.last_error
      FROM reaped r JOIN expired e ON e.id = r.id)
SELECT id AS "id!", queue AS "queue!", kind AS "kind!", state AS "state!" FROM reaped
