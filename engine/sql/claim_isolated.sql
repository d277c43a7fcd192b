-- Claims one isolated job of the worker's queues (pauses and per-key caps apply).
WITH candidate AS (
    SELECT j.id FROM engine_jobs j
      LEFT JOIN engine_queues q ON q.name = j.queue
     WHERE j.state = 'available' AND j.isolate AND j.queue = ANY ($1) AND j.run_at <= now()
       AND (q.paused_until IS NULL OR q.paused_until <= now())
       AND engine_key_admits(j.concurrency_key, q.per_key_limit)
     ORDER BY j.priority DESC, j.run_at, j.id
     LIMIT 1
       FOR UPDATE OF j SKIP LOCKED),
claimed AS (
    UPDATE engine_jobs j
       SET state = 'running', attempt = j.attempt + 1, lease_owner = $2,
           lease_expires_at = now() + make_interval(secs => $3), started_at = clock_timestamp()
     WHERE j.id = (SELECT id FROM candidate)
    RETURNING j.id, j.queue, j.kind, j.args, j.attempt, j.max_attempts, j.correlation_id),
told AS (SELECT engine_notify_updates(array_agg(id)) FROM claimed),
counted AS (
    SELECT engine_count_moves(array_agg(queue), array_agg(kind), array['available'], array['running'])
      FROM claimed HAVING count(*) > 0)
SELECT c.id AS "id!", c.kind AS "kind!", c.args AS "args!", c.attempt AS "attempt!",
       c.max_attempts AS "max_attempts!", c.correlation_id
  FROM claimed c, told LEFT JOIN counted ON true
