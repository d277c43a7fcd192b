//! The task operations behind the REST API, the Koalati API and GraphQL: every rule (scopes,
//! public kinds, idempotency, the cancel state machine) is here, whichever door a call came in.

use super::search::{self, Page, Query};
use chrono::{DateTime, Utc};
use engine::{
    BuildError, Catalog, NewJob,
    admin::{self, AttemptRow, JobRow},
};
use sea_orm::{DatabaseConnection, TransactionTrait};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{principal::Principal, tokens::Action};
use mintbean_core::error::{AppError, AppResult};

/// A kind offered to clients.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct KindInfo {
    pub kind: String,
    pub queue: String,
    pub max_attempts: i32,
    /// JSON Schema of the arguments (the request body of `POST /tasks/{kind}`).
    #[schema(value_type = Object)]
    pub schema: Value,
}

pub fn kinds(registry: &Catalog) -> Vec<KindInfo> {
    registry
        .public_kinds()
        .into_iter()
        .map(|(kind, settings, schema)| KindInfo {
            kind: kind.to_owned(),
            queue: settings.queue.to_owned(),
            max_attempts: settings.max_attempts,
            schema: schema.clone(),
        })
        .collect()
}

/// A job as clients see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Task {
    pub id: i64,
    pub kind: String,
    /// available, running, completed, failed, cancelled, discarded.
    pub state: String,
    pub queue: String,
    pub priority: i16,
    #[schema(value_type = Object)]
    pub args: Value,
    #[schema(value_type = Option<Object>)]
    pub progress: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    pub last_error: Option<String>,
    pub attempt: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub cancel_requested_at: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
    /// Every finished attempt (only when one task is asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub attempts: Option<Vec<AttemptRow>>,
}

impl From<JobRow> for Task {
    fn from(job: JobRow) -> Self {
        Task {
            id: job.id,
            kind: job.kind,
            state: job.state,
            queue: job.queue,
            priority: job.priority,
            args: job.args,
            progress: job.progress,
            result: job.result,
            last_error: job.last_error,
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            run_at: job.run_at,
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            cancel_requested_at: job.cancel_requested_at,
            created_by: job.created_by,
            attempts: None,
        }
    }
}

/// A request to create a task.
pub struct CreateTask<'a> {
    pub kind: &'a str,
    pub args: Value,
    pub run_at: Option<DateTime<Utc>>,
    /// When to run, as the client wrote it (`delay=10m`): what the fingerprint holds, so a
    /// retried request matches its first sending although `run_at` is computed anew.
    pub timing_as_sent: Option<String>,
    pub priority: Option<i16>,
    /// With the request's fingerprint: the same key again answers the same task.
    pub idempotency_key: Option<&'a str>,
}

/// The job to store for `request`, refused with the failing field.
fn public_kind(registry: &Catalog, kind: &str) -> AppResult<()> {
    if registry.is_public(kind) {
        Ok(())
    } else {
        Err(AppError::NotFound(format!("no task kind `{kind}`")))
    }
}

pub fn build(registry: &Catalog, kind: &str, args: Value) -> AppResult<NewJob> {
    public_kind(registry, kind)?;
    let job = registry.build(kind, args).map_err(|e| match e {
        BuildError::UnknownKind(kind) => AppError::NotFound(format!("no task kind `{kind}`")),
        BuildError::Args(error) => AppError::BadInput {
            field: error.field,
            message: error.message,
        },
    })?;
    // The kind names its own fields' problems; a NUL anywhere else still cannot be stored.
    mintbean_core::validation::json_without_nul("args", &job.args)?;
    Ok(job)
}

/// Stores the task in one transaction (with its idempotency key); answers it and whether it
/// existed already (same key, or a live duplicate of a deduplicated kind).
pub async fn create(
    db: &DatabaseConnection,
    registry: &Catalog,
    principal: &Principal,
    request: CreateTask<'_>,
) -> AppResult<(Task, bool)> {
    principal.require(request.kind, Action::Create)?;
    let fingerprint = fingerprint(&request);
    let mut job = build(registry, request.kind, request.args)?.created_by(principal.created_by());
    // A duplicate is one of this client's own live tasks: another client's task (its id, its
    // creator) is never handed back, so each client gets its own.
    if let Some(key) = job.dedupe_key.take() {
        job = job.dedupe_key(format!("{}|{key}", principal.created_by()));
    }
    if let Some(at) = request.run_at {
        job = job.run_at(at);
    }
    if let Some(priority) = request.priority {
        job = job.priority(priority);
    }
    let txn = db.begin().await?;
    let (id, existed) = match request.idempotency_key {
        Some(key) => {
            let scope = format!("{}:{}", principal.created_by(), request.kind);
            let stored = engine::enqueue_idempotent(&txn, &scope, key, &fingerprint, job).await?;
            (stored.id, stored.replayed)
        }
        None => {
            let stored = engine::enqueue(&txn, job).await?;
            (stored.id, stored.existed)
        }
    };
    txn.commit().await?;
    // Read after the commit: a worker may have claimed it already, which the answer then says.
    let row = admin::find(db, id)
        .await?
        .ok_or_else(|| AppError::internal("a stored task vanished"))?;
    Ok((row.into(), existed))
}

fn fingerprint(request: &CreateTask<'_>) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(request.kind.as_bytes());
    hash.update(request.args.to_string().as_bytes());
    hash.update(format!("{:?}|{:?}", request.timing_as_sent, request.priority).as_bytes());
    hash.finalize().to_vec()
}

/// One task of `kind`, with its attempts; `NOT_FOUND` for another kind's id too.
pub async fn get(
    db: &DatabaseConnection,
    registry: &Catalog,
    principal: &Principal,
    kind: &str,
    id: i64,
) -> AppResult<Task> {
    principal.require(kind, Action::Read)?;
    let job = find_of_kind(db, registry, principal, kind, id).await?;
    let mut task = Task::from(job);
    task.attempts = Some(admin::attempts(db, id).await?);
    Ok(task)
}

/// A job of a public kind (internal jobs are not tasks, whatever a token's scopes say) that the
/// principal may see: another client's task is `NOT_FOUND`, as if it did not exist.
async fn find_of_kind(
    db: &DatabaseConnection,
    registry: &Catalog,
    principal: &Principal,
    kind: &str,
    id: i64,
) -> AppResult<JobRow> {
    public_kind(registry, kind)?;
    let owner = principal.owner_filter(kind);
    admin::find(db, id)
        .await?
        .filter(|job| job.kind == kind)
        .filter(|job| owner.is_none() || job.created_by == owner)
        .ok_or_else(|| AppError::NotFound(format!("no `{kind}` task {id}")))
}

/// Tasks of `kind` matching the query-string `pairs`.
pub async fn search(
    db: &DatabaseConnection,
    registry: &Catalog,
    principal: &Principal,
    kind: &str,
    pairs: &[(String, String)],
) -> AppResult<TaskPage> {
    principal.require(kind, Action::Read)?;
    public_kind(registry, kind)?;
    let pairs = awsuper_aliases(registry, kind, pairs);
    let query = Query::parse(&pairs).map_err(|e| AppError::BadInput {
        field: e.field,
        message: e.message,
    })?;
    let owner = principal.owner_filter(kind);
    let page: Page = search::search(db, Some(kind), owner.as_deref(), &query).await?;
    Ok(TaskPage {
        num_found: page.num_found,
        num_found_exact: page.num_found_exact,
        data: page.data.into_iter().map(Task::from).collect(),
        next_cursor: page.next_cursor,
    })
}

/// AWSuper clients filter by their model's fields: `?url=` is the argument `url` (a property of
/// the kind's schema that is not one of the job's own fields), `status=COMPLETED` is `state`
/// (AWSuper's statuses in capitals; PENDING is `available`), `date_created` is `created_at`.
fn awsuper_aliases(
    registry: &Catalog,
    kind: &str,
    pairs: &[(String, String)],
) -> Vec<(String, String)> {
    let arguments: Vec<String> = registry
        .public_kinds()
        .into_iter()
        .find(|(name, ..)| *name == kind)
        .and_then(|(.., schema)| schema["properties"].as_object().cloned())
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default();
    pairs
        .iter()
        .map(|(key, value)| {
            let (field, bracket) = match key.find('[') {
                Some(at) => key.split_at(at),
                None => (key.as_str(), ""),
            };
            match field {
                "status" => (
                    format!("state{bracket}"),
                    match value.as_str() {
                        "PENDING" => "available".to_owned(),
                        other => other.to_lowercase(),
                    },
                ),
                "date_created" => (format!("created_at{bracket}"), value.clone()),
                _ if !search::is_field(field) && arguments.iter().any(|a| a == field) => {
                    (format!("args.{field}{bracket}"), value.clone())
                }
                _ => (key.clone(), value.clone()),
            }
        })
        .collect()
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TaskPage {
    /// Matches, counted up to 10 000 (then `num_found_exact` is false).
    pub num_found: i64,
    pub num_found_exact: bool,
    pub data: Vec<Task>,
    pub next_cursor: Option<String>,
}

/// Cancels through the engine's state machine: waiting → cancelled, running → cancel
/// requested, finished → `CONFLICT`.
pub async fn cancel(
    db: &DatabaseConnection,
    registry: &Catalog,
    principal: &Principal,
    kind: &str,
    id: i64,
) -> AppResult<Task> {
    principal.require(kind, Action::Cancel)?;
    find_of_kind(db, registry, principal, kind, id).await?;
    Ok(admin::cancel(db, id).await?.into())
}

/// `?when=`: RFC 3339 with an offset (a local time would be read in the server's zone).
pub fn parse_when(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| "`when` is an RFC 3339 time with an offset, e.g. 2026-12-01T10:00:00Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mintbean_core::validation::parse_delay;

    #[test]
    fn delays_have_units_and_bounds() {
        assert_eq!(parse_delay("30s").unwrap().as_secs(), 30);
        assert_eq!(parse_delay("5000ms").unwrap().as_millis(), 5000);
        assert!(parse_delay("5000").unwrap_err().contains("5000ms"));
        assert_eq!(parse_delay("10m").unwrap().as_secs(), 600);
        assert_eq!(parse_delay("1h").unwrap().as_secs(), 3600);
        assert_eq!(parse_delay("1d").unwrap().as_secs(), 86_400);
        for bad in ["", "-5", "10w", "m", "400d", "1e400"] {
            assert!(parse_delay(bad).is_err(), "{bad}");
        }
        assert!(parse_when("2026-12-01T10:00:00").is_err());
        assert!(parse_when("2026-12-01T10:00:00+01:00").is_ok());
    }
}
