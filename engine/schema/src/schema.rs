//! The engine's tables, as SQL statements for the application's migration runner.
//!
//! - `engine_jobs`: one row per job; `attempt` doubles as the fencing token (with `lease_owner`).
//! - `engine_job_attempts`: one row per attempt (worker, start, end, outcome, error).
//! - `engine_queues`: per-queue settings (concurrency, fairness, per-key cap, pause) that every
//!   worker's claim reads; a queue without a row has none of them.
//! - `engine_schedules` + `engine_schedule_runs`: cron; a run is unique per (schedule, slot).
//! - `engine_workers`: the running workers and their heartbeats.
//!
//! A job that was running when its worker died is marked `isolate`: ordinary claims skip it and
//! a worker runs it alone, so the next death is the job's own (`crashes`, poison pills).
//!
//! `engine_claim` is the claim of queues with fairness or a per-key cap (plain queues use a
//! single `UPDATE ... FOR UPDATE SKIP LOCKED` from the worker). Inserting available jobs notifies
//! channel `engine_jobs` with the queue name.

/// `engine_finish` as the first version had it (no outbox, no notifications).
const FINISH_V1: &str = r#"CREATE FUNCTION engine_finish(p_worker uuid, p_ids bigint[], p_attempts int[], p_states text[],
                                   p_run_at timestamptz[], p_errors text[], p_results jsonb[],
                                   p_outcomes text[])
    RETURNS SETOF bigint LANGUAGE sql AS $$
        WITH finished AS (
            SELECT * FROM unnest(p_ids, p_attempts, p_states, p_run_at, p_errors, p_results, p_outcomes)
                     AS f(id, attempt, state, run_at, error, result, outcome)),
        updated AS (
            UPDATE engine_jobs j
               SET state = f.state,
                   attempt = CASE WHEN f.outcome = 'released' THEN j.attempt - 1 ELSE j.attempt END,
                   run_at = coalesce(f.run_at, j.run_at),
                   last_error = coalesce(f.error, j.last_error),
                   result = f.result,
                   isolate = j.isolate AND f.outcome = 'released',
                   finished_at = CASE WHEN f.state = 'available' THEN NULL ELSE now() END,
                   lease_owner = NULL,
                   lease_expires_at = NULL
              FROM finished f
             WHERE j.id = f.id AND j.attempt = f.attempt AND j.lease_owner = p_worker
            RETURNING j.id, f.attempt, j.started_at, f.outcome, f.error)
        INSERT INTO engine_job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
        SELECT id, attempt, p_worker, started_at, now(), outcome, error FROM updated
        RETURNING job_id
    $$"#;

/// `engine_emit` as the second version had it.
const EMIT_V2: &str = r#"CREATE FUNCTION engine_emit(p_ids bigint[], p_outcomes text[]) RETURNS void LANGUAGE sql AS $$
        INSERT INTO engine_jobs (kind, queue, args, max_attempts, group_key, created_by)
        SELECT 'engine.webhook', 'webhooks',
               jsonb_build_object(
                   'endpoint', e.id,
                   'eventId', 'evt_' || replace(gen_random_uuid()::text, '-', ''),
                   'type', t.type,
                   'occurredAt', now(),
                   'task', jsonb_build_object(
                       'id', j.id, 'kind', j.kind, 'queue', j.queue, 'state', j.state,
                       'attempt', j.attempt, 'maxAttempts', j.max_attempts, 'args', j.args,
                       'result', j.result, 'error', j.last_error, 'priority', j.priority,
                       'createdAt', j.created_at, 'startedAt', j.started_at,
                       'finishedAt', j.finished_at, 'createdBy', j.created_by)),
               12, 'webhook:' || e.id, 'engine'
          FROM unnest(p_ids, p_outcomes) AS u(id, outcome)
          JOIN engine_jobs j ON j.id = u.id
          CROSS JOIN LATERAL (
              SELECT 'task.succeeded' WHERE j.state = 'completed'
              UNION ALL SELECT 'task.failed' WHERE j.state IN ('failed', 'discarded')
              UNION ALL SELECT 'task.handler_error'
               WHERE u.outcome IN ('retried', 'panicked', 'timed_out', 'discarded')) AS t(type)
          JOIN engine_webhook_endpoints e
            ON e.enabled AND t.type = ANY (e.events) AND (e.kinds IS NULL OR j.kind = ANY (e.kinds))
         WHERE j.kind <> 'engine.webhook'
    $$"#;

/// `engine_finish` as the second version had it.
const FINISH_V2: &str = r#"CREATE FUNCTION engine_finish(p_worker uuid, p_ids bigint[], p_attempts int[], p_states text[],
                                   p_run_at timestamptz[], p_errors text[], p_results jsonb[],
                                   p_outcomes text[])
    RETURNS SETOF bigint LANGUAGE plpgsql AS $$
    DECLARE
        v_ids bigint[];
        v_outcomes text[];
    BEGIN
        WITH finished AS (
            SELECT * FROM unnest(p_ids, p_attempts, p_states, p_run_at, p_errors, p_results, p_outcomes)
                     AS f(id, attempt, state, run_at, error, result, outcome)),
        updated AS (
            UPDATE engine_jobs j
               SET state = f.state,
                   attempt = CASE WHEN f.outcome = 'released' THEN j.attempt - 1 ELSE j.attempt END,
                   run_at = coalesce(f.run_at, j.run_at),
                   last_error = coalesce(f.error, j.last_error),
                   result = f.result,
                   isolate = j.isolate AND f.outcome = 'released',
                   finished_at = CASE WHEN f.state = 'available' THEN NULL ELSE now() END,
                   lease_owner = NULL,
                   lease_expires_at = NULL
              FROM finished f
             WHERE j.id = f.id AND j.attempt = f.attempt AND j.lease_owner = p_worker
            RETURNING j.id, f.attempt, j.started_at, f.outcome, f.error),
        logged AS (
            INSERT INTO engine_job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
            SELECT id, attempt, p_worker, started_at, now(), outcome, error FROM updated)
        SELECT array_agg(id), array_agg(outcome) INTO v_ids, v_outcomes FROM updated;
        IF v_ids IS NULL THEN
            RETURN;
        END IF;
        IF EXISTS (SELECT 1 FROM engine_webhook_endpoints WHERE enabled) THEN
            PERFORM engine_emit(v_ids, v_outcomes);
        END IF;
        PERFORM engine_notify_updates(v_ids);
        RETURN QUERY SELECT unnest(v_ids);
    END $$"#;

/// `engine_capture_event` as the third version had it.
const CAPTURE_V3: &str = r#"CREATE FUNCTION engine_capture_event() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        v_id uuid := gen_random_uuid();
        v_old jsonb;
        v_new jsonb;
    BEGIN
        IF current_setting('engine.capture_events', true) = 'off' THEN
            RETURN NULL;
        END IF;
        -- The trigger's arguments name columns left out (secrets such as password hashes).
        IF TG_OP IN ('UPDATE', 'DELETE') THEN v_old := to_jsonb(OLD) - coalesce(TG_ARGV, '{}'); END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN v_new := to_jsonb(NEW) - coalesce(TG_ARGV, '{}'); END IF;
        IF TG_OP = 'UPDATE' AND v_old = v_new THEN
            RETURN NULL;
        END IF;
        INSERT INTO engine_events (id, source, trigger_name, table_schema, table_name, op, old, new,
                                   session_variables, created_at)
        VALUES (v_id, 'native', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP, v_old, v_new,
                nullif(current_setting('engine.session_variables', true), '')::jsonb,
                clock_timestamp());
        INSERT INTO engine_jobs (kind, queue, args, max_attempts, correlation_id, created_by)
        VALUES ('engine.detect', 'events', jsonb_build_object('eventId', v_id), 10, v_id,
                'trigger ' || TG_NAME);
        RETURN NULL;
    END $$"#;

/// Statements creating the engine's schema, in order.
/// The claim of queues with fairness or a per-key cap, as version 1 made it (one statement per
/// candidate); version 7 replaces it.
const CLAIM_V1: &str = r#"CREATE FUNCTION engine_claim(p_queue text, p_limit int, p_worker uuid, p_lease_secs double precision)
    RETURNS SETOF engine_jobs LANGUAGE plpgsql AS $$
    DECLARE
        q engine_queues;
        candidate record;
        claimed engine_jobs;
        taken int := 0;
        scanned int;
        progressed boolean;
        full_keys text[] := '{}';
        keys_before int;
    BEGIN
        SELECT * INTO q FROM engine_queues WHERE name = p_queue;
        IF NOT FOUND THEN
            q.fair_counter := 0;
            q.fair_low_max := 1;
        END IF;
        IF q.paused_until IS NOT NULL AND q.paused_until > now() THEN
            RETURN;
        END IF;
        IF q.fair_every IS NOT NULL THEN
            -- Serialises the claimers of this queue only: the counter is read and written once.
            SELECT * INTO q FROM engine_queues WHERE name = p_queue FOR UPDATE;
        END IF;
        LOOP
            progressed := false;
            keys_before := cardinality(full_keys);
            IF q.fair_every IS NOT NULL AND q.fair_counter >= q.fair_every THEN
                FOR candidate IN
                    SELECT id, concurrency_key FROM engine_jobs
                     WHERE state = 'available' AND queue = p_queue AND run_at <= now() AND NOT isolate
                       AND priority <= q.fair_low_max
                       AND (concurrency_key IS NULL OR NOT concurrency_key = ANY (full_keys))
                     ORDER BY priority DESC, run_at, id
                     LIMIT 4 FOR UPDATE SKIP LOCKED
                LOOP
                    IF NOT engine_key_admits(candidate.concurrency_key, q.per_key_limit) THEN
                        full_keys := full_keys || candidate.concurrency_key;
                        CONTINUE;
                    END IF;
                    claimed := engine_take(candidate.id, p_worker, p_lease_secs);
                    RETURN NEXT claimed;
                    taken := taken + 1;
                    progressed := true;
                    EXIT;
                END LOOP;
                -- Served one, or none was waiting: the higher ones are not held back.
                q.fair_counter := 0;
            END IF;
            EXIT WHEN taken >= p_limit;
            scanned := 0;
            FOR candidate IN
                SELECT id, priority, concurrency_key FROM engine_jobs
                 WHERE state = 'available' AND queue = p_queue AND run_at <= now() AND NOT isolate
                   AND (concurrency_key IS NULL OR NOT concurrency_key = ANY (full_keys))
                 ORDER BY priority DESC, run_at, id
                 LIMIT (p_limit - taken) * 4 FOR UPDATE SKIP LOCKED
            LOOP
                scanned := scanned + 1;
                EXIT WHEN taken >= p_limit;
                IF NOT engine_key_admits(candidate.concurrency_key, q.per_key_limit) THEN
                    full_keys := full_keys || candidate.concurrency_key;
                    CONTINUE;
                END IF;
                claimed := engine_take(candidate.id, p_worker, p_lease_secs);
                RETURN NEXT claimed;
                taken := taken + 1;
                progressed := true;
                IF q.fair_every IS NOT NULL THEN
                    IF candidate.priority <= q.fair_low_max THEN
                        q.fair_counter := 0;
                    ELSE
                        q.fair_counter := q.fair_counter + 1;
                        EXIT WHEN q.fair_counter >= q.fair_every;
                    END IF;
                END IF;
            END LOOP;
            EXIT WHEN taken >= p_limit OR scanned = 0;
            EXIT WHEN NOT progressed AND cardinality(full_keys) = keys_before;
        END LOOP;
        IF q.fair_every IS NOT NULL THEN
            UPDATE engine_queues SET fair_counter = q.fair_counter WHERE name = p_queue;
        END IF;
    END $$"#;

pub const UP: &[&str] = &[
    r#"CREATE TABLE engine_queues (
        name text PRIMARY KEY,
        concurrency int CHECK (concurrency IS NULL OR concurrency > 0),
        fair_every int CHECK (fair_every IS NULL OR fair_every > 0),
        fair_low_max smallint NOT NULL DEFAULT 1,
        fair_counter int NOT NULL DEFAULT 0,
        per_key_limit int CHECK (per_key_limit IS NULL OR per_key_limit > 0),
        paused_until timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
    )"#,
    r#"CREATE TABLE engine_jobs (
        id bigserial PRIMARY KEY,
        queue text NOT NULL DEFAULT 'default',
        kind text NOT NULL,
        args jsonb NOT NULL DEFAULT '{}',
        state text NOT NULL DEFAULT 'available'
            CHECK (state IN ('available', 'running', 'completed', 'failed', 'cancelled', 'discarded')),
        priority smallint NOT NULL DEFAULT 1,
        run_at timestamptz NOT NULL DEFAULT now(),
        attempt int NOT NULL DEFAULT 0,
        max_attempts int NOT NULL DEFAULT 20 CHECK (max_attempts > 0),
        dedupe_key text,
        concurrency_key text,
        group_key text,
        -- Set when the job was running as its worker died: it runs alone from then on, so a
        -- death can be blamed on it (`crashes`) and not on the jobs beside it (J6).
        isolate boolean NOT NULL DEFAULT false,
        crashes int NOT NULL DEFAULT 0,
        lease_owner uuid,
        lease_expires_at timestamptz,
        cancel_requested_at timestamptz,
        progress jsonb,
        result jsonb,
        last_error text,
        created_by text,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz,
        -- A job has a lease exactly while it runs.
        CHECK ((state = 'running') = (lease_owner IS NOT NULL))
    )"#,
    // The claim's order, over available jobs only.
    "CREATE INDEX engine_jobs_fetch ON engine_jobs (queue, priority DESC, run_at, id)
        WHERE state = 'available' AND NOT isolate",
    "CREATE INDEX engine_jobs_isolated ON engine_jobs (queue, priority DESC, run_at, id)
        WHERE state = 'available' AND isolate",
    "CREATE INDEX engine_jobs_running_key ON engine_jobs (concurrency_key)
        WHERE state = 'running' AND concurrency_key IS NOT NULL",
    // Running jobs by worker (heartbeats, completion) and, scanned whole, by lease (the reaper):
    // one index, since every claim writes into each index there is.
    "CREATE INDEX engine_jobs_running ON engine_jobs (lease_owner, lease_expires_at) WHERE state = 'running'",
    "CREATE UNIQUE INDEX engine_jobs_dedupe ON engine_jobs (kind, dedupe_key)
        WHERE dedupe_key IS NOT NULL AND state IN ('available', 'running')",
    "CREATE INDEX engine_jobs_group ON engine_jobs (group_key, kind, id DESC) WHERE group_key IS NOT NULL",
    r#"CREATE TABLE engine_job_attempts (
        id bigserial NOT NULL,
        -- No foreign key: its check, one query per row, doubled the cost of recording a batch
        -- of finished jobs. Attempts are written with their job's update and pruned with it.
        job_id bigint NOT NULL,
        attempt int NOT NULL,
        worker_id uuid,
        started_at timestamptz,
        finished_at timestamptz NOT NULL DEFAULT now(),
        outcome text NOT NULL,
        error text
    )"#,
    // An append-only log read one job at a time: a BRIN index (attempts arrive roughly in job
    // order) finds them without a B-tree insert for every attempt recorded.
    "CREATE INDEX engine_job_attempts_job ON engine_job_attempts USING brin (job_id) WITH (pages_per_range = 32)",
    r#"CREATE TABLE engine_workers (
        id uuid PRIMARY KEY,
        host text NOT NULL,
        pid int NOT NULL,
        queues text[] NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
        stopped_at timestamptz
    )"#,
    r#"CREATE TABLE engine_schedules (
        name text PRIMARY KEY,
        cron text NOT NULL,
        timezone text NOT NULL DEFAULT 'UTC',
        kind text NOT NULL,
        args jsonb NOT NULL DEFAULT '{}',
        queue text NOT NULL DEFAULT 'default',
        priority smallint NOT NULL DEFAULT 1,
        max_attempts int NOT NULL DEFAULT 20 CHECK (max_attempts > 0),
        overlap text NOT NULL DEFAULT 'allow' CHECK (overlap IN ('allow', 'skip')),
        run_on_start boolean NOT NULL DEFAULT false,
        enabled boolean NOT NULL DEFAULT true,
        next_run_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    )"#,
    r#"CREATE TABLE engine_schedule_runs (
        schedule text NOT NULL REFERENCES engine_schedules(name) ON DELETE CASCADE,
        slot timestamptz NOT NULL,
        job_id bigint REFERENCES engine_jobs(id) ON DELETE SET NULL,
        skipped_reason text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (schedule, slot)
    )"#,
    "CREATE INDEX engine_schedule_runs_job ON engine_schedule_runs (job_id)",
    r#"CREATE FUNCTION engine_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('engine_jobs', queues.queue)
        FROM (SELECT DISTINCT queue FROM inserted_jobs
              WHERE state = 'available' AND run_at <= now()) AS queues;
        RETURN NULL;
    END $$"#,
    r#"CREATE TRIGGER engine_jobs_notify AFTER INSERT ON engine_jobs
        REFERENCING NEW TABLE AS inserted_jobs
        FOR EACH STATEMENT EXECUTE FUNCTION engine_jobs_notify()"#,
    // Whether one more job of `key` may run: decided under a transaction-scoped advisory lock on
    // the key (held until the claim commits), counting the rows that run, so no two claimers can
    // both admit the last free place and nothing can leak.
    r#"CREATE FUNCTION engine_key_admits(p_key text, p_limit int) RETURNS boolean LANGUAGE plpgsql AS $$
    BEGIN
        IF p_key IS NULL OR p_limit IS NULL THEN
            RETURN true;
        END IF;
        IF NOT pg_try_advisory_xact_lock(hashtextextended('engine:key:' || p_key, 0)) THEN
            RETURN false;
        END IF;
        RETURN (SELECT count(*) FROM engine_jobs
                WHERE state = 'running' AND concurrency_key = p_key) < p_limit;
    END $$"#,
    r#"CREATE FUNCTION engine_take(p_id bigint, p_worker uuid, p_lease_secs double precision)
    RETURNS engine_jobs LANGUAGE sql AS $$
        UPDATE engine_jobs
           SET state = 'running', attempt = attempt + 1, lease_owner = p_worker,
               lease_expires_at = now() + make_interval(secs => p_lease_secs),
               started_at = clock_timestamp()
         WHERE id = p_id
        RETURNING *
    $$"#,
    // Records a batch of finished attempts: the jobs' new states, fenced by attempt and lease
    // owner (a worker that lost a job cannot change it), and one attempt row each; returns the
    // ids recorded. The fence names no `state = 'running'`, which the CHECK on engine_jobs makes
    // redundant: with it, the planner would reach for the partial running indexes, whose row
    // estimates are stale in a burst, and rescan the batch for every job; without it the jobs
    // are found by primary key.
    FINISH_V1,
    // The claim of queues with fairness (after `fair_every` consecutive claims above
    // `fair_low_max`, one waiting job at or below it is served) or a per-key cap. Candidates are
    // read in the fetch index's order; keys found full are excluded from further scans, so a
    // backlog on one capped key does not hide the jobs of other keys behind it.
    CLAIM_V1,
];

/// Statements dropping the engine's schema.
pub const DOWN: &[&str] = &[
    "DROP FUNCTION IF EXISTS engine_claim(text, int, uuid, double precision)",
    "DROP FUNCTION IF EXISTS engine_finish(uuid, bigint[], int[], text[], timestamptz[], text[], jsonb[], text[])",
    "DROP FUNCTION IF EXISTS engine_take(bigint, uuid, double precision)",
    "DROP FUNCTION IF EXISTS engine_key_admits(text, int)",
    "DROP TRIGGER IF EXISTS engine_jobs_notify ON engine_jobs",
    "DROP FUNCTION IF EXISTS engine_jobs_notify()",
    "DROP TABLE IF EXISTS engine_schedule_runs",
    "DROP TABLE IF EXISTS engine_schedules",
    "DROP TABLE IF EXISTS engine_workers",
    "DROP TABLE IF EXISTS engine_job_attempts",
    "DROP TABLE IF EXISTS engine_jobs",
    "DROP TABLE IF EXISTS engine_queues",
];

/// Second version: webhook endpoints and their outbox (deliveries are engine jobs written in the
/// transaction that finishes the job), idempotency keys, and notifications of job changes
/// (`engine_updates`, payload: job ids separated by commas) for live views.
pub const UP_V2: &[&str] = &[
    r#"CREATE TABLE engine_webhook_endpoints (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        url text NOT NULL,
        -- `whsec_<base64>` (Standard Webhooks); the decoded bytes are the HMAC key.
        secret text NOT NULL,
        events text[] NOT NULL,
        -- Only jobs of these kinds; NULL: every kind.
        kinds text[],
        format text NOT NULL DEFAULT 'json' CHECK (format IN ('json', 'koalati-form')),
        enabled boolean NOT NULL DEFAULT true,
        description text,
        created_by text,
        created_at timestamptz NOT NULL DEFAULT now()
    )"#,
    r#"CREATE TABLE engine_idempotency (
        scope text NOT NULL,
        key text NOT NULL,
        request_sha256 bytea NOT NULL,
        job_id bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (scope, key)
    )"#,
    "CREATE INDEX engine_idempotency_created ON engine_idempotency (created_at)",
    // Status by URL prefix (`/status/project`); only jobs with a `url` argument are indexed.
    "CREATE INDEX engine_jobs_url ON engine_jobs ((args->>'url') text_pattern_ops) WHERE args ? 'url'",
    // Tells listeners which jobs changed, in notifications of at most ~7 900 bytes.
    NOTIFY_UPDATES_V1,
    // The outbox: one `engine.webhook` job per (finished job, event, matching endpoint), with the
    // job as it is now. Events: task.succeeded (completed), task.failed (failed or discarded),
    // task.handler_error (an attempt's handler failed: an error, a panic, a timeout).
    EMIT_V2,
    "DROP FUNCTION IF EXISTS engine_finish(uuid, bigint[], int[], text[], timestamptz[], text[], jsonb[], text[])",
    // As in the first version, and then the outbox (only when an endpoint exists) and the
    // notification, in the same transaction.
    FINISH_V2,
    // New jobs are changes too (for live views by kind).
    r#"CREATE OR REPLACE FUNCTION engine_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('engine_jobs', queues.queue)
        FROM (SELECT DISTINCT queue FROM inserted_jobs
              WHERE state = 'available' AND run_at <= now()) AS queues;
        PERFORM engine_notify_updates((SELECT array_agg(id) FROM inserted_jobs));
        RETURN NULL;
    END $$"#,
];

/// Statements undoing [`UP_V2`].
pub const DOWN_V2: &[&str] = &[
    r#"CREATE OR REPLACE FUNCTION engine_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('engine_jobs', queues.queue)
        FROM (SELECT DISTINCT queue FROM inserted_jobs
              WHERE state = 'available' AND run_at <= now()) AS queues;
        RETURN NULL;
    END $$"#,
    "DROP FUNCTION IF EXISTS engine_finish(uuid, bigint[], int[], text[], timestamptz[], text[], jsonb[], text[])",
    FINISH_V1,
    "DROP FUNCTION IF EXISTS engine_emit(bigint[], text[])",
    "DROP FUNCTION IF EXISTS engine_notify_updates(bigint[])",
    "DROP INDEX IF EXISTS engine_jobs_url",
    "DROP TABLE IF EXISTS engine_idempotency",
    "DROP TABLE IF EXISTS engine_webhook_endpoints",
];

/// Version 3: events from database changes (Hasura's envelope), their detections and the jobs
/// those caused, and the trigger function that captures changes without Hasura.
pub const UP_V3: &[&str] = &[
    "ALTER TABLE engine_jobs ADD COLUMN correlation_id uuid",
    // Recent activity per queue (the dashboard's last hour): attempts arrive in time order.
    "CREATE INDEX engine_job_attempts_finished ON engine_job_attempts USING brin (finished_at)",
    "CREATE INDEX engine_jobs_correlation ON engine_jobs (correlation_id) WHERE correlation_id IS NOT NULL",
    r#"CREATE TABLE engine_events (
        id uuid PRIMARY KEY,
        source text NOT NULL CHECK (source IN ('hasura', 'native', 'manual')),
        trigger_name text NOT NULL,
        table_schema text NOT NULL,
        table_name text NOT NULL,
        op text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE', 'MANUAL')),
        old jsonb,
        new jsonb,
        session_variables jsonb,
        trace_context jsonb,
        delivery_info jsonb,
        -- When the change happened (Hasura's `created_at`).
        created_at timestamptz NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        -- Times the same event was delivered (Hasura retries; they change nothing).
        deliveries int NOT NULL DEFAULT 1,
        state text NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'detected', 'detection_failed')),
        detected_at timestamptz
    )"#,
    "CREATE INDEX engine_events_received ON engine_events (received_at DESC, id)",
    "CREATE INDEX engine_events_pending ON engine_events (received_at) WHERE state = 'pending'",
    // Only detectors that matched or failed have a row; "not detected" leaves none.
    r#"CREATE TABLE engine_event_detections (
        event_id uuid NOT NULL REFERENCES engine_events (id) ON DELETE CASCADE,
        detector text NOT NULL,
        state text NOT NULL CHECK (state IN ('detected', 'detection_failed')),
        error text,
        detected_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (event_id, detector)
    )"#,
    // The key that makes a job once per (event, detector, job): a replay finds it here. No
    // foreign key to the job, which retention may prune.
    r#"CREATE TABLE engine_event_jobs (
        event_id uuid NOT NULL,
        detector text NOT NULL,
        name text NOT NULL,
        job_id bigint NOT NULL,
        PRIMARY KEY (event_id, detector, name),
        FOREIGN KEY (event_id, detector) REFERENCES engine_event_detections ON DELETE CASCADE
    )"#,
    // Writes the change as an event in the changing transaction (so a rollback leaves none)
    // and queues its detection. `engine.session_variables` (transaction-local, JSON) names the
    // actor; `engine.capture_events = off` skips capture (bulk loads, seeding).
    CAPTURE_V3,
];

pub const DOWN_V3: &[&str] = &[
    "DROP FUNCTION IF EXISTS engine_capture_event() CASCADE",
    "DROP TABLE IF EXISTS engine_event_jobs",
    "DROP TABLE IF EXISTS engine_event_detections",
    "DROP TABLE IF EXISTS engine_events",
    "DROP INDEX IF EXISTS engine_jobs_correlation",
    "DROP INDEX IF EXISTS engine_job_attempts_finished",
    "ALTER TABLE engine_jobs DROP COLUMN IF EXISTS correlation_id",
];

/// `engine_finish` as version 4 has it.
const FINISH_V4: &str = r#"CREATE OR REPLACE FUNCTION engine_finish(p_worker uuid, p_ids bigint[], p_attempts int[], p_states text[],
                                   p_run_at timestamptz[], p_errors text[], p_results jsonb[],
                                   p_outcomes text[])
    RETURNS SETOF bigint LANGUAGE plpgsql AS $$
    DECLARE
        v_ids bigint[];
        v_outcomes text[];
    BEGIN
        WITH finished AS (
            SELECT * FROM unnest(p_ids, p_attempts, p_states, p_run_at, p_errors, p_results, p_outcomes)
                     AS f(id, attempt, state, run_at, error, result, outcome)),
        updated AS (
            UPDATE engine_jobs j
               SET state = f.state,
                   attempt = CASE WHEN f.outcome IN ('released', 'snoozed') THEN j.attempt - 1
                                  ELSE j.attempt END,
                   run_at = coalesce(f.run_at, j.run_at),
                   last_error = coalesce(f.error, j.last_error),
                   result = f.result,
                   isolate = j.isolate AND f.outcome = 'released',
                   finished_at = CASE WHEN f.state = 'available' THEN NULL ELSE now() END,
                   lease_owner = NULL,
                   lease_expires_at = NULL
              FROM finished f
             WHERE j.id = f.id AND j.attempt = f.attempt AND j.lease_owner = p_worker
            RETURNING j.id, f.attempt, j.started_at, f.outcome, f.error),
        logged AS (
            INSERT INTO engine_job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
            SELECT id, attempt, p_worker, started_at, now(), outcome, error FROM updated)
        SELECT array_agg(id), array_agg(outcome) INTO v_ids, v_outcomes FROM updated;
        IF v_ids IS NULL THEN
            RETURN;
        END IF;
        IF EXISTS (SELECT 1 FROM engine_webhook_endpoints WHERE enabled) THEN
            PERFORM engine_emit(v_ids, v_outcomes);
        END IF;
        PERFORM engine_notify_updates(v_ids);
        RETURN QUERY SELECT unnest(v_ids);
    END $$"#;

/// Version 4: one way in for jobs (`engine_add_jobs`, which Rust, the capture trigger and the
/// webhook outbox all call), the kinds' defaults it reads (`engine_kinds`: seeded here for the
/// engine's own kinds, written from the registry by every worker at start), snoozing (an
/// attempt that asks to run again later without spending an attempt), and webhook formats
/// that are the application's (the engine's table no longer lists them).
pub const UP_V4: &[&str] = &[
    r#"CREATE TABLE engine_kinds (
        kind text PRIMARY KEY,
        queue text NOT NULL,
        priority smallint NOT NULL,
        max_attempts int NOT NULL CHECK (max_attempts > 0),
        updated_at timestamptz NOT NULL DEFAULT now()
    )"#,
    // The engine's own kinds, as `DetectEvent` and `DeliverWebhook` declare them (a test holds
    // the two together); workers rewrite every kind's row from their registry when they start.
    "INSERT INTO engine_kinds (kind, queue, priority, max_attempts)
     VALUES ('engine.detect', 'events', 1, 10), ('engine.webhook', 'webhooks', 1, 12)",
    // Jobs as a JSON array of objects (`kind` and `args`, the rest optional: a missing queue,
    // priority or attempts comes from `engine_kinds`), in one statement. A job whose
    // (kind, dedupe key) waits or runs already is that job (its priority raised to the new
    // one's if higher): `existed` says so. One row per distinct job, in the given order.
    r#"CREATE FUNCTION engine_add_jobs(p_jobs jsonb)
    RETURNS TABLE (id bigint, existed boolean) LANGUAGE sql AS $$
        INSERT INTO engine_jobs AS t (kind, args, queue, priority, run_at, max_attempts, dedupe_key,
                                      concurrency_key, group_key, created_by, correlation_id)
        SELECT j.kind, coalesce(j.args, '{}'::jsonb), coalesce(j.queue, k.queue, 'default'),
               coalesce(j.priority, k.priority, 1), coalesce(j.run_at, now()),
               coalesce(j.max_attempts, k.max_attempts, 20), j.dedupe_key, j.concurrency_key,
               j.group_key, j.created_by, j.correlation_id
          FROM ROWS FROM (jsonb_to_recordset(p_jobs) AS (
                   kind text, args jsonb, queue text, priority smallint, run_at timestamptz,
                   max_attempts int, dedupe_key text, concurrency_key text, group_key text,
                   created_by text, correlation_id uuid))
               WITH ORDINALITY AS j(kind, args, queue, priority, run_at, max_attempts, dedupe_key,
                                    concurrency_key, group_key, created_by, correlation_id, ord)
          LEFT JOIN engine_kinds k ON k.kind = j.kind
         ORDER BY j.ord
        ON CONFLICT (kind, dedupe_key) WHERE dedupe_key IS NOT NULL AND state IN ('available', 'running')
        DO UPDATE SET priority = greatest(t.priority, excluded.priority)
        RETURNING t.id, t.xmax <> 0
    $$"#,
    // The capture trigger, as in version 3, with its detection job added the one way.
    r#"CREATE OR REPLACE FUNCTION engine_capture_event() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        v_id uuid := gen_random_uuid();
        v_old jsonb;
        v_new jsonb;
    BEGIN
        IF current_setting('engine.capture_events', true) = 'off' THEN
            RETURN NULL;
        END IF;
        -- The trigger's arguments name columns left out (secrets such as password hashes).
        IF TG_OP IN ('UPDATE', 'DELETE') THEN v_old := to_jsonb(OLD) - coalesce(TG_ARGV, '{}'); END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN v_new := to_jsonb(NEW) - coalesce(TG_ARGV, '{}'); END IF;
        IF TG_OP = 'UPDATE' AND v_old = v_new THEN
            RETURN NULL;
        END IF;
        INSERT INTO engine_events (id, source, trigger_name, table_schema, table_name, op, old, new,
                                   session_variables, created_at)
        VALUES (v_id, 'native', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP, v_old, v_new,
                nullif(current_setting('engine.session_variables', true), '')::jsonb,
                clock_timestamp());
        PERFORM engine_add_jobs(jsonb_build_array(jsonb_build_object(
            'kind', 'engine.detect', 'args', jsonb_build_object('eventId', v_id),
            'correlation_id', v_id, 'created_by', 'trigger ' || TG_NAME)));
        RETURN NULL;
    END $$"#,
    // The outbox, as in version 2, with its deliveries added the one way.
    r#"CREATE OR REPLACE FUNCTION engine_emit(p_ids bigint[], p_outcomes text[]) RETURNS void LANGUAGE sql AS $$
        SELECT engine_add_jobs(jsonb_agg(jsonb_build_object(
                   'kind', 'engine.webhook',
                   'args', jsonb_build_object(
                       'endpoint', e.id,
                       'eventId', 'evt_' || replace(gen_random_uuid()::text, '-', ''),
                       'type', t.type,
                       'occurredAt', now(),
                       'task', jsonb_build_object(
                           'id', j.id, 'kind', j.kind, 'queue', j.queue, 'state', j.state,
                           'attempt', j.attempt, 'maxAttempts', j.max_attempts, 'args', j.args,
                           'result', j.result, 'error', j.last_error, 'priority', j.priority,
                           'createdAt', j.created_at, 'startedAt', j.started_at,
                           'finishedAt', j.finished_at, 'createdBy', j.created_by)),
                   'group_key', 'webhook:' || e.id, 'created_by', 'engine')))
          FROM unnest(p_ids, p_outcomes) AS u(id, outcome)
          JOIN engine_jobs j ON j.id = u.id
          CROSS JOIN LATERAL (
              SELECT 'task.succeeded' WHERE j.state = 'completed'
              UNION ALL SELECT 'task.failed' WHERE j.state IN ('failed', 'discarded')
              UNION ALL SELECT 'task.handler_error'
               WHERE u.outcome IN ('retried', 'panicked', 'timed_out', 'discarded')) AS t(type)
          JOIN engine_webhook_endpoints e
            ON e.enabled AND t.type = ANY (e.events) AND (e.kinds IS NULL OR j.kind = ANY (e.kinds))
         WHERE j.kind <> 'engine.webhook'
        HAVING count(*) > 0
    $$"#,
    // As in version 2, and a snoozed attempt, like a released one, does not count.
    FINISH_V4,
    "ALTER TABLE engine_webhook_endpoints DROP CONSTRAINT engine_webhook_endpoints_format_check",
    "ALTER TABLE engine_webhook_endpoints ADD CONSTRAINT engine_webhook_endpoints_format_check
        CHECK (length(format) BETWEEN 1 AND 64)",
];

/// Statements undoing [`UP_V4`].
pub const DOWN_V4: &[&str] = &[
    "ALTER TABLE engine_webhook_endpoints DROP CONSTRAINT engine_webhook_endpoints_format_check",
    "ALTER TABLE engine_webhook_endpoints ADD CONSTRAINT engine_webhook_endpoints_format_check
        CHECK (format IN ('json', 'koalati-form'))",
    "DROP FUNCTION IF EXISTS engine_finish(uuid, bigint[], int[], text[], timestamptz[], text[], jsonb[], text[])",
    FINISH_V2,
    "DROP FUNCTION IF EXISTS engine_emit(bigint[], text[])",
    EMIT_V2,
    // The version-3 capture function again (triggers depend on it, so it is replaced in place).
    r#"CREATE OR REPLACE FUNCTION engine_capture_event() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        v_id uuid := gen_random_uuid();
        v_old jsonb;
        v_new jsonb;
    BEGIN
        IF current_setting('engine.capture_events', true) = 'off' THEN
            RETURN NULL;
        END IF;
        -- The trigger's arguments name columns left out (secrets such as password hashes).
        IF TG_OP IN ('UPDATE', 'DELETE') THEN v_old := to_jsonb(OLD) - coalesce(TG_ARGV, '{}'); END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN v_new := to_jsonb(NEW) - coalesce(TG_ARGV, '{}'); END IF;
        IF TG_OP = 'UPDATE' AND v_old = v_new THEN
            RETURN NULL;
        END IF;
        INSERT INTO engine_events (id, source, trigger_name, table_schema, table_name, op, old, new,
                                   session_variables, created_at)
        VALUES (v_id, 'native', TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP, v_old, v_new,
                nullif(current_setting('engine.session_variables', true), '')::jsonb,
                clock_timestamp());
        INSERT INTO engine_jobs (kind, queue, args, max_attempts, correlation_id, created_by)
        VALUES ('engine.detect', 'events', jsonb_build_object('eventId', v_id), 10, v_id,
                'trigger ' || TG_NAME);
        RETURN NULL;
    END $$"#,
    "DROP FUNCTION IF EXISTS engine_add_jobs(jsonb)",
    "DROP TABLE IF EXISTS engine_kinds",
];

/// Version 5: `engine_finish` locks its rows in id order before updating them, as the heartbeat
/// does, so a worker's heartbeat and its completion batches never deadlock each other.
pub const UP_V5: &[&str] = &[
    "DROP FUNCTION IF EXISTS engine_finish(uuid, bigint[], int[], text[], timestamptz[], text[], jsonb[], text[])",
    FINISH_V5,
];

/// Statements undoing [`UP_V5`].
pub const DOWN_V5: &[&str] = &[
    "DROP FUNCTION IF EXISTS engine_finish(uuid, bigint[], int[], text[], timestamptz[], text[], jsonb[], text[])",
    FINISH_V4,
];

const FINISH_V5: &str = r#"CREATE OR REPLACE FUNCTION engine_finish(p_worker uuid, p_ids bigint[], p_attempts int[], p_states text[],
                                   p_run_at timestamptz[], p_errors text[], p_results jsonb[],
                                   p_outcomes text[])
    RETURNS SETOF bigint LANGUAGE plpgsql AS $$
    DECLARE
        v_ids bigint[];
        v_outcomes text[];
    BEGIN
        PERFORM 1 FROM engine_jobs
         WHERE id = ANY (p_ids) AND lease_owner = p_worker
         ORDER BY id
           FOR UPDATE;
        WITH finished AS (
            SELECT * FROM unnest(p_ids, p_attempts, p_states, p_run_at, p_errors, p_results, p_outcomes)
                     AS f(id, attempt, state, run_at, error, result, outcome)),
        updated AS (
            UPDATE engine_jobs j
               SET state = f.state,
                   attempt = CASE WHEN f.outcome IN ('released', 'snoozed') THEN j.attempt - 1
                                  ELSE j.attempt END,
                   run_at = coalesce(f.run_at, j.run_at),
                   last_error = coalesce(f.error, j.last_error),
                   result = f.result,
                   isolate = j.isolate AND f.outcome = 'released',
                   finished_at = CASE WHEN f.state = 'available' THEN NULL ELSE now() END,
                   lease_owner = NULL,
                   lease_expires_at = NULL
              FROM finished f
             WHERE j.id = f.id AND j.attempt = f.attempt AND j.lease_owner = p_worker
            RETURNING j.id, f.attempt, j.started_at, f.outcome, f.error),
        logged AS (
            INSERT INTO engine_job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
            SELECT id, attempt, p_worker, started_at, now(), outcome, error FROM updated)
        SELECT array_agg(id), array_agg(outcome) INTO v_ids, v_outcomes FROM updated;
        IF v_ids IS NULL THEN
            RETURN;
        END IF;
        IF EXISTS (SELECT 1 FROM engine_webhook_endpoints WHERE enabled) THEN
            PERFORM engine_emit(v_ids, v_outcomes);
        END IF;
        PERFORM engine_notify_updates(v_ids);
        RETURN QUERY SELECT unnest(v_ids);
    END $$"#;

/// As in version 5, and the jobs it finishes are counted (`engine_count_moves`).
const FINISH_V7: &str = r#"CREATE OR REPLACE FUNCTION engine_finish(p_worker uuid, p_ids bigint[], p_attempts int[], p_states text[],
                                   p_run_at timestamptz[], p_errors text[], p_results jsonb[],
                                   p_outcomes text[])
    RETURNS SETOF bigint LANGUAGE plpgsql AS $$
    DECLARE
        v_ids bigint[];
        v_outcomes text[];
    BEGIN
        PERFORM 1 FROM engine_jobs
         WHERE id = ANY (p_ids) AND lease_owner = p_worker
         ORDER BY id
           FOR UPDATE;
        WITH finished AS (
            SELECT * FROM unnest(p_ids, p_attempts, p_states, p_run_at, p_errors, p_results, p_outcomes)
                     AS f(id, attempt, state, run_at, error, result, outcome)),
        updated AS (
            UPDATE engine_jobs j
               SET state = f.state,
                   attempt = CASE WHEN f.outcome IN ('released', 'snoozed') THEN j.attempt - 1
                                  ELSE j.attempt END,
                   run_at = coalesce(f.run_at, j.run_at),
                   last_error = coalesce(f.error, j.last_error),
                   result = f.result,
                   isolate = j.isolate AND f.outcome = 'released',
                   finished_at = CASE WHEN f.state = 'available' THEN NULL ELSE now() END,
                   lease_owner = NULL,
                   lease_expires_at = NULL
              FROM finished f
             WHERE j.id = f.id AND j.attempt = f.attempt AND j.lease_owner = p_worker
            RETURNING j.id, j.queue, j.kind, j.state, f.attempt, j.started_at, f.outcome, f.error),
        logged AS (
            INSERT INTO engine_job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
            SELECT id, attempt, p_worker, started_at, now(), outcome, error FROM updated),
        counted AS (
            SELECT engine_count_moves(array_agg(queue), array_agg(kind),
                                      array_fill('running'::text, ARRAY[count(*)::int]), array_agg(state))
              FROM updated)
        SELECT array_agg(id), array_agg(outcome) INTO v_ids, v_outcomes FROM updated, counted;
        IF v_ids IS NULL THEN
            RETURN;
        END IF;
        IF EXISTS (SELECT 1 FROM engine_webhook_endpoints WHERE enabled) THEN
            PERFORM engine_emit(v_ids, v_outcomes);
        END IF;
        PERFORM engine_notify_updates(v_ids);
        RETURN QUERY SELECT unnest(v_ids);
    END $$"#;

/// Version 6: queue settings have an owner. `settings_source` is `config` while the settings come
/// from the processes' configuration (each worker start writes them) and `operator` once changed
/// with `jobs queue set`, after which starts keep them (`jobs queue reset` hands them back).
pub const UP_V6: &[&str] = &[
    "ALTER TABLE engine_queues ADD COLUMN settings_source text NOT NULL DEFAULT 'config'
        CHECK (settings_source IN ('config', 'operator'))",
];

/// Statements undoing [`UP_V6`].
pub const DOWN_V6: &[&str] = &["ALTER TABLE engine_queues DROP COLUMN settings_source"];

/// Version 7: job counts kept current instead of scanned. A statement-level trigger appends the
/// change of each statement per (queue, kind, state) to `engine_job_counts` (appends never
/// contend, and roll back with the statement); `engine_compact_counts` folds rows older than
/// 10 s into 10-second buckets and those older than 10 minutes into one `-infinity` row, so a
/// reader sums a few hundred rows. `entered` counts the jobs that entered the state (throughput
/// over the last minutes). `engine_jobs_waiting` finds the scheduled and the oldest waiting jobs
/// of a queue without reading the others.
pub const UP_V7: &[&str] = &[
    "CREATE TABLE engine_job_counts (
        queue text NOT NULL,
        kind text NOT NULL,
        state text NOT NULL,
        at timestamptz NOT NULL DEFAULT now(),
        jobs bigint NOT NULL,
        entered bigint NOT NULL DEFAULT 0)",
    r#"CREATE FUNCTION engine_count_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO engine_job_counts (queue, kind, state, jobs, entered)
            SELECT queue, kind, state, count(*), count(*) FROM new_rows GROUP BY 1, 2, 3;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO engine_job_counts (queue, kind, state, jobs)
            SELECT queue, kind, state, -count(*) FROM old_rows GROUP BY 1, 2, 3;
        ELSE
            DELETE FROM engine_job_counts;
        END IF;
        RETURN NULL;
    END $$"#,
    "CREATE TRIGGER engine_count_inserted AFTER INSERT ON engine_jobs
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION engine_count_jobs()",
    // Updates are counted by the statements that change a state (claims, `engine_finish`, the
    // reaper, cancel, retry) through `engine_count_moves`: an update trigger's transition
    // tables cost a third of the throughput.
    r#"CREATE FUNCTION engine_count_moves(p_queues text[], p_kinds text[], p_from text[], p_to text[])
        RETURNS void LANGUAGE sql AS $$
        INSERT INTO engine_job_counts (queue, kind, state, jobs, entered)
        SELECT c.queue, c.kind, c.state, sum(c.change), sum(greatest(c.change, 0))
          FROM (SELECT queue, kind, from_state, to_state, count(*) AS moved
                  FROM unnest(p_queues, p_kinds, p_from, p_to) AS m(queue, kind, from_state, to_state)
                 WHERE from_state <> to_state
                 GROUP BY 1, 2, 3, 4) m
         CROSS JOIN LATERAL (VALUES (m.queue, m.kind, m.from_state, -m.moved),
                                    (m.queue, m.kind, m.to_state, m.moved)) AS c(queue, kind, state, change)
         GROUP BY 1, 2, 3
    $$"#,
    FINISH_V7,
    "CREATE TRIGGER engine_count_deleted AFTER DELETE ON engine_jobs
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION engine_count_jobs()",
    "CREATE TRIGGER engine_count_truncated AFTER TRUNCATE ON engine_jobs
        FOR EACH STATEMENT EXECUTE FUNCTION engine_count_jobs()",
    r#"CREATE FUNCTION engine_compact_counts() RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        -- One compactor at a time; the others have nothing to do.
        IF NOT pg_try_advisory_xact_lock(hashtextextended('engine:compact_counts', 0)) THEN
            RETURN;
        END IF;
        WITH moved AS (
            DELETE FROM engine_job_counts WHERE at < now() - interval '10 seconds' RETURNING *),
        bucketed AS (
            SELECT queue, kind, state, jobs, entered,
                   CASE WHEN at < now() - interval '10 minutes' THEN '-infinity'::timestamptz
                        ELSE to_timestamp(floor(extract(epoch FROM at) / 10) * 10) END AS bucket
              FROM moved)
        INSERT INTO engine_job_counts (queue, kind, state, at, jobs, entered)
        SELECT queue, kind, state, bucket, sum(jobs),
               CASE WHEN bucket = '-infinity' THEN 0 ELSE sum(entered) END
          FROM bucketed GROUP BY queue, kind, state, bucket
        HAVING sum(jobs) <> 0 OR (bucket <> '-infinity' AND sum(entered) <> 0);
    END $$"#,
    "INSERT INTO engine_job_counts (queue, kind, state, at, jobs)
     SELECT queue, kind, state, '-infinity', count(*) FROM engine_jobs GROUP BY 1, 2, 3",
    "CREATE INDEX engine_jobs_waiting ON engine_jobs (queue, run_at) WHERE state = 'available'",
    // ANALYZE keeps no statistics for a partial index's expression: without these, a filter on
    // one URL is estimated at thousands of rows and read along the primary key instead.
    "CREATE STATISTICS engine_jobs_url_stats ON ((args->>'url')) FROM engine_jobs",
    CLAIM_V7,
];

// The capped claim in two pieces, so that version 8 adds to it without a copy.
macro_rules! claim_v7_head {
    () => {
        r#"CREATE OR REPLACE FUNCTION engine_claim(p_queue text, p_limit integer, p_worker uuid, p_lease_secs double precision)
    RETURNS SETOF engine_jobs LANGUAGE plpgsql AS $$
    DECLARE
        q engine_queues;
        -- Candidates by priority (h_*) and, with fairness, the low ones (l_*); *_key is the
        -- position of the job's key in keys/rooms, *_twin its position in the other list.
        h_ids bigint[]; h_prio smallint[]; h_keys text[]; h_key int[]; h_twin int[]; h_taken boolean[];
        l_ids bigint[]; l_keys text[]; l_key int[]; l_twin int[]; l_taken boolean[];
        -- Per key met: the slots it has free (0 when another claimer holds the key).
        keys text[]; rooms int[];
        full_keys text[] := '{}';
        chosen bigint[] := '{}';
        taken int := 0;
        hi int; li int; k int;
        blocked boolean;
        rounds int := 0;
        wanted int;
    BEGIN
        SELECT * INTO q FROM engine_queues WHERE name = p_queue;
        IF NOT FOUND THEN
            q.fair_counter := 0;
            q.fair_low_max := 1;
        END IF;
        IF q.paused_until IS NOT NULL AND q.paused_until > now() THEN
            RETURN;
        END IF;
        IF q.fair_every IS NOT NULL THEN
            -- Serialises the claimers of this queue only: the counter is read and written once.
            SELECT * INTO q FROM engine_queues WHERE name = p_queue FOR UPDATE;
        END IF;
"#
    };
}

macro_rules! claim_v7_rounds {
    () => {
        r#"        LOOP
            rounds := rounds + 1;
            wanted := p_limit - taken;
            -- Locked candidates: an eighth more than wanted, for the ones whose key has no room (a
            -- further round looks past keys found full).
            SELECT coalesce(array_agg(c.id ORDER BY c.n), '{}'), coalesce(array_agg(c.priority ORDER BY c.n), '{}'),
                   coalesce(array_agg(c.concurrency_key ORDER BY c.n), '{}')
              INTO h_ids, h_prio, h_keys
              FROM (SELECT l.*, row_number() OVER () AS n FROM (
                        SELECT id, priority, concurrency_key FROM engine_jobs
                         WHERE state = 'available' AND queue = p_queue AND run_at <= now() AND NOT isolate
                           AND (concurrency_key IS NULL OR NOT concurrency_key = ANY (full_keys))
                           AND NOT id = ANY (chosen)
                         ORDER BY priority DESC, run_at, id
                         LIMIT wanted + wanted / 8 + 8 FOR UPDATE SKIP LOCKED) l) c;
            l_ids := '{}'; l_keys := '{}';
            IF q.fair_every IS NOT NULL THEN
                SELECT coalesce(array_agg(c.id ORDER BY c.n), '{}'), coalesce(array_agg(c.concurrency_key ORDER BY c.n), '{}')
                  INTO l_ids, l_keys
                  FROM (SELECT l.*, row_number() OVER () AS n FROM (
                            SELECT id, concurrency_key FROM engine_jobs
                             WHERE state = 'available' AND queue = p_queue AND run_at <= now() AND NOT isolate
                               AND priority <= q.fair_low_max
                               AND (concurrency_key IS NULL OR NOT concurrency_key = ANY (full_keys))
                               AND NOT id = ANY (chosen)
                             ORDER BY priority DESC, run_at, id
                             LIMIT wanted / q.fair_every + 2 FOR UPDATE SKIP LOCKED) l) c;
            END IF;
            EXIT WHEN cardinality(h_ids) = 0;
            -- Each key met once, in a fixed order: locked for this transaction (or left to the
            -- claimer holding it), then its running jobs counted after the lock was taken.
            keys := '{}'; rooms := '{}';
            IF q.per_key_limit IS NOT NULL THEN
                SELECT coalesce(array_agg(m.key ORDER BY m.key), '{}'),
                       coalesce(array_agg(CASE WHEN m.locked THEN q.per_key_limit ELSE 0 END ORDER BY m.key), '{}')
                  INTO keys, rooms
                  FROM (SELECT u.key, pg_try_advisory_xact_lock(hashtextextended('engine:key:' || u.key, 0)) AS locked
                          FROM (SELECT DISTINCT key FROM unnest(h_keys || l_keys) AS key
                                 WHERE key IS NOT NULL ORDER BY key) u) m;
                SELECT coalesce(array_agg(greatest(r.room - coalesce(x.running, 0), 0) ORDER BY r.i), '{}')
                  INTO rooms
                  FROM unnest(keys, rooms) WITH ORDINALITY AS r(key, room, i)
                  LEFT JOIN (SELECT concurrency_key, count(*)::int AS running FROM engine_jobs
                              WHERE state = 'running' AND concurrency_key = ANY (keys)
                              GROUP BY concurrency_key) x ON x.concurrency_key = r.key;
            END IF;
            -- Positions instead of searches in the loop below (hash joins here).
            SELECT coalesce(array_agg(k.i ORDER BY h.n), '{}'), coalesce(array_agg(t.n ORDER BY h.n), '{}')
              INTO h_key, h_twin
              FROM unnest(h_keys, h_ids) WITH ORDINALITY AS h(key, id, n)
              LEFT JOIN unnest(keys) WITH ORDINALITY AS k(key, i) ON k.key = h.key
              LEFT JOIN unnest(l_ids) WITH ORDINALITY AS t(id, n) ON t.id = h.id;
            SELECT coalesce(array_agg(k.i ORDER BY l.n), '{}'), coalesce(array_agg(t.n ORDER BY l.n), '{}')
              INTO l_key, l_twin
              FROM unnest(l_keys, l_ids) WITH ORDINALITY AS l(key, id, n)
              LEFT JOIN unnest(keys) WITH ORDINALITY AS k(key, i) ON k.key = l.key
              LEFT JOIN unnest(h_ids) WITH ORDINALITY AS t(id, n) ON t.id = l.id;
            h_taken := array_fill(false, ARRAY[cardinality(h_ids)]);
            l_taken := array_fill(false, ARRAY[greatest(cardinality(l_ids), 1)]);
            -- The order of service: by priority, and with fairness one low job after every
            -- `fair_every` higher ones. A job whose key has no room is passed over.
            hi := 1; li := 1; blocked := false;
            WHILE taken < p_limit AND hi <= cardinality(h_ids) LOOP
                IF q.fair_every IS NOT NULL AND q.fair_counter >= q.fair_every THEN
                    WHILE li <= cardinality(l_ids) LOOP
                        k := l_key[li];
                        IF NOT l_taken[li] AND (k IS NULL OR rooms[k] > 0) THEN
                            taken := taken + 1;
                            chosen[taken] := l_ids[li];
                            l_taken[li] := true;
                            IF l_twin[li] IS NOT NULL THEN h_taken[l_twin[li]] := true; END IF;
                            IF k IS NOT NULL THEN rooms[k] := rooms[k] - 1; END IF;
                            li := li + 1;
                            EXIT;
                        END IF;
                        IF k IS NOT NULL AND rooms[k] = 0 THEN blocked := true; END IF;
                        li := li + 1;
                    END LOOP;
                    -- Served one, or none could be: the higher ones are not held back.
                    q.fair_counter := 0;
                    CONTINUE;
                END IF;
                k := h_key[hi];
                IF NOT h_taken[hi] AND (k IS NULL OR rooms[k] > 0) THEN
                    taken := taken + 1;
                    chosen[taken] := h_ids[hi];
                    h_taken[hi] := true;
                    IF h_twin[hi] IS NOT NULL THEN l_taken[h_twin[hi]] := true; END IF;
                    IF k IS NOT NULL THEN rooms[k] := rooms[k] - 1; END IF;
                    IF q.fair_every IS NOT NULL THEN
                        IF h_prio[hi] <= q.fair_low_max THEN
                            q.fair_counter := 0;
                        ELSE
                            q.fair_counter := q.fair_counter + 1;
                        END IF;
                    END IF;
                ELSIF k IS NOT NULL AND rooms[k] = 0 THEN
                    blocked := true;
                END IF;
                hi := hi + 1;
            END LOOP;
            -- Another round only when keys without room hid jobs behind them (skipped then),
            -- and at most three.
            EXIT WHEN taken >= p_limit OR NOT blocked OR rounds >= 3
                   OR cardinality(h_ids) < wanted + wanted / 8 + 8;
            SELECT coalesce(array_agg(keys[i]), '{}') || full_keys INTO full_keys
              FROM generate_subscripts(keys, 1) AS i WHERE rooms[i] = 0;
        END LOOP;
        IF q.fair_every IS NOT NULL THEN
            UPDATE engine_queues SET fair_counter = q.fair_counter WHERE name = p_queue;
        END IF;
        IF taken = 0 THEN
            RETURN;
        END IF;
        -- One update for the batch; started_at follows the order of service.
        RETURN QUERY
            WITH claimed AS (
                UPDATE engine_jobs j
                   SET state = 'running', attempt = j.attempt + 1, lease_owner = p_worker,
                       lease_expires_at = now() + make_interval(secs => p_lease_secs),
                       started_at = clock_timestamp() + make_interval(secs => o.n / 1e6)
                  FROM unnest(chosen) WITH ORDINALITY AS o(id, n)
                 WHERE j.id = o.id
                RETURNING j.*),
            counted AS (
                SELECT engine_count_moves(array_agg(queue), array_agg(kind),
                                          array_fill('available'::text, ARRAY[count(*)::int]),
                                          array_fill('running'::text, ARRAY[count(*)::int]))
                  FROM claimed)
            SELECT c.* FROM claimed c, counted;
    END $$"#
    };
}

/// The claim of queues with fairness or a per-key cap, set-based: the candidates in one
/// statement, every key met locked and its running jobs counted in one more, the order of service
/// (priority, one low job after every `fair_every` higher ones, keys with room) decided in
/// memory, and one update for the batch. Version 1 ran two statements per candidate.
const CLAIM_V7: &str = concat!(claim_v7_head!(), claim_v7_rounds!());

/// The capped claim of version 7, passing over the keys found at their cap before the first
/// round.
const CLAIM_V8: &str = concat!(
    claim_v7_head!(),
    r#"        -- Keys already at their cap are passed over from the first round: a first round that
        -- locked them, only to find no room, cost a second round on every claim while the
        -- highest-priority keys were full.
        IF q.per_key_limit IS NOT NULL THEN
            SELECT coalesce(array_agg(concurrency_key), '{}') INTO full_keys
              FROM (SELECT concurrency_key FROM engine_jobs
                     WHERE state = 'running' AND concurrency_key IS NOT NULL
                     GROUP BY concurrency_key HAVING count(*) >= q.per_key_limit) f;
        END IF;
"#,
    claim_v7_rounds!()
);

/// Statements undoing [`UP_V7`].
pub const DOWN_V7: &[&str] = &[
    "DROP FUNCTION IF EXISTS engine_claim(text, int, uuid, double precision)",
    CLAIM_V1,
    "DROP STATISTICS IF EXISTS engine_jobs_url_stats",
    "DROP INDEX IF EXISTS engine_jobs_waiting",
    "DROP TRIGGER IF EXISTS engine_count_truncated ON engine_jobs",
    "DROP TRIGGER IF EXISTS engine_count_deleted ON engine_jobs",
    "DROP FUNCTION IF EXISTS engine_finish(uuid, bigint[], int[], text[], timestamptz[], text[], jsonb[], text[])",
    FINISH_V5,
    "DROP FUNCTION IF EXISTS engine_count_moves(text[], text[], text[], text[])",
    "DROP TRIGGER IF EXISTS engine_count_inserted ON engine_jobs",
    "DROP FUNCTION IF EXISTS engine_compact_counts()",
    "DROP FUNCTION IF EXISTS engine_count_jobs()",
    "DROP TABLE IF EXISTS engine_job_counts",
];

/// The first `engine_notify_updates` (restored by [`DOWN_V8`]).
const NOTIFY_UPDATES_V1: &str = r#"CREATE FUNCTION engine_notify_updates(p_ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        chunk text := '';
        id bigint;
    BEGIN
        IF p_ids IS NULL THEN
            RETURN;
        END IF;
        FOREACH id IN ARRAY p_ids LOOP
            IF length(chunk) > 7900 THEN
                PERFORM pg_notify('engine_updates', chunk);
                chunk := '';
            END IF;
            chunk := CASE WHEN chunk = '' THEN id::text ELSE chunk || ',' || id::text END;
        END LOOP;
        IF chunk <> '' THEN
            PERFORM pg_notify('engine_updates', chunk);
        END IF;
    END $$"#;

/// Version 8: no index of waiting jobs by time. `engine_jobs_waiting (queue, run_at)` looked
/// cheaper to the planner than the claim index whenever the statistics said a queue was empty
/// (a burst not yet analysed, a table of finished jobs): the claim then read and sorted every
/// waiting job of the queue to take 500 (80 ms a claim at 100 000 waiting; a 100 000-job drain
/// ran at a third of the 20 000-job rate). `engine_waiting` finds the same two figures through
/// the claim index, one priority level at a time.
pub const UP_V8: &[&str] = &[
    "DROP INDEX IF EXISTS engine_jobs_waiting",
    r#"CREATE FUNCTION engine_waiting(p_queue text, OUT scheduled bigint, OUT oldest timestamptz)
        STABLE LANGUAGE plpgsql AS $$
    DECLARE
        level smallint;
        level_scheduled bigint;
        level_oldest timestamptz;
    BEGIN
        -- Isolated jobs are few (they were running when a worker died).
        SELECT count(*) FILTER (WHERE run_at > now()), min(run_at) INTO scheduled, oldest
          FROM engine_jobs WHERE state = 'available' AND isolate AND queue = p_queue;
        -- The claim index orders a queue by priority, then time: each level's first entry is
        -- its oldest, its scheduled jobs one range at its end.
        SELECT max(priority) INTO level
          FROM engine_jobs WHERE state = 'available' AND NOT isolate AND queue = p_queue;
        WHILE level IS NOT NULL LOOP
            SELECT min(run_at) INTO level_oldest FROM engine_jobs
             WHERE state = 'available' AND NOT isolate AND queue = p_queue AND priority = level;
            SELECT count(*) INTO level_scheduled FROM engine_jobs
             WHERE state = 'available' AND NOT isolate AND queue = p_queue AND priority = level
               AND run_at > now();
            scheduled := scheduled + level_scheduled;
            oldest := least(oldest, level_oldest);
            SELECT max(priority) INTO level FROM engine_jobs
             WHERE state = 'available' AND NOT isolate AND queue = p_queue AND priority < level;
        END LOOP;
    END $$"#,
    CLAIM_V8,
    // Set-based: the loop that joined ids one by one cost 4 µs per job in every enqueue, claim
    // and completion (2 ms of a 500-job batch; 0.4 ms now). Payloads stay under the 8 000-byte
    // limit: 380 ids of at most 20 characters.
    r#"CREATE OR REPLACE FUNCTION engine_notify_updates(p_ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('engine_updates', string_agg(u.id::text, ','))
           FROM unnest(p_ids) WITH ORDINALITY AS u(id, n)
          GROUP BY (u.n - 1) / 380;
    END $$"#,
];

/// Statements undoing [`UP_V8`].
pub const DOWN_V8: &[&str] = &[
    "DROP FUNCTION IF EXISTS engine_notify_updates(bigint[])",
    NOTIFY_UPDATES_V1,
    "DROP FUNCTION IF EXISTS engine_waiting(text)",
    CLAIM_V7,
    "CREATE INDEX engine_jobs_waiting ON engine_jobs (queue, run_at) WHERE state = 'available'",
];

/// Every version's statements, in order (for tests and benchmarks that build a schema at once).
pub fn all_up() -> impl Iterator<Item = &'static str> {
    UP.iter()
        .chain(UP_V2)
        .chain(UP_V3)
        .chain(UP_V4)
        .chain(UP_V5)
        .chain(UP_V6)
        .chain(UP_V7)
        .chain(UP_V8)
        .copied()
}

/// Statements dropping every version, newest first.
pub fn all_down() -> impl Iterator<Item = &'static str> {
    DOWN_V8
        .iter()
        .chain(DOWN_V7)
        .chain(DOWN_V6)
        .chain(DOWN_V5)
        .chain(DOWN_V4)
        .chain(DOWN_V3)
        .chain(DOWN_V2)
        .chain(DOWN)
        .copied()
}
