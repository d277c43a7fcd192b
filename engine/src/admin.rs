//! What operators and the task API do to jobs and queues: look, cancel, retry, pause. Every
//! change goes through the same state machine (J8): queued → cancelled at once; running →
//! cancel requested (the worker's token fires within a heartbeat, at once by notification);
//! finished → refused.

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, FromQueryResult};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::{EngineError, pool};

#[derive(Clone, Debug, Serialize, FromQueryResult)]
pub struct JobRow {
    pub id: i64,
    pub queue: String,
    pub kind: String,
    pub args: Value,
    pub state: String,
    pub priority: i16,
    pub run_at: DateTime<Utc>,
    pub attempt: i32,
    pub max_attempts: i32,
    pub dedupe_key: Option<String>,
    pub concurrency_key: Option<String>,
    pub group_key: Option<String>,
    pub lease_owner: Option<Uuid>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub cancel_requested_at: Option<DateTime<Utc>>,
    pub progress: Option<Value>,
    pub result: Option<Value>,
    pub last_error: Option<String>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Deaths of its worker while it ran alone (poison-pill count).
    pub crashes: i32,
    /// Runs alone (it was running when a worker died).
    pub isolate: bool,
    /// What it belongs to, e.g. the event that caused it.
    pub correlation_id: Option<Uuid>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AttemptRow {
    pub attempt: i32,
    pub worker_id: Option<Uuid>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: DateTime<Utc>,
    pub outcome: String,
    pub error: Option<String>,
    pub duration_ms: Option<f64>,
}

/// Filters for [`list`]; `None` means any.
#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    pub state: Option<String>,
    pub kind: Option<String>,
    pub queue: Option<String>,
    pub group_key: Option<String>,
    /// Newest first, at most this many (capped at 1000).
    pub limit: u64,
}

/// The columns of a [`JobRow`], for reading jobs with statements of one's own (the engine's
/// own statements say `SELECT *`, which the build checks against [`JobRow`]).
pub const JOB_COLUMNS: &str =
    "id, queue, kind, args, state, priority, run_at, attempt, max_attempts,
    dedupe_key, concurrency_key, group_key, lease_owner, lease_expires_at, cancel_requested_at,
    progress, result, last_error, created_by, created_at, started_at, finished_at, crashes, isolate,
    correlation_id";

pub async fn list(db: &DatabaseConnection, filter: &JobFilter) -> Result<Vec<JobRow>, EngineError> {
    let limit = filter.limit.clamp(1, 1000) as i64;
    Ok(sqlx::query_as!(
        JobRow,
        "SELECT * FROM engine_jobs
          WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR kind = $2)
            AND ($3::text IS NULL OR queue = $3) AND ($4::text IS NULL OR group_key = $4)
          ORDER BY id DESC LIMIT $5",
        filter.state,
        filter.kind,
        filter.queue,
        filter.group_key,
        limit
    )
    .fetch_all(pool(db))
    .await?)
}

pub async fn find(db: &DatabaseConnection, id: i64) -> Result<Option<JobRow>, EngineError> {
    Ok(
        sqlx::query_as!(JobRow, "SELECT * FROM engine_jobs WHERE id = $1", id)
            .fetch_optional(pool(db))
            .await?,
    )
}

/// The jobs among `ids`, of `kind` and created by `created_by` when given.
pub async fn find_many(
    db: &DatabaseConnection,
    ids: &[i64],
    kind: Option<&str>,
    created_by: Option<&str>,
) -> Result<Vec<JobRow>, EngineError> {
    Ok(sqlx::query_as!(
        JobRow,
        "SELECT * FROM engine_jobs
          WHERE id = ANY ($1) AND ($2::text IS NULL OR kind = $2)
            AND ($3::text IS NULL OR created_by = $3)
          ORDER BY id",
        ids,
        kind,
        created_by
    )
    .fetch_all(pool(db))
    .await?)
}

/// The jobs with these ids, on a pool (the process's job-updates reader).
pub async fn find_many_in(pool: &sqlx::PgPool, ids: &[i64]) -> Result<Vec<JobRow>, EngineError> {
    Ok(sqlx::query_as!(
        JobRow,
        "SELECT * FROM engine_jobs WHERE id = ANY ($1) ORDER BY id",
        ids
    )
    .fetch_all(pool)
    .await?)
}

fn not_found(id: i64) -> EngineError {
    EngineError::NotFound(format!("no job {id}"))
}

/// The latest job of `kind` per `(group_key, dedupe_key)` in `groups` (e.g. the latest check of
/// each link of each project), oldest group first.
pub async fn latest_per_key(
    db: &DatabaseConnection,
    kind: &str,
    groups: &[String],
) -> Result<Vec<JobRow>, EngineError> {
    Ok(sqlx::query_as!(
        JobRow,
        "SELECT DISTINCT ON (group_key, dedupe_key) * FROM engine_jobs
          WHERE kind = $1 AND group_key = ANY ($2)
          ORDER BY group_key, dedupe_key, id DESC",
        kind,
        groups
    )
    .fetch_all(pool(db))
    .await?)
}

pub async fn attempts(db: &DatabaseConnection, id: i64) -> Result<Vec<AttemptRow>, EngineError> {
    Ok(attempts_of(db, &[id])
        .await?
        .into_iter()
        .map(|(_, attempt)| attempt)
        .collect())
}

/// The attempts of many jobs in one statement, as `(job id, attempt)` in order.
pub async fn attempts_of(
    db: &DatabaseConnection,
    ids: &[i64],
) -> Result<Vec<(i64, AttemptRow)>, EngineError> {
    let rows = sqlx::query!(
        "SELECT job_id, attempt, worker_id, started_at, finished_at, outcome, error,
                (EXTRACT(EPOCH FROM finished_at - started_at) * 1000)::float8 AS duration_ms
           FROM engine_job_attempts WHERE job_id = ANY ($1) ORDER BY job_id, id",
        ids
    )
    .fetch_all(pool(db))
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let attempt = AttemptRow {
                attempt: row.attempt,
                worker_id: row.worker_id,
                started_at: row.started_at,
                finished_at: row.finished_at,
                outcome: row.outcome,
                error: row.error,
                duration_ms: row.duration_ms,
            };
            (row.job_id, attempt)
        })
        .collect())
}

/// Cancels a job: a waiting one at once, a running one by asking its worker (which stops it
/// within a heartbeat, or at once when it hears the notification). A finished job is refused
/// with `Conflict`.
pub async fn cancel(db: &DatabaseConnection, id: i64) -> Result<JobRow, EngineError> {
    let changed = sqlx::query_as!(
        JobRow,
        r#"WITH target AS (SELECT id, state FROM engine_jobs WHERE id = $1 FOR UPDATE),
           changed AS (
               UPDATE engine_jobs j
                  SET state = CASE WHEN t.state = 'available' THEN 'cancelled' ELSE j.state END,
                      finished_at = CASE WHEN t.state = 'available' THEN now() ELSE j.finished_at END,
                      cancel_requested_at = coalesce(j.cancel_requested_at, now())
                 FROM target t
                WHERE j.id = t.id AND t.state IN ('available', 'running')
               RETURNING j.*),
           told AS (
               SELECT engine_notify_updates(array_agg(c.id)),
                      (SELECT count(*) FROM changed r, LATERAL pg_notify('engine_cancel', r.id::text)
                        WHERE r.state = 'running'),
                      engine_count_moves(array_agg(c.queue), array_agg(c.kind), array_agg(t.state),
                                         array_agg(c.state))
                 FROM changed c JOIN target t USING (id))
           SELECT c.id AS "id!", c.queue AS "queue!", c.kind AS "kind!", c.args AS "args!",
                  c.state AS "state!", c.priority AS "priority!", c.run_at AS "run_at!",
                  c.attempt AS "attempt!", c.max_attempts AS "max_attempts!", c.dedupe_key,
                  c.concurrency_key, c.group_key, c.lease_owner, c.lease_expires_at,
                  c.cancel_requested_at, c.progress, c.result, c.last_error, c.created_by,
                  c.created_at AS "created_at!", c.started_at, c.finished_at,
                  c.crashes AS "crashes!", c.isolate AS "isolate!", c.correlation_id
             FROM changed c, told"#,
        id
    )
    .fetch_optional(pool(db))
    .await?;
    changed_or_why_not(db, id, changed, |state| {
        format!("job {id} is {state} and can no longer be cancelled")
    })
    .await
}

/// Runs a failed, discarded or cancelled job again now (with one more attempt if it had used
/// them up).
pub async fn retry(db: &DatabaseConnection, id: i64) -> Result<JobRow, EngineError> {
    let changed = sqlx::query_as!(
        JobRow,
        r#"WITH target AS (
               SELECT id, state FROM engine_jobs
                WHERE id = $1 AND state IN ('failed', 'discarded', 'cancelled') FOR UPDATE),
           changed AS (
               UPDATE engine_jobs j
                  SET state = 'available', run_at = now(), finished_at = NULL,
                      cancel_requested_at = NULL,
                      max_attempts = greatest(j.max_attempts, j.attempt + 1), crashes = 0
                 FROM target t
                WHERE j.id = t.id
               RETURNING j.*),
           told AS (
               SELECT pg_notify(CASE WHEN c.isolate THEN 'engine_isolated' ELSE 'engine_jobs' END, c.queue),
                      engine_notify_updates(ARRAY[c.id]),
                      engine_count_moves(ARRAY[c.queue], ARRAY[c.kind], ARRAY[t.state], ARRAY[c.state])
                 FROM changed c JOIN target t USING (id))
           SELECT c.id AS "id!", c.queue AS "queue!", c.kind AS "kind!", c.args AS "args!",
                  c.state AS "state!", c.priority AS "priority!", c.run_at AS "run_at!",
                  c.attempt AS "attempt!", c.max_attempts AS "max_attempts!", c.dedupe_key,
                  c.concurrency_key, c.group_key, c.lease_owner, c.lease_expires_at,
                  c.cancel_requested_at, c.progress, c.result, c.last_error, c.created_by,
                  c.created_at AS "created_at!", c.started_at, c.finished_at,
                  c.crashes AS "crashes!", c.isolate AS "isolate!", c.correlation_id
             FROM changed c, told"#,
        id
    )
    .fetch_optional(pool(db))
    .await?;
    changed_or_why_not(db, id, changed, |state| {
        format!("job {id} is {state}; only failed, discarded or cancelled jobs can be retried")
    })
    .await
}

/// The job an update changed; when it changed none, why: the job is in a state the update does
/// not apply to (`Conflict`, worded by `conflict` from the state), or there is no such job.
async fn changed_or_why_not(
    db: &DatabaseConnection,
    id: i64,
    changed: Option<JobRow>,
    conflict: impl FnOnce(&str) -> String,
) -> Result<JobRow, EngineError> {
    if let Some(job) = changed {
        return Ok(job);
    }
    match find(db, id).await? {
        Some(job) => Err(EngineError::Conflict(conflict(&job.state))),
        None => Err(not_found(id)),
    }
}

/// Stops every worker from claiming the queue's jobs, until `until` (forever when `None`).
/// Stored in the database: it holds for all workers and across restarts (J14).
pub async fn pause(
    db: &DatabaseConnection,
    queue: &str,
    until: Option<DateTime<Utc>>,
) -> Result<(), EngineError> {
    sqlx::query!(
        "INSERT INTO engine_queues (name, paused_until) VALUES ($1, coalesce($2::timestamptz, 'infinity'))
         ON CONFLICT (name) DO UPDATE SET paused_until = excluded.paused_until, updated_at = now()",
        queue,
        until
    )
    .execute(pool(db))
    .await?;
    Ok(())
}

pub async fn resume(db: &DatabaseConnection, queue: &str) -> Result<(), EngineError> {
    sqlx::query!(
        "WITH resumed AS (
             UPDATE engine_queues SET paused_until = NULL, updated_at = now() WHERE name = $1)
         SELECT FROM pg_notify('engine_jobs', $1)",
        queue
    )
    .execute(pool(db))
    .await?;
    Ok(())
}

/// A queue's claim rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueSettings {
    /// Default concurrency per worker process for this queue.
    pub concurrency: Option<i32>,
    /// After this many consecutive claims above `fair_low_max`, one waiting job at or below it
    /// is served (J12).
    pub fair_every: Option<i32>,
    pub fair_low_max: i16,
    /// At most this many running jobs per `concurrency_key` (J13).
    pub per_key_limit: Option<i32>,
}

/// What configuring a queue from the processes' configuration did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Configured {
    /// The configuration's settings are stored.
    Applied,
    /// An operator set this queue's settings (`jobs queue set`); theirs are kept.
    OperatorKept(QueueSettings),
}

/// Stores `settings` as the configuration's, unless an operator owns the queue's settings.
pub async fn configure_queue(
    db: &DatabaseConnection,
    queue: &str,
    settings: &QueueSettings,
) -> Result<Configured, EngineError> {
    let applied = sqlx::query_scalar!(
        r#"INSERT INTO engine_queues (name, concurrency, fair_every, fair_low_max, per_key_limit)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency,
               fair_every = excluded.fair_every, fair_low_max = excluded.fair_low_max,
               per_key_limit = excluded.per_key_limit, updated_at = now()
            WHERE engine_queues.settings_source = 'config'
           RETURNING true AS "applied!""#,
        queue,
        settings.concurrency,
        settings.fair_every,
        settings.fair_low_max,
        settings.per_key_limit
    )
    .fetch_optional(pool(db))
    .await?;
    if applied.is_some() {
        return Ok(Configured::Applied);
    }
    Ok(Configured::OperatorKept(queue_settings(db, queue).await?))
}

/// A queue's stored settings.
pub async fn queue_settings(
    db: &DatabaseConnection,
    queue: &str,
) -> Result<QueueSettings, EngineError> {
    let row = sqlx::query!(
        "SELECT concurrency, fair_every, fair_low_max, per_key_limit FROM engine_queues
          WHERE name = $1",
        queue
    )
    .fetch_optional(pool(db))
    .await?
    .ok_or_else(|| EngineError::NotFound(format!("no queue `{queue}`")))?;
    Ok(QueueSettings {
        concurrency: row.concurrency,
        fair_every: row.fair_every,
        fair_low_max: row.fair_low_max,
        per_key_limit: row.per_key_limit,
    })
}

/// An operator's change to a queue's settings: each `Some` replaces the stored value (`Some(0)`
/// turns it off). The queue's settings are the operator's from then on: worker starts keep them
/// until [`reset_queue`].
#[derive(Clone, Debug, Default)]
pub struct QueueChange {
    pub concurrency: Option<i32>,
    pub fair_every: Option<i32>,
    pub per_key_limit: Option<i32>,
}

pub async fn set_queue(
    db: &DatabaseConnection,
    queue: &str,
    change: &QueueChange,
) -> Result<QueueSettings, EngineError> {
    for (name, value) in [
        ("concurrency", change.concurrency),
        ("fair-every", change.fair_every),
        ("per-key-limit", change.per_key_limit),
    ] {
        if value.is_some_and(|v| v < 0) {
            return Err(EngineError::Invalid(format!("--{name} is 0 (off) or more")));
        }
    }
    if queue.is_empty() || queue.len() > 64 || queue.contains('\0') {
        return Err(EngineError::Invalid(
            "a queue name of 1 to 64 characters".into(),
        ));
    }
    let given = |value: Option<i32>| value.is_some();
    let off_or = |value: Option<i32>| value.filter(|v| *v > 0);
    sqlx::query!(
        "INSERT INTO engine_queues (name, concurrency, fair_every, per_key_limit, settings_source)
         VALUES ($1, $3, $5, $7, 'operator')
         ON CONFLICT (name) DO UPDATE SET
             concurrency = CASE WHEN $2 THEN $3 ELSE engine_queues.concurrency END,
             fair_every = CASE WHEN $4 THEN $5 ELSE engine_queues.fair_every END,
             per_key_limit = CASE WHEN $6 THEN $7 ELSE engine_queues.per_key_limit END,
             settings_source = 'operator', updated_at = now()",
        queue,
        given(change.concurrency),
        off_or(change.concurrency),
        given(change.fair_every),
        off_or(change.fair_every),
        given(change.per_key_limit),
        off_or(change.per_key_limit)
    )
    .execute(pool(db))
    .await?;
    queue_settings(db, queue).await
}

/// Hands a queue's settings back to the configuration (applied at the next worker start).
pub async fn reset_queue(db: &DatabaseConnection, queue: &str) -> Result<(), EngineError> {
    let changed = sqlx::query!(
        "UPDATE engine_queues SET settings_source = 'config', updated_at = now() WHERE name = $1",
        queue
    )
    .execute(pool(db))
    .await?;
    if changed.rows_affected() == 0 {
        return Err(EngineError::NotFound(format!("no queue `{queue}`")));
    }
    Ok(())
}

#[derive(Clone, Debug, Serialize)]
pub struct QueueStats {
    pub queue: String,
    pub available: i64,
    /// Available but not due yet (delayed, or waiting for a retry).
    pub scheduled: i64,
    pub running: i64,
    pub completed: i64,
    pub failed: i64,
    pub cancelled: i64,
    pub discarded: i64,
    pub oldest_waiting_seconds: Option<f64>,
    pub completed_last_minute: i64,
    pub completed_last_5_minutes: i64,
    /// Paused now (until `paused_until`, or until resumed when that is empty).
    pub paused: bool,
    pub paused_until: Option<DateTime<Utc>>,
}

/// Attempts that ended in one time bucket of one queue.
#[derive(Clone, Debug, Serialize)]
pub struct Activity {
    pub queue: String,
    pub bucket: DateTime<Utc>,
    pub completed: i64,
    /// Attempts that did not complete (retried, failed, panicked, timed out, lease lost).
    pub failed: i64,
}

/// Per queue, attempts completed and failed in buckets of `bucket_minutes` over the last
/// `minutes` (buckets without attempts are absent).
pub async fn activity(
    db: &DatabaseConnection,
    minutes: i32,
    bucket_minutes: i32,
) -> Result<Vec<Activity>, EngineError> {
    Ok(sqlx::query_as!(
        Activity,
        r#"SELECT j.queue,
                  date_bin(make_interval(mins => $2), a.finished_at, timestamptz '2000-01-01') AS "bucket!",
                  count(*) FILTER (WHERE a.outcome = 'completed') AS "completed!",
                  count(*) FILTER (WHERE a.outcome NOT IN ('completed', 'released', 'cancelled', 'snoozed'))
                      AS "failed!"
             FROM engine_job_attempts a JOIN engine_jobs j ON j.id = a.job_id
            WHERE a.finished_at > now() - make_interval(mins => $1)
            GROUP BY 1, 2 ORDER BY 1, 2"#,
        minutes.clamp(1, 1440),
        bucket_minutes.clamp(1, 60)
    )
    .fetch_all(pool(db))
    .await?)
}

/// Per queue: jobs by state, the oldest due job's wait, recent throughput and pause.
pub async fn stats(db: &DatabaseConnection) -> Result<Vec<QueueStats>, EngineError> {
    // Counts come from `engine_job_counts` (kept by a trigger, a few hundred rows), never from
    // scanning the jobs; the scheduled count and the oldest waiting job from the waiting index.
    Ok(sqlx::query_as!(
        QueueStats,
        r#"WITH counts AS (
               SELECT queue,
                      sum(jobs) FILTER (WHERE state = 'available') AS available,
                      sum(jobs) FILTER (WHERE state = 'running') AS running,
                      sum(jobs) FILTER (WHERE state = 'completed') AS completed,
                      sum(jobs) FILTER (WHERE state = 'failed') AS failed,
                      sum(jobs) FILTER (WHERE state = 'cancelled') AS cancelled,
                      sum(jobs) FILTER (WHERE state = 'discarded') AS discarded,
                      sum(entered) FILTER (WHERE state = 'completed' AND at > now() - interval '1 minute') AS last_minute,
                      sum(entered) FILTER (WHERE state = 'completed' AND at > now() - interval '5 minutes') AS last_5_minutes
                 FROM engine_job_counts GROUP BY queue),
           names AS (SELECT queue FROM counts UNION SELECT name FROM engine_queues),
           waiting AS (
               SELECT n.queue, w.scheduled, w.oldest FROM names n, engine_waiting(n.queue) w)
           SELECT n.queue AS "queue!",
                  greatest(coalesce(c.available, 0) - w.scheduled, 0)::bigint AS "available!",
                  w.scheduled AS "scheduled!",
                  coalesce(c.running, 0)::bigint AS "running!",
                  coalesce(c.completed, 0)::bigint AS "completed!",
                  coalesce(c.failed, 0)::bigint AS "failed!",
                  coalesce(c.cancelled, 0)::bigint AS "cancelled!",
                  coalesce(c.discarded, 0)::bigint AS "discarded!",
                  CASE WHEN w.oldest <= now() THEN EXTRACT(EPOCH FROM now() - w.oldest)::float8 END
                      AS oldest_waiting_seconds,
                  coalesce(c.last_minute, 0)::bigint AS "completed_last_minute!",
                  coalesce(c.last_5_minutes, 0)::bigint AS "completed_last_5_minutes!",
                  EXISTS (SELECT 1 FROM engine_queues q
                           WHERE q.name = n.queue AND q.paused_until > now()) AS "paused!",
                  -- 'infinity' (paused until resumed) has no chrono value: it is NULL here.
                  (SELECT nullif(paused_until, 'infinity') FROM engine_queues q
                    WHERE q.name = n.queue AND q.paused_until > now()) AS paused_until
             FROM names n JOIN waiting w USING (queue) LEFT JOIN counts c USING (queue)
            WHERE coalesce(c.available, 0) + coalesce(c.running, 0) + coalesce(c.completed, 0)
                  + coalesce(c.failed, 0) + coalesce(c.cancelled, 0) + coalesce(c.discarded, 0) > 0
               OR EXISTS (SELECT 1 FROM engine_queues q WHERE q.name = n.queue)
            ORDER BY n.queue"#
    )
    .fetch_all(pool(db))
    .await?)
}

/// Jobs per `(queue, kind, state)`, from the kept counts (no scan of the jobs).
pub async fn counts(
    db: &DatabaseConnection,
) -> Result<Vec<(String, String, String, i64)>, EngineError> {
    Ok(sqlx::query!(
        r#"SELECT queue AS "queue!", kind AS "kind!", state AS "state!", sum(jobs)::bigint AS "jobs!"
             FROM engine_job_counts GROUP BY queue, kind, state HAVING sum(jobs) <> 0
            ORDER BY queue, kind, state"#
    )
    .fetch_all(pool(db))
    .await?
    .into_iter()
    .map(|row| (row.queue, row.kind, row.state, row.jobs))
    .collect())
}

/// Folds old rows of `engine_job_counts` into buckets (workers call it every few seconds).
pub async fn compact_counts(pool: &sqlx::PgPool) -> Result<(), EngineError> {
    sqlx::query!("SELECT engine_compact_counts()")
        .execute(pool)
        .await?;
    Ok(())
}

/// `(queue, state, count)` for the metrics endpoint.
pub async fn queue_depths(
    db: &DatabaseConnection,
) -> Result<Vec<(String, String, i64)>, EngineError> {
    Ok(sqlx::query!(
        r#"SELECT queue AS "queue!", state AS "state!", sum(jobs)::bigint AS "jobs!"
             FROM engine_job_counts WHERE state IN ('available', 'running')
            GROUP BY queue, state HAVING sum(jobs) <> 0 ORDER BY queue, state"#
    )
    .fetch_all(pool(db))
    .await?
    .into_iter()
    .map(|row| (row.queue, row.state, row.jobs))
    .collect())
}

#[derive(Clone, Debug, Serialize)]
pub struct ScheduleRow {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub kind: String,
    pub queue: String,
    pub overlap: String,
    pub enabled: bool,
    pub next_run_at: DateTime<Utc>,
    pub last_slot: Option<DateTime<Utc>>,
    pub last_job_id: Option<i64>,
    pub last_job_state: Option<String>,
}

pub async fn schedules(db: &DatabaseConnection) -> Result<Vec<ScheduleRow>, EngineError> {
    Ok(sqlx::query_as!(
        ScheduleRow,
        r#"SELECT s.name, s.cron, s.timezone, s.kind, s.queue, s.overlap, s.enabled, s.next_run_at,
                  r.slot AS "last_slot?", r.job_id AS last_job_id, j.state AS "last_job_state?"
             FROM engine_schedules s
             LEFT JOIN LATERAL (SELECT slot, job_id FROM engine_schedule_runs
                                 WHERE schedule = s.name ORDER BY slot DESC LIMIT 1) r ON true
             LEFT JOIN engine_jobs j ON j.id = r.job_id
            ORDER BY s.name"#
    )
    .fetch_all(pool(db))
    .await?)
}

pub async fn set_schedule_enabled(
    db: &DatabaseConnection,
    name: &str,
    enabled: bool,
) -> Result<(), EngineError> {
    let changed = sqlx::query!(
        "UPDATE engine_schedules SET enabled = $2, updated_at = now() WHERE name = $1",
        name,
        enabled
    )
    .execute(pool(db))
    .await?;
    if changed.rows_affected() == 0 {
        return Err(EngineError::NotFound(format!("no schedule `{name}`")));
    }
    Ok(())
}
