//! What admins do to jobs, queues, schedules and webhook endpoints (GraphQL, the dashboard):
//! every operation requires an admin caller.

use super::search::{self, Page, Query};
use chrono::{DateTime, Utc};
use engine::{
    admin::{self, AttemptRow, JobRow, QueueStats, ScheduleRow},
    net::AllowedHosts,
    webhooks::{self, Delivery, Endpoint, NewEndpoint},
};
use sea_orm::DatabaseConnection;
use serde_json::Value;
use uuid::Uuid;

use crate::state::AppState;
use mintbean_core::{
    auth::Caller,
    config::Config,
    error::{AppError, AppResult},
};

/// Filters of the admin job list (each optional).
#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    pub state: Vec<String>,
    pub kind: Option<String>,
    pub queue: Option<String>,
    pub group_key: Option<String>,
    pub created_by: Option<String>,
    /// Any of a job's dedupe, concurrency and group keys.
    pub key: Option<String>,
    pub error_contains: Option<String>,
}

/// Newest first, `first` (≤ 100) at a time after the cursor `after`.
pub async fn jobs(
    db: &DatabaseConnection,
    caller: &Caller,
    filter: JobFilter,
    first: u64,
    after: Option<String>,
) -> AppResult<Page> {
    caller.require_admin()?;
    if let Some(kind) = &filter.kind {
        mintbean_core::validation::no_nul("kind", kind)?;
    }
    let mut pairs: Vec<(String, String)> = filter
        .state
        .into_iter()
        .map(|s| ("state".to_owned(), s))
        .collect();
    for (name, value) in [
        ("queue", filter.queue),
        ("group_key", filter.group_key),
        ("created_by", filter.created_by),
        ("key", filter.key),
        ("error", filter.error_contains),
        ("cursor", after),
    ] {
        if let Some(value) = value {
            pairs.push((name.to_owned(), value));
        }
    }
    pairs.push(("limit".to_owned(), first.to_string()));
    let query = Query::parse(&pairs).map_err(|e| AppError::BadInput {
        field: e
            .field
            .map(|f| if f == "limit" { "first".into() } else { f }),
        message: e.message,
    })?;
    Ok(search::search(db, filter.kind.as_deref(), None, &query).await?)
}

pub async fn job(db: &DatabaseConnection, caller: &Caller, id: i64) -> AppResult<Option<JobRow>> {
    caller.require_admin()?;
    Ok(admin::find(db, id).await?)
}

/// The attempts of jobs the caller may already see (for the job list's loader).
pub async fn attempts_of(
    db: &DatabaseConnection,
    ids: &[i64],
) -> AppResult<Vec<(i64, AttemptRow)>> {
    Ok(admin::attempts_of(db, ids).await?)
}

pub async fn queues(db: &DatabaseConnection, caller: &Caller) -> AppResult<Vec<QueueStats>> {
    caller.require_admin()?;
    Ok(admin::stats(db).await?)
}

/// Admins. Attempts completed and failed per queue, in 5-minute buckets over `minutes`.
pub async fn activity(
    db: &DatabaseConnection,
    caller: &Caller,
    minutes: i32,
) -> AppResult<Vec<admin::Activity>> {
    caller.require_admin()?;
    Ok(admin::activity(db, minutes, 5).await?)
}

/// Admins. Every job kind this server knows (what `enqueueJob` accepts).
pub fn kinds(caller: &Caller, registry: &engine::Catalog) -> AppResult<Vec<String>> {
    caller.require_admin()?;
    let mut kinds: Vec<String> = registry
        .kinds()
        .into_iter()
        .map(|(kind, _)| kind.to_owned())
        .collect();
    kinds.sort();
    Ok(kinds)
}

/// Admins. Sends a webhook delivery again: a failed one is retried, a finished one copied.
pub async fn redeliver(db: &DatabaseConnection, caller: &Caller, job_id: i64) -> AppResult<JobRow> {
    caller.require_admin()?;
    Ok(engine::webhooks::redeliver(db, job_id).await?)
}

pub async fn schedules(db: &DatabaseConnection, caller: &Caller) -> AppResult<Vec<ScheduleRow>> {
    caller.require_admin()?;
    Ok(admin::schedules(db).await?)
}

/// Enqueues any registered kind (admins are operators), recorded as theirs.
pub async fn enqueue(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    args: Value,
    run_at: Option<DateTime<Utc>>,
    priority: Option<i16>,
) -> AppResult<JobRow> {
    let user = caller.require_admin()?;
    let mut job = state
        .jobs
        .build(kind, args)
        .map_err(|e| match e {
            engine::BuildError::UnknownKind(kind) => {
                AppError::bad_input("kind", format!("unknown job kind `{kind}`"))
            }
            engine::BuildError::Args(error) => AppError::BadInput {
                field: error
                    .field
                    .map(|f| format!("args.{f}"))
                    .or(Some("args".into())),
                message: error.message,
            },
        })?
        .created_by(format!("user:{}", user.id));
    if let Some(at) = run_at {
        job = job.run_at(at);
    }
    if let Some(priority) = priority {
        job = job.priority(priority);
    }
    let stored = engine::enqueue(&state.db, job).await?;
    admin::find(&state.db, stored.id)
        .await?
        .ok_or_else(|| AppError::internal("an enqueued job vanished"))
}

pub async fn cancel(db: &DatabaseConnection, caller: &Caller, id: i64) -> AppResult<JobRow> {
    caller.require_admin()?;
    Ok(admin::cancel(db, id).await?)
}

pub async fn retry(db: &DatabaseConnection, caller: &Caller, id: i64) -> AppResult<JobRow> {
    caller.require_admin()?;
    Ok(admin::retry(db, id).await?)
}

/// Pauses a queue for `seconds` (forever when `None`).
pub async fn pause(
    db: &DatabaseConnection,
    caller: &Caller,
    queue: &str,
    seconds: Option<i64>,
) -> AppResult<()> {
    caller.require_admin()?;
    mintbean_core::validation::no_nul("queue", queue)?;
    let until = match seconds {
        Some(s) if !(1..=365 * 86_400).contains(&s) => {
            return Err(AppError::bad_input("forSeconds", "1 second to 365 days"));
        }
        Some(s) => Some(Utc::now() + chrono::Duration::seconds(s)),
        None => None,
    };
    Ok(admin::pause(db, queue, until).await?)
}

pub async fn resume(db: &DatabaseConnection, caller: &Caller, queue: &str) -> AppResult<()> {
    caller.require_admin()?;
    mintbean_core::validation::no_nul("queue", queue)?;
    Ok(admin::resume(db, queue).await?)
}

pub async fn endpoints(db: &DatabaseConnection, caller: &Caller) -> AppResult<Vec<Endpoint>> {
    caller.require_admin()?;
    Ok(webhooks::list(db).await?)
}

/// The newest `limit` deliveries of each endpoint (for the endpoint list's loader).
pub async fn deliveries_of(
    db: &DatabaseConnection,
    endpoints: &[Uuid],
    limit: u64,
) -> AppResult<Vec<(Uuid, Delivery)>> {
    Ok(webhooks::deliveries_of(db, endpoints, limit).await?)
}

/// Registers an endpoint (its URL checked against the SSRF rules now); the answer carries the
/// secret, shown this once.
pub async fn add_endpoint(
    state: &AppState,
    caller: &Caller,
    mut new: NewEndpoint,
) -> AppResult<Endpoint> {
    let user = caller.require_admin()?;
    new.created_by = Some(format!("user:{}", user.id));
    register_endpoint(&state.db, &state.config, &state.jobs, new).await
}

/// Stores an endpoint. Without `kinds` it hears about the task kinds (those offered on the
/// API), not Mintbean's internal jobs (email drains, deliveries).
pub async fn register_endpoint(
    db: &DatabaseConnection,
    config: &Config,
    registry: &engine::Catalog,
    mut new: NewEndpoint,
) -> AppResult<Endpoint> {
    if new.kinds.is_none() {
        let kinds = registry
            .public_kinds()
            .iter()
            .map(|k| k.0.to_owned())
            .collect();
        new.kinds = Some(kinds);
    }
    if let Some(format) = &new.format
        && !super::koalati::WEBHOOK_FORMATS.contains(&format.as_str())
    {
        return Err(AppError::bad_input(
            "format",
            format!(
                "`{format}` is not one of {}",
                super::koalati::WEBHOOK_FORMATS.join(", ")
            ),
        ));
    }
    let hosts = AllowedHosts::new(&config.jobs.tasks.webhook_allow_hosts);
    webhooks::add(db, &hosts, new).await.map_err(|e| match e {
        engine::EngineError::Invalid(message) => match message.split_once(": ") {
            Some((field, rest)) if ["url", "events", "format", "kinds"].contains(&field) => {
                AppError::bad_input(field, rest)
            }
            _ => AppError::BadInput {
                field: None,
                message,
            },
        },
        other => other.into(),
    })
}

pub async fn remove_endpoint(db: &DatabaseConnection, caller: &Caller, id: Uuid) -> AppResult<()> {
    caller.require_admin()?;
    Ok(webhooks::remove(db, id).await?)
}

pub async fn set_endpoint_enabled(
    db: &DatabaseConnection,
    caller: &Caller,
    id: Uuid,
    enabled: bool,
) -> AppResult<Endpoint> {
    caller.require_admin()?;
    Ok(webhooks::set_enabled(db, id, enabled).await?)
}
