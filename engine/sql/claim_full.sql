-- Queues with fairness or a per-key cap (J12, J13).
WITH claimed AS (SELECT id, kind, args, attempt, max_attempts, correlation_id FROM engine_claim($1, $2, $3, $4)),
told AS (SELECT engine_notify_updates(array_agg(id)) FROM claimed)
SELECT c.id AS "id!", c.kind AS "kind!", c.args AS "args!", c.attempt AS "attempt!",
       c.max_attempts AS "max_attempts!", c.correlation_id
  FROM claimed c, told
