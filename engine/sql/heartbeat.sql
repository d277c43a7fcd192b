-- Renews the leases of the jobs this worker holds (running, or finished and not yet recorded)
-- and of no others: a job it lost track of expires and is rescued. Rows are locked in id order,
-- as `engine_finish` locks them, so a heartbeat and a completion batch never deadlock.
-- (The worker's own row is kept by the presence beat, every second.)
WITH held AS (
    SELECT j.id FROM engine_jobs j
      JOIN unnest($3::bigint[], $4::int[]) AS h(id, attempt) ON h.id = j.id AND h.attempt = j.attempt
     WHERE j.lease_owner = $1 AND j.state = 'running'
     ORDER BY j.id
       FOR UPDATE OF j)
UPDATE engine_jobs j SET lease_expires_at = now() + make_interval(secs => $2)
  FROM held
 WHERE j.id = held.id
RETURNING j.id, j.cancel_requested_at IS NOT NULL AS "cancel_requested!"
