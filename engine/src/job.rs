//! Job kinds: a name with typed arguments ([`JobArgs`], what callers enqueue) and a handler
//! ([`Handler`], what a worker runs), registered once at start-up ([`Registry`]).

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::enqueue::NewJob;

/// How a handler failed.
#[derive(Debug, Clone, PartialEq)]
pub enum JobError {
    /// Worth another attempt (after a backoff, or at `retry_at` when given).
    Retryable {
        message: String,
        retry_at: Option<DateTime<Utc>>,
    },
    /// Will never succeed: the job is discarded with the reason.
    Permanent(String),
    /// The handler stopped because its cancellation token fired.
    Cancelled,
    /// Not now, and not the job's fault (River's snooze): it runs again at `until` without
    /// spending an attempt (e.g. the service it needs is down).
    Snoozed {
        message: String,
        until: DateTime<Utc>,
    },
}

impl JobError {
    pub fn retryable(error: impl std::fmt::Display) -> Self {
        JobError::Retryable {
            message: error.to_string(),
            retry_at: None,
        }
    }

    /// "Try again at `at`" (e.g. when a remote service says when it will be back).
    pub fn retry_at(at: DateTime<Utc>, error: impl std::fmt::Display) -> Self {
        JobError::Retryable {
            message: error.to_string(),
            retry_at: Some(at),
        }
    }

    pub fn permanent(error: impl std::fmt::Display) -> Self {
        JobError::Permanent(error.to_string())
    }

    /// "Run me again at `until`; this try does not count" (an outage, not a failure).
    pub fn snooze(until: DateTime<Utc>, reason: impl std::fmt::Display) -> Self {
        JobError::Snoozed {
            message: reason.to_string(),
            until,
        }
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::Retryable { message, .. }
            | JobError::Permanent(message)
            | JobError::Snoozed { message, .. } => f.write_str(message),
            JobError::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// Arguments that are not acceptable, and where (`field` as a path like `items[2].url`).
#[derive(Clone, Debug, PartialEq)]
pub struct ArgsError {
    pub field: Option<String>,
    pub message: String,
}

impl ArgsError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ArgsError {
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ArgsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why [`Registry::build`] refused a job.
#[derive(Clone, Debug, PartialEq)]
pub enum BuildError {
    UnknownKind(String),
    Args(ArgsError),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::UnknownKind(kind) => write!(f, "unknown job kind `{kind}`"),
            BuildError::Args(error) => write!(f, "arguments: {error}"),
        }
    }
}

/// What a kind is like, whatever its arguments.
#[derive(Clone, Debug)]
pub struct KindSettings {
    pub queue: &'static str,
    pub priority: i16,
    pub max_attempts: i32,
    /// Logged (once per attempt) when an attempt runs longer than this.
    pub warn_after: Option<Duration>,
    /// The token fires at `timeout`; the attempt is aborted `cancel_grace` later if still running.
    pub timeout: Option<Duration>,
    /// How long a handler may take to stop once its token fired.
    pub cancel_grace: Duration,
}

impl Default for KindSettings {
    fn default() -> Self {
        KindSettings {
            queue: "default",
            priority: 1,
            max_attempts: 20,
            warn_after: None,
            timeout: None,
            cancel_grace: Duration::from_secs(5),
        }
    }
}

/// Per-job options a kind derives from its arguments.
#[derive(Clone, Debug, Default)]
pub struct JobOptions {
    pub priority: Option<i16>,
    pub run_at: Option<DateTime<Utc>>,
    pub dedupe_key: Option<String>,
    pub concurrency_key: Option<String>,
    pub group_key: Option<String>,
}

/// The arguments of a job kind (River's `JobArgs`): what a caller enqueues. A plain serde
/// type with the kind's name and rules, importable without the handler's dependencies; the
/// handler ([`Handler`]) is registered once, where the worker is built.
pub trait JobArgs: Serialize + DeserializeOwned + Send + Sync + 'static {
    const KIND: &'static str;

    fn settings() -> KindSettings {
        KindSettings::default()
    }

    fn options(&self) -> JobOptions {
        JobOptions::default()
    }

    /// The JSON Schema of the arguments. Kinds that give one are offered to API clients (the
    /// task API lists and accepts only them); the rest are internal.
    fn schema() -> Option<Value> {
        None
    }

    /// Rules on the arguments that their types do not express (checked before enqueueing from
    /// the outside).
    fn validate(&self) -> Result<(), ArgsError> {
        Ok(())
    }
}

/// What runs a job of kind `A` (River's `Worker`). A handler holds what it needs (clients,
/// configuration); one value may handle several kinds.
pub trait Handler<A: JobArgs>: Send + Sync + 'static {
    fn run(&self, args: A, ctx: JobContext)
    -> impl Future<Output = Result<Value, JobError>> + Send;
}

/// A handler from a function or closure: `handler_fn(|args: MyArgs, ctx| async move { ... })`.
pub fn handler_fn<A, F, Fut>(run: F) -> HandlerFn<F>
where
    A: JobArgs,
    F: Fn(A, JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, JobError>> + Send + 'static,
{
    HandlerFn(run)
}

/// See [`handler_fn`].
pub struct HandlerFn<F>(F);

impl<A, F, Fut> Handler<A> for HandlerFn<F>
where
    A: JobArgs,
    F: Fn(A, JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, JobError>> + Send + 'static,
{
    fn run(
        &self,
        args: A,
        ctx: JobContext,
    ) -> impl Future<Output = Result<Value, JobError>> + Send {
        (self.0)(args, ctx)
    }
}

/// What a handler gets besides its arguments.
pub struct JobContext {
    pub job_id: i64,
    /// This attempt, from 1 (the fencing token).
    pub attempt: i32,
    /// The attempts the job may have: this is its last when `attempt == max_attempts`.
    pub max_attempts: i32,
    pub(crate) handle: crate::worker::JobHandle,
}

impl JobContext {
    /// Fires when the job is cancelled, times out, or its worker lost the lease or shuts down.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.handle.token
    }

    pub fn is_cancelled(&self) -> bool {
        self.handle.token.is_cancelled()
    }

    /// `Err(Cancelled)` once the job should stop: call it between steps.
    pub fn checkpoint(&self) -> Result<(), JobError> {
        if self.is_cancelled() {
            Err(JobError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Records progress, readable at once by anyone looking at the job. Refused (and the token
    /// fired) when this worker no longer holds the job.
    pub async fn progress(&self, progress: Value) -> Result<(), JobError> {
        self.handle
            .progress(self.job_id, self.attempt, progress)
            .await
    }

    /// The engine's database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.handle.db
    }
}

/// A registered handler, with its arguments still JSON.
pub(crate) type ErasedHandler = Arc<
    dyn Fn(Value, JobContext) -> Result<BoxFuture<'static, Result<Value, JobError>>, String>
        + Send
        + Sync,
>;

/// What the engine knows of a kind without its handler.
#[derive(Clone)]
pub(crate) struct Kind {
    pub settings: KindSettings,
    /// The job `args` describe, with the kind's settings and options (`Err`: they do not decode
    /// or break the kind's rules).
    pub build: fn(Value) -> Result<NewJob, ArgsError>,
    pub schema: Option<Value>,
}

/// The kinds by name, with their settings and argument rules: what is needed to build jobs
/// that arrive as JSON (command line, HTTP), without any handler.
#[derive(Clone, Default)]
pub struct Catalog {
    pub(crate) kinds: HashMap<&'static str, Kind>,
}

impl Catalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a kind. Names are unique: adding one twice is a programming error.
    pub fn with<A: JobArgs>(mut self) -> Self {
        self.add::<A>();
        self
    }

    fn add<A: JobArgs>(&mut self) {
        let kind = Kind {
            settings: A::settings(),
            build: build::<A>,
            schema: A::schema(),
        };
        let previous = self.kinds.insert(A::KIND, kind);
        assert!(
            previous.is_none(),
            "job kind `{}` registered twice",
            A::KIND
        );
    }

    pub fn contains(&self, kind: &str) -> bool {
        self.kinds.contains_key(kind)
    }

    /// Every kind, by name (sorted).
    pub fn kinds(&self) -> Vec<(&'static str, &KindSettings)> {
        let mut kinds: Vec<_> = self
            .kinds
            .iter()
            .map(|(name, kind)| (*name, &kind.settings))
            .collect();
        kinds.sort_unstable_by_key(|(name, _)| *name);
        kinds
    }

    pub fn settings(&self, kind: &str) -> Option<&KindSettings> {
        self.kinds.get(kind).map(|k| &k.settings)
    }

    /// The job of `kind` with `args`, as the kind's own code would enqueue it (its queue,
    /// priority, attempts and keys); `Err` names an unknown kind or arguments that do not decode.
    pub fn build(&self, kind: &str, args: Value) -> Result<NewJob, BuildError> {
        let registered = self
            .kinds
            .get(kind)
            .ok_or_else(|| BuildError::UnknownKind(kind.to_owned()))?;
        (registered.build)(args).map_err(BuildError::Args)
    }

    /// [`Catalog::build`] with the error as one sentence.
    pub fn new_job(&self, kind: &str, args: Value) -> Result<NewJob, String> {
        self.build(kind, args).map_err(|e| match e {
            BuildError::Args(error) => format!("arguments of `{kind}`: {error}"),
            unknown => unknown.to_string(),
        })
    }

    /// The kinds offered to API clients (those with a schema), by name, with the schema.
    pub fn public_kinds(&self) -> Vec<(&'static str, &KindSettings, &Value)> {
        let mut kinds: Vec<_> = self
            .kinds
            .iter()
            .filter_map(|(name, kind)| Some((*name, &kind.settings, kind.schema.as_ref()?)))
            .collect();
        kinds.sort_unstable_by_key(|(name, ..)| *name);
        kinds
    }

    pub fn is_public(&self, kind: &str) -> bool {
        self.kinds.get(kind).is_some_and(|k| k.schema.is_some())
    }

    /// The queues the kinds use.
    pub fn queues(&self) -> Vec<&'static str> {
        let mut queues: Vec<&'static str> = self.kinds.values().map(|k| k.settings.queue).collect();
        queues.sort_unstable();
        queues.dedup();
        queues
    }
}

/// The kinds a worker runs: each kind's arguments ([`Catalog`]) with its handler.
#[derive(Default)]
pub struct Registry {
    pub(crate) catalog: Catalog,
    pub(crate) handlers: HashMap<&'static str, ErasedHandler>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` for the kind `A`. Names are unique: registering one twice is a
    /// programming error.
    pub fn register<A: JobArgs, H: Handler<A>>(mut self, handler: H) -> Self {
        self.catalog.add::<A>();
        let handler = Arc::new(handler);
        let erased: ErasedHandler = Arc::new(move |args, ctx| {
            let args: A = serde_json::from_value(args)
                .map_err(|e| format!("arguments do not decode as {}: {e}", A::KIND))?;
            let handler = handler.clone();
            Ok(Box::pin(async move { handler.run(args, ctx).await }))
        });
        self.handlers.insert(A::KIND, erased);
        self
    }

    /// The registered kinds without their handlers.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }
}

/// The path of the first string (or key) in `value` holding a NUL character, which PostgreSQL
/// cannot store in `jsonb`.
fn nul_path(value: &Value, path: &str) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(text) if text.contains('\0') => Some(path.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, &format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(join(key))
            } else {
                nul_path(item, &join(key))
            }
        }),
        _ => None,
    }
}

/// Decodes `args` as `J` (naming the failing field), checks `J`'s rules, and makes the job.
fn build<A: JobArgs>(args: Value) -> Result<NewJob, ArgsError> {
    if let Some(path) = nul_path(&args, "") {
        return Err(ArgsError {
            field: (!path.is_empty()).then_some(path),
            message: "text may not contain NUL characters".into(),
        });
    }
    let job: A = serde_path_to_error::deserialize(args).map_err(|e| {
        let path = e.path().to_string();
        ArgsError {
            field: (path != ".").then_some(path),
            message: e.into_inner().to_string(),
        }
    })?;
    job.validate()?;
    NewJob::of(&job).map_err(|e| ArgsError {
        field: None,
        message: e.to_string(),
    })
}
