//! Jobs over GraphQL, for admins: queries, mutations, and `jobUpdates`, a subscription (over
//! graphql-ws at `/graphql/ws`) that pushes state and progress as they change in any process.

use std::collections::HashMap;

use async_graphql::{
    ComplexObject, Context, Enum, ID, InputObject, Json, Object, SimpleObject, Subscription,
    dataloader::Loader,
};

use crate::graphql::error::Result;
use engine::{
    admin::{AttemptRow, JobRow, QueueStats, ScheduleRow},
    webhooks::{Delivery, Endpoint, NewEndpoint},
};
use futures_util::{Stream, StreamExt};
use serde_json::Value;
use uuid::Uuid;

use crate::graphql::{
    context::{app, caller},
    limits::list_complexity,
    loader::{DbLoader, LoadError, Loaders, group_rows, into_load_error, loaders},
    scalars::DateTime,
};
use crate::tasks::{admin, principal::Principal};
use mintbean_core::error::{AppError, AppResult};

fn job_id(id: &ID) -> AppResult<i64> {
    id.parse()
        .map_err(|_| AppError::bad_input("id", "not a job id"))
}

fn opt_time(at: Option<chrono::DateTime<chrono::Utc>>) -> Option<DateTime> {
    at.map(DateTime)
}

/// A job of the engine.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct Job {
    pub id: ID,
    pub kind: String,
    pub queue: String,
    /// available, running, completed, failed, cancelled, discarded.
    pub state: String,
    pub priority: i32,
    pub args: Json<Value>,
    pub progress: Option<Json<Value>>,
    pub result: Option<Json<Value>>,
    pub last_error: Option<String>,
    pub attempt: i32,
    pub max_attempts: i32,
    pub run_at: DateTime,
    pub created_at: DateTime,
    pub started_at: Option<DateTime>,
    pub finished_at: Option<DateTime>,
    pub cancel_requested_at: Option<DateTime>,
    pub created_by: Option<String>,
    pub group_key: Option<String>,
    #[graphql(skip)]
    pub numeric_id: i64,
}

impl From<JobRow> for Job {
    fn from(job: JobRow) -> Self {
        Job {
            id: ID(job.id.to_string()),
            numeric_id: job.id,
            kind: job.kind,
            queue: job.queue,
            state: job.state,
            priority: job.priority.into(),
            args: Json(job.args),
            progress: job.progress.map(Json),
            result: job.result.map(Json),
            last_error: job.last_error,
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            run_at: DateTime(job.run_at),
            created_at: DateTime(job.created_at),
            started_at: opt_time(job.started_at),
            finished_at: opt_time(job.finished_at),
            cancel_requested_at: opt_time(job.cancel_requested_at),
            created_by: job.created_by,
            group_key: job.group_key,
        }
    }
}

/// One finished attempt of a job.
#[derive(SimpleObject, Clone)]
pub struct JobAttempt {
    pub attempt: i32,
    /// completed, retried, failed, panicked, timed_out, cancelled, lease_expired, …
    pub outcome: String,
    pub error: Option<String>,
    pub started_at: Option<DateTime>,
    pub finished_at: DateTime,
    pub duration_ms: Option<f64>,
}

impl From<AttemptRow> for JobAttempt {
    fn from(row: AttemptRow) -> Self {
        JobAttempt {
            attempt: row.attempt,
            outcome: row.outcome,
            error: row.error,
            started_at: opt_time(row.started_at),
            finished_at: DateTime(row.finished_at),
            duration_ms: row.duration_ms,
        }
    }
}

/// The attempts of a job (one batched query for a page of jobs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttemptsOfJob(pub i64);

impl Loader<AttemptsOfJob> for DbLoader {
    type Value = Vec<JobAttempt>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[AttemptsOfJob],
    ) -> Result<HashMap<AttemptsOfJob, Vec<JobAttempt>>, LoadError> {
        self.fetch_once(keys, |db, keys| async move {
            let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
            let rows = admin::attempts_of(&db, &ids)
                .await
                .map_err(into_load_error)?;
            Ok(group_rows(
                &keys,
                rows.into_iter()
                    .map(|(id, row)| (AttemptsOfJob(id), JobAttempt::from(row))),
            ))
        })
        .await
    }
}

impl AttemptsOfJob {
    /// Batched within a request; read directly in a subscription's events (a connection lives
    /// long, and a loader's cache would keep old attempts).
    async fn load(ctx: &Context<'_>, id: i64) -> AppResult<Vec<JobAttempt>> {
        if ctx.data_opt::<Loaders>().is_none() {
            let rows = admin::attempts_of(&app(ctx).db, &[id]).await?;
            return Ok(rows.into_iter().map(|(_, row)| row.into()).collect());
        }
        Ok(loaders(ctx)
            .load_one(AttemptsOfJob(id))
            .await?
            .unwrap_or_default())
    }
}

#[ComplexObject]
impl Job {
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn attempts(&self, ctx: &Context<'_>) -> Result<Vec<JobAttempt>> {
        Ok(AttemptsOfJob::load(ctx, self.numeric_id).await?)
    }
}

#[derive(SimpleObject)]
pub struct JobPage {
    #[graphql(complexity = "list_complexity(child_complexity)")]
    pub nodes: Vec<Job>,
    /// Matches, counted up to 10 000 (then `totalCountExact` is false).
    pub total_count: i64,
    pub total_count_exact: bool,
    /// Pass as `after` for the next page; null on the last.
    pub end_cursor: Option<String>,
}

#[derive(InputObject, Default)]
pub struct JobFilter {
    /// Any of these states.
    pub state: Option<Vec<String>>,
    pub kind: Option<String>,
    pub queue: Option<String>,
    pub group_key: Option<String>,
    pub created_by: Option<String>,
    /// A dedupe, concurrency or group key.
    pub key: Option<String>,
    /// Text in the last error (case-insensitive).
    pub error_contains: Option<String>,
}

#[derive(SimpleObject)]
pub struct Queue {
    pub name: String,
    pub available: i64,
    pub scheduled: i64,
    pub running: i64,
    pub completed: i64,
    pub failed: i64,
    pub cancelled: i64,
    pub discarded: i64,
    pub oldest_waiting_seconds: Option<f64>,
    pub completed_last_minute: i64,
    /// Paused now: until `pausedUntil`, or until resumed when that is null.
    pub paused: bool,
    pub paused_until: Option<DateTime>,
}

impl From<QueueStats> for Queue {
    fn from(q: QueueStats) -> Self {
        Queue {
            name: q.queue,
            available: q.available,
            scheduled: q.scheduled,
            running: q.running,
            completed: q.completed,
            failed: q.failed,
            cancelled: q.cancelled,
            discarded: q.discarded,
            oldest_waiting_seconds: q.oldest_waiting_seconds,
            completed_last_minute: q.completed_last_minute,
            paused: q.paused,
            paused_until: opt_time(q.paused_until),
        }
    }
}

/// Attempts of one queue that ended in a 5-minute bucket.
#[derive(SimpleObject)]
pub struct QueueActivity {
    pub queue: String,
    pub bucket: DateTime,
    pub completed: i64,
    pub failed: i64,
}

#[derive(SimpleObject)]
pub struct JobSchedule {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub kind: String,
    pub queue: String,
    pub enabled: bool,
    pub next_run_at: DateTime,
    pub last_slot: Option<DateTime>,
    pub last_job_id: Option<ID>,
    pub last_job_state: Option<String>,
}

impl From<ScheduleRow> for JobSchedule {
    fn from(s: ScheduleRow) -> Self {
        JobSchedule {
            name: s.name,
            cron: s.cron,
            timezone: s.timezone,
            kind: s.kind,
            queue: s.queue,
            enabled: s.enabled,
            next_run_at: DateTime(s.next_run_at),
            last_slot: opt_time(s.last_slot),
            last_job_id: s.last_job_id.map(|id| ID(id.to_string())),
            last_job_state: s.last_job_state,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct WebhookEndpoint {
    pub id: ID,
    pub url: String,
    #[graphql(complexity = "list_complexity(child_complexity)")]
    pub events: Vec<String>,
    #[graphql(complexity = "list_complexity(child_complexity)")]
    pub kinds: Option<Vec<String>>,
    pub format: String,
    pub enabled: bool,
    pub description: Option<String>,
    pub created_at: DateTime,
    #[graphql(skip)]
    pub uuid: Uuid,
}

impl From<Endpoint> for WebhookEndpoint {
    fn from(e: Endpoint) -> Self {
        WebhookEndpoint {
            id: ID(e.id.to_string()),
            uuid: e.id,
            url: e.url,
            events: e.events,
            kinds: e.kinds,
            format: e.format,
            enabled: e.enabled,
            description: e.description,
            created_at: DateTime(e.created_at),
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct WebhookDelivery {
    pub job_id: ID,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub task_id: Option<ID>,
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub response: Option<Json<Value>>,
    pub created_at: DateTime,
    pub finished_at: Option<DateTime>,
}

impl From<Delivery> for WebhookDelivery {
    fn from(d: Delivery) -> Self {
        WebhookDelivery {
            job_id: ID(d.job_id.to_string()),
            event_id: d.event_id,
            event_type: d.event_type,
            task_id: d.task_id.map(|id| ID(id.to_string())),
            state: d.state,
            attempts: d.attempts,
            last_error: d.last_error,
            response: d.result.map(Json),
            created_at: DateTime(d.created_at),
            finished_at: opt_time(d.finished_at),
        }
    }
}

/// The newest deliveries of an endpoint, at most `.1` of them (one statement per distinct
/// limit for a list of endpoints).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeliveriesOfEndpoint(pub Uuid, pub u64);

impl Loader<DeliveriesOfEndpoint> for DbLoader {
    type Value = Vec<WebhookDelivery>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[DeliveriesOfEndpoint],
    ) -> Result<HashMap<DeliveriesOfEndpoint, Vec<WebhookDelivery>>, LoadError> {
        self.fetch_once(keys, |db, keys| async move {
            let mut limits: Vec<u64> = keys.iter().map(|k| k.1).collect();
            limits.sort_unstable();
            limits.dedup();
            let mut rows = Vec::new();
            for limit in limits {
                let endpoints: Vec<Uuid> =
                    keys.iter().filter(|k| k.1 == limit).map(|k| k.0).collect();
                let found = admin::deliveries_of(&db, &endpoints, limit)
                    .await
                    .map_err(into_load_error)?;
                rows.extend(found.into_iter().map(|(endpoint, delivery)| {
                    (DeliveriesOfEndpoint(endpoint, limit), delivery.into())
                }));
            }
            Ok(group_rows(&keys, rows))
        })
        .await
    }
}

#[ComplexObject]
impl WebhookEndpoint {
    /// The newest deliveries (the delivery log), at most `limit` (≤ 100).
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] limit: u64,
    ) -> Result<Vec<WebhookDelivery>> {
        let key = DeliveriesOfEndpoint(self.uuid, limit.clamp(1, 100));
        let deliveries: AppResult<_> = loaders(ctx).load_one(key).await.map_err(Into::into);
        Ok(deliveries?.unwrap_or_default())
    }
}

/// A new endpoint and its signing secret (shown this once).
#[derive(SimpleObject)]
pub struct NewWebhookEndpoint {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
}

#[derive(Default)]
pub struct JobQuery;

#[Object]
impl JobQuery {
    /// Jobs, newest first (admins).
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        filter: Option<JobFilter>,
        #[graphql(default = 20)] first: u64,
        after: Option<String>,
    ) -> Result<JobPage> {
        let filter = filter.unwrap_or_default();
        let filter = admin::JobFilter {
            state: filter.state.unwrap_or_default(),
            kind: filter.kind,
            queue: filter.queue,
            group_key: filter.group_key,
            created_by: filter.created_by,
            key: filter.key,
            error_contains: filter.error_contains,
        };
        let page = admin::jobs(&app(ctx).db, &caller(ctx).await?, filter, first, after).await?;
        Ok(JobPage {
            nodes: page.data.into_iter().map(Job::from).collect(),
            total_count: page.num_found,
            total_count_exact: page.num_found_exact,
            end_cursor: page.next_cursor,
        })
    }

    async fn job(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Job>> {
        let job = admin::job(&app(ctx).db, &caller(ctx).await?, job_id(&id)?).await?;
        Ok(job.map(Job::from))
    }

    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn queues(&self, ctx: &Context<'_>) -> Result<Vec<Queue>> {
        let queues = admin::queues(&app(ctx).db, &caller(ctx).await?).await?;
        Ok(queues.into_iter().map(Queue::from).collect())
    }

    /// Per queue, attempts completed and failed in 5-minute buckets over the last `minutes`.
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn queue_activity(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 60)] minutes: i32,
    ) -> Result<Vec<QueueActivity>> {
        let rows = admin::activity(&app(ctx).db, &caller(ctx).await?, minutes).await?;
        Ok(rows
            .into_iter()
            .map(|a| QueueActivity {
                queue: a.queue,
                bucket: DateTime(a.bucket),
                completed: a.completed,
                failed: a.failed,
            })
            .collect())
    }

    /// Every job kind `enqueueJob` accepts.
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn job_kinds(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        Ok(admin::kinds(&caller(ctx).await?, &app(ctx).jobs)?)
    }

    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn schedules(&self, ctx: &Context<'_>) -> Result<Vec<JobSchedule>> {
        let schedules = admin::schedules(&app(ctx).db, &caller(ctx).await?).await?;
        Ok(schedules.into_iter().map(JobSchedule::from).collect())
    }

    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> Result<Vec<WebhookEndpoint>> {
        let endpoints = admin::endpoints(&app(ctx).db, &caller(ctx).await?).await?;
        Ok(endpoints.into_iter().map(WebhookEndpoint::from).collect())
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    Json,
    KoalatiForm,
}

#[derive(Default)]
pub struct JobMutation;

#[Object]
impl JobMutation {
    /// Enqueues a job of any registered kind (admins).
    async fn enqueue_job(
        &self,
        ctx: &Context<'_>,
        kind: String,
        args: Option<Json<Value>>,
        run_at: Option<DateTime>,
        priority: Option<i16>,
    ) -> Result<Job> {
        let args = args.map_or_else(|| serde_json::json!({}), |a| a.0);
        let job = admin::enqueue(
            app(ctx),
            &caller(ctx).await?,
            &kind,
            args,
            run_at.map(|at| at.0),
            priority,
        )
        .await?;
        Ok(job.into())
    }

    async fn cancel_job(&self, ctx: &Context<'_>, id: ID) -> Result<Job> {
        let job = admin::cancel(&app(ctx).db, &caller(ctx).await?, job_id(&id)?).await?;
        Ok(job.into())
    }

    /// Sends a webhook delivery again (retried if it failed, copied if it was delivered).
    async fn redeliver_webhook(&self, ctx: &Context<'_>, job_id: ID) -> Result<Job> {
        let job =
            admin::redeliver(&app(ctx).db, &caller(ctx).await?, self::job_id(&job_id)?).await?;
        Ok(job.into())
    }

    async fn retry_job(&self, ctx: &Context<'_>, id: ID) -> Result<Job> {
        let job = admin::retry(&app(ctx).db, &caller(ctx).await?, job_id(&id)?).await?;
        Ok(job.into())
    }

    /// Pauses a queue, for `forSeconds` or until resumed.
    async fn pause_queue(
        &self,
        ctx: &Context<'_>,
        queue: String,
        for_seconds: Option<i64>,
    ) -> Result<bool> {
        admin::pause(&app(ctx).db, &caller(ctx).await?, &queue, for_seconds).await?;
        Ok(true)
    }

    async fn resume_queue(&self, ctx: &Context<'_>, queue: String) -> Result<bool> {
        admin::resume(&app(ctx).db, &caller(ctx).await?, &queue).await?;
        Ok(true)
    }

    /// Registers a webhook endpoint (events: task.succeeded, task.failed, task.handler_error;
    /// all when left out).
    async fn add_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        url: String,
        events: Option<Vec<String>>,
        kinds: Option<Vec<String>>,
        format: Option<WebhookFormat>,
        description: Option<String>,
    ) -> Result<NewWebhookEndpoint> {
        let state = app(ctx);
        let new = NewEndpoint {
            url,
            events: events.unwrap_or_default(),
            kinds,
            format: format.map(|f| match f {
                WebhookFormat::Json => "json".into(),
                WebhookFormat::KoalatiForm => "koalati-form".into(),
            }),
            description,
            created_by: None,
        };
        let endpoint = admin::add_endpoint(state, &caller(ctx).await?, new).await?;
        Ok(NewWebhookEndpoint {
            secret: endpoint.secret.clone(),
            endpoint: endpoint.into(),
        })
    }

    async fn remove_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let id = Uuid::parse_str(&id).map_err(|_| AppError::bad_input("id", "not an id"))?;
        admin::remove_endpoint(&app(ctx).db, &caller(ctx).await?, id).await?;
        Ok(true)
    }

    async fn set_webhook_endpoint_enabled(
        &self,
        ctx: &Context<'_>,
        id: ID,
        enabled: bool,
    ) -> Result<WebhookEndpoint> {
        let id = Uuid::parse_str(&id).map_err(|_| AppError::bad_input("id", "not an id"))?;
        let endpoint =
            admin::set_endpoint_enabled(&app(ctx).db, &caller(ctx).await?, id, enabled).await?;
        Ok(endpoint.into())
    }
}

#[derive(Default)]
pub struct JobSubscription;

#[Subscription]
impl JobSubscription {
    /// The job (or every job of `kind`) each time its state, attempt or progress changes —
    /// whichever process runs it. Admins follow any job; others the jobs they enqueued. A
    /// stream for one job starts with its current state and ends after it finishes.
    async fn job_updates(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        kind: Option<String>,
    ) -> Result<impl Stream<Item = Job> + use<>> {
        let principal = ctx
            .data_opt::<Principal>()
            .cloned()
            .ok_or_else(AppError::unauthenticated)?;
        let target = match (id, kind) {
            (Some(id), None) => crate::tasks::live::Target::Job(job_id(&id)?),
            (None, Some(kind)) => {
                mintbean_core::validation::no_nul("kind", &kind)?;
                crate::tasks::live::Target::Kind(kind)
            }
            _ => return Err(AppError::bad_input("id", "give either id or kind").into()),
        };
        let state = app(ctx).clone();
        let limit = state.config.http.max_subscriptions_per_caller;
        let permit = state
            .subscriptions
            .try_take(&principal.created_by(), limit)
            .ok_or_else(|| AppError::TooManyRequests {
                message: format!(
                    "at most {limit} subscriptions at once (WS_MAX_SUBSCRIPTIONS_PER_CALLER): end one first"
                ),
                retry_after_secs: 1,
            })?;
        let stream = crate::tasks::live::follow(state, principal, target).await?;
        // Held while the stream lives: ending the subscription gives it back.
        Ok(stream.map(move |row| {
            let _held = &permit;
            Job::from(row)
        }))
    }
}
