WITH beat AS (UPDATE engine_workers SET last_heartbeat_at = now() WHERE id = $1)
UPDATE engine_jobs SET lease_expires_at = now() + make_interval(secs => $2)
 WHERE lease_owner = $1 AND state = 'running'
RETURNING id, attempt, cancel_requested_at IS NOT NULL AS "cancel_requested!"
