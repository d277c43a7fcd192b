//! Putting jobs in: inside whatever transaction the caller is in, so a job exists exactly when
//! the change that asked for it commits (J1). Many jobs go in one statement.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::{EngineError, job::JobArgs};

/// A job to enqueue. `NewJob::of(&job)` fills it from a typed job's settings and options.
#[derive(Clone, Debug, PartialEq)]
pub struct NewJob {
    pub kind: String,
    pub args: Value,
    pub queue: String,
    /// Higher runs first; 1 by default.
    pub priority: i16,
    /// Not before this (`None`: now).
    pub run_at: Option<DateTime<Utc>>,
    pub max_attempts: i32,
    /// While a job with this key (and kind) waits or runs, enqueueing another returns it (and
    /// raises its priority to the new one's if higher).
    pub dedupe_key: Option<String>,
    /// Jobs sharing it are capped by the queue's `per_key_limit` (e.g. a target host).
    pub concurrency_key: Option<String>,
    /// For finding a family of jobs (e.g. everything about one project).
    pub group_key: Option<String>,
    /// Who asked: a user, an API client, `cron:<schedule>`.
    pub created_by: Option<String>,
    /// What the job belongs to across systems (e.g. the event that caused it); it is in the
    /// job's log lines.
    pub correlation_id: Option<uuid::Uuid>,
}

impl NewJob {
    pub fn new(kind: impl Into<String>, args: Value) -> Self {
        NewJob {
            kind: kind.into(),
            args,
            queue: "default".into(),
            priority: 1,
            run_at: None,
            max_attempts: 20,
            dedupe_key: None,
            concurrency_key: None,
            group_key: None,
            created_by: None,
            correlation_id: None,
        }
    }

    /// A typed job, with its kind's settings and its own options.
    pub fn of<A: JobArgs>(job: &A) -> Result<Self, EngineError> {
        let settings = A::settings();
        let options = job.options();
        let args = serde_json::to_value(job)
            .map_err(|e| EngineError::Invalid(format!("arguments of {}: {e}", A::KIND)))?;
        Ok(NewJob {
            kind: A::KIND.into(),
            args,
            queue: settings.queue.into(),
            priority: options.priority.unwrap_or(settings.priority),
            run_at: options.run_at,
            max_attempts: settings.max_attempts,
            dedupe_key: options.dedupe_key,
            concurrency_key: options.concurrency_key,
            group_key: options.group_key,
            created_by: None,
            correlation_id: None,
        })
    }

    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    pub fn priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }

    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }

    pub fn delay(self, delay: std::time::Duration) -> Self {
        let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        self.run_at(at)
    }

    pub fn max_attempts(mut self, attempts: i32) -> Self {
        self.max_attempts = attempts;
        self
    }

    pub fn dedupe_key(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    pub fn concurrency_key(mut self, key: impl Into<String>) -> Self {
        self.concurrency_key = Some(key.into());
        self
    }

    pub fn group_key(mut self, key: impl Into<String>) -> Self {
        self.group_key = Some(key.into());
        self
    }

    pub fn created_by(mut self, who: impl Into<String>) -> Self {
        self.created_by = Some(who.into());
        self
    }

    pub fn correlation_id(mut self, id: uuid::Uuid) -> Self {
        self.correlation_id = Some(id);
        self
    }

    fn validate(&self) -> Result<(), EngineError> {
        let invalid = |m: &str| Err(EngineError::Invalid(m.into()));
        if self.kind.trim().is_empty() || self.kind.len() > 200 {
            return invalid("a job kind is 1 to 200 characters");
        }
        if self.queue.trim().is_empty() || self.queue.len() > 200 {
            return invalid("a queue name is 1 to 200 characters");
        }
        if self.max_attempts < 1 {
            return invalid("max_attempts must be at least 1");
        }
        Ok(())
    }

    fn row(&self) -> Value {
        json!({
            "kind": self.kind, "args": self.args, "queue": self.queue,
            "priority": self.priority, "run_at": self.run_at, "max_attempts": self.max_attempts,
            "dedupe_key": self.dedupe_key, "concurrency_key": self.concurrency_key,
            "group_key": self.group_key, "created_by": self.created_by,
            "correlation_id": self.correlation_id,
        })
    }
}

/// The job a request ended up as: new, or the live one with the same dedupe key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enqueued {
    pub id: i64,
    /// A live job with the same dedupe key existed (its priority may have been raised).
    pub existed: bool,
}

/// Jobs ready for `engine_add_jobs`: validated, duplicates of the batch merged.
struct Batch {
    jobs: Vec<NewJob>,
    /// The rows as one JSON document: one statement however many jobs.
    rows: Value,
    /// Per given job, the index of its row and whether it was merged into an earlier one.
    slot_of: Vec<(usize, bool)>,
    unique: usize,
}

impl Batch {
    fn of(jobs: Vec<NewJob>) -> Result<Batch, EngineError> {
        for job in &jobs {
            job.validate()?;
        }
        // One statement may not update the same row twice: merge duplicates of the batch first.
        let mut unique: Vec<NewJob> = Vec::with_capacity(jobs.len());
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        let mut slot_of = Vec::with_capacity(jobs.len());
        for job in &jobs {
            match &job.dedupe_key {
                Some(key) => match seen.get(&(job.kind.clone(), key.clone())) {
                    Some(&index) => {
                        unique[index].priority = unique[index].priority.max(job.priority);
                        slot_of.push((index, true));
                    }
                    None => {
                        seen.insert((job.kind.clone(), key.clone()), unique.len());
                        slot_of.push((unique.len(), false));
                        unique.push(job.clone());
                    }
                },
                None => {
                    slot_of.push((unique.len(), false));
                    unique.push(job.clone());
                }
            }
        }
        Ok(Batch {
            rows: Value::Array(unique.iter().map(NewJob::row).collect()),
            unique: unique.len(),
            jobs,
            slot_of,
        })
    }

    /// What each given job became, from the stored rows `(id, existed)`.
    fn enqueued(self, stored: Vec<(i64, bool)>) -> Result<Vec<Enqueued>, EngineError> {
        if stored.len() != self.unique {
            return Err(EngineError::Invalid(format!(
                "{} jobs were sent and {} stored",
                self.unique,
                stored.len()
            )));
        }
        let metrics = crate::Metrics::global();
        for job in &self.jobs {
            metrics.enqueued(&job.kind, 1);
        }
        Ok(self
            .slot_of
            .into_iter()
            .map(|(index, merged)| Enqueued {
                id: stored[index].0,
                existed: stored[index].1 || merged,
            })
            .collect())
    }
}

/// Enqueues one job in the transaction (or connection) `db`.
pub async fn enqueue(db: &impl ConnectionTrait, job: NewJob) -> Result<Enqueued, EngineError> {
    let mut enqueued = enqueue_many(db, vec![job]).await?;
    enqueued
        .pop()
        .ok_or_else(|| EngineError::Invalid("the insert returned no job".into()))
}

/// Enqueues many jobs in one statement, in the transaction (or connection) `db`. The result has
/// one entry per given job, in order; jobs of the batch sharing a dedupe key become one job.
/// Every job goes in through `engine_add_jobs`, as the capture trigger's and the outbox's do.
pub async fn enqueue_many(
    db: &impl ConnectionTrait,
    jobs: Vec<NewJob>,
) -> Result<Vec<Enqueued>, EngineError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let batch = Batch::of(jobs)?;
    let rows = db
        .query_all_raw(checked!(
            r#"SELECT id AS "id!", existed AS "existed!" FROM engine_add_jobs($1)"#,
            batch.rows.clone()
        ))
        .await?;
    let stored = rows
        .iter()
        // By position: the column names carry `query!`'s non-null marks.
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect::<Result<_, sea_orm::DbErr>>()?;
    batch.enqueued(stored)
}

/// [`enqueue_many`] on the engine's own connection (its transactions are sqlx's).
pub(crate) async fn enqueue_many_in(
    conn: &mut sqlx::PgConnection,
    jobs: Vec<NewJob>,
) -> Result<Vec<Enqueued>, EngineError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let batch = Batch::of(jobs)?;
    let stored = sqlx::query!(
        r#"SELECT id AS "id!", existed AS "existed!" FROM engine_add_jobs($1)"#,
        batch.rows
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|row| (row.id, row.existed))
    .collect();
    batch.enqueued(stored)
}

/// `args.enqueue(&txn)` for typed jobs.
pub trait JobExt: JobArgs + Sized {
    fn enqueue(
        &self,
        db: &impl ConnectionTrait,
    ) -> impl std::future::Future<Output = Result<Enqueued, EngineError>> + Send {
        let job = NewJob::of(self);
        async move { enqueue(db, job?).await }
    }
}

impl<A: JobArgs> JobExt for A {}

/// A job enqueued under an idempotency key: the same request again answers the same job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Idempotent {
    pub id: i64,
    /// The key had been used before (with the same request): nothing new was stored.
    pub replayed: bool,
}

/// Keys are remembered this long (then pruned with finished jobs).
pub const IDEMPOTENCY_HOURS: i64 = 24;

/// Enqueues `job` once per `(scope, key)`, in the caller's transaction `txn`. `fingerprint`
/// identifies the request (e.g. a hash of kind, query and body): the same key with a different
/// request is a `Conflict`. Concurrent requests with one key wait for each other (an advisory
/// lock held to the end of the transaction), so exactly one job is stored.
pub async fn enqueue_idempotent(
    txn: &impl ConnectionTrait,
    scope: &str,
    key: &str,
    fingerprint: &[u8],
    job: NewJob,
) -> Result<Idempotent, EngineError> {
    if key.is_empty() || key.len() > 255 {
        return Err(EngineError::Invalid(
            "an Idempotency-Key is 1 to 255 characters".into(),
        ));
    }
    txn.execute_raw(checked!(
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))",
        scope,
        key
    ))
    .await?;
    let existing = txn
        .query_one_raw(checked!(
            "SELECT job_id, request_sha256 FROM engine_idempotency
              WHERE scope = $1 AND key = $2 AND created_at > now() - make_interval(hours => $3)",
            scope,
            key,
            IDEMPOTENCY_HOURS as i32
        ))
        .await?;
    if let Some(row) = existing {
        let stored: Vec<u8> = row.try_get("", "request_sha256")?;
        if stored != fingerprint {
            return Err(EngineError::Conflict(
                "this Idempotency-Key was used with a different request".into(),
            ));
        }
        return Ok(Idempotent {
            id: row.try_get("", "job_id")?,
            replayed: true,
        });
    }
    let enqueued = enqueue(txn, job).await?;
    txn.execute_raw(checked!(
        "INSERT INTO engine_idempotency (scope, key, request_sha256, job_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (scope, key) DO UPDATE
            SET request_sha256 = excluded.request_sha256, job_id = excluded.job_id, created_at = now()",
        scope,
        key,
        fingerprint.to_vec(),
        enqueued.id
    ))
    .await?;
    Ok(Idempotent {
        id: enqueued.id,
        replayed: false,
    })
}
