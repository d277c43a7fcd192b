-- Plain queues: one statement, no function call. Pauses are read inside the claim (J14).
WITH candidates AS (
    SELECT id FROM engine_jobs
     WHERE state = 'available' AND queue = $1 AND run_at <= now() AND NOT isolate
       AND NOT EXISTS (SELECT 1 FROM engine_queues q WHERE q.name = $1 AND q.paused_until > now())
     ORDER BY priority DESC, run_at, id
     LIMIT $2
       FOR UPDATE SKIP LOCKED),
claimed AS (
    UPDATE engine_jobs j
       SET state = 'running', attempt = j.attempt + 1, lease_owner = $3,
           lease_expires_at = now() + make_interval(secs => $4), started_at = clock_timestamp()
     -- By primary key: a join here becomes a hash join over the whole table once it is large.
     WHERE j.id = ANY (ARRAY(SELECT id FROM candidates))
    RETURNING j.id, j.queue, j.kind, j.args, j.attempt, j.max_attempts, j.correlation_id),
told AS (SELECT engine_notify_updates(array_agg(id)) FROM claimed),
counted AS (
    SELECT engine_count_moves(array_agg(queue), array_agg(kind),
                              array_fill('available'::text, ARRAY[count(*)::int]),
                              array_fill('running'::text, ARRAY[count(*)::int]))
      FROM claimed)
SELECT c.id AS "id!", c.kind AS "kind!", c.args AS "args!", c.attempt AS "attempt!",
       c.max_attempts AS "max_attempts!", c.correlation_id
  FROM claimed c, told, counted
