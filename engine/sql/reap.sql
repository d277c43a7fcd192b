-- Expired leases back to the queue (their workers died or stalled); the job is isolated (it
-- runs next alone). The two rules agree (J6):
-- - a death beside other jobs is nobody's fault: it spends no attempt and counts no crash;
-- - a death while the job ran alone spends an attempt and counts one crash; at `poison_after`
--   crashes the job fails as a poison pill, and if its attempts run out first it fails saying
--   so, with its crashes counted in the reason.
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
    SELECT e.id, h.jobs AS beside, h.jobs = 1 AS alone,
           h.jobs = 1 AND j.crashes + 1 >= $1 AS poisoned,
           h.jobs = 1 AND j.attempt >= j.max_attempts AS spent
      FROM expired e JOIN held h USING (lease_owner) JOIN engine_jobs j ON j.id = e.id),
reaped AS (
    UPDATE engine_jobs j
       SET crashes = j.crashes + CASE WHEN d.alone THEN 1 ELSE 0 END,
           -- Not counted, yet attempt numbers only grow (they fence late completions).
           max_attempts = j.max_attempts + CASE WHEN d.alone THEN 0 ELSE 1 END,
           isolate = true,
           state = CASE WHEN d.poisoned OR d.spent THEN 'failed' ELSE 'available' END,
           last_error = CASE
               WHEN d.poisoned
                   THEN format('its worker died %s times while running it', j.crashes + 1)
               WHEN d.spent
                   THEN format('gave up after %s attempts: its worker died while running it alone (%s of %s deaths before it counts as a poison pill)',
                               j.attempt, j.crashes + 1, $1)
               WHEN d.alone THEN 'its worker stopped heartbeating (crashed or stalled) while running it alone'
               ELSE format('its worker stopped heartbeating (crashed or stalled) while running it and %s other jobs; the attempt is not counted and it runs next alone', d.beside - 1) END,
           finished_at = CASE WHEN d.poisoned OR d.spent THEN now() END,
           run_at = now(), lease_owner = NULL, lease_expires_at = NULL
      FROM judged d
     WHERE j.id = d.id
    RETURNING j.id, j.attempt, j.queue, j.kind, j.state, j.last_error),
counted AS (
    SELECT engine_count_moves(array_agg(queue), array_agg(kind),
                              array_fill('running'::text, ARRAY[count(*)::int]), array_agg(state))
      FROM reaped),
attempts AS (
    INSERT INTO engine_job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
    SELECT r.id, r.attempt, e.lease_owner, e.started_at, now(), 'lease_expired', r.last_error
      FROM reaped r JOIN expired e ON e.id = r.id)
SELECT id AS "id!", queue AS "queue!", kind AS "kind!", state AS "state!" FROM reaped, counted
