//! A durable job engine on PostgreSQL. See `docs/architecture.md` ("The job engine") for the
//! rules it keeps (J1–J14 in the specification) and how.
//!
//! ```text
//! enqueue(&txn, NewJob)  ─▶ engine_jobs (available) ─▶ Worker: claim ─▶ handler ─▶ completed
//!                                                        │  lease, heartbeat, fencing
//!                                     Scheduler (cron) ──┘  reaper, retries, cancel, timeouts
//! ```
//!
//! The engine knows nothing of the application: a kind's arguments ([`JobArgs`]) are what
//! callers enqueue; its handler ([`Handler`]) is registered once in a [`Registry`].

/// A statement to run on a sea-orm connection (the caller's transaction), checked against the
/// schema at build time like the engine's other statements: `query!` type-checks the same text
/// and parameters (offline data in `.sqlx/`) and is never run.
macro_rules! checked {
    ($sql:literal $(, $arg:expr)* $(,)?) => {{
        if false {
            let _ = sqlx::query!($sql $(, $arg)*);
        }
        let values: Vec<sea_orm::Value> = vec![$(sea_orm::Value::from($arg)),*];
        sea_orm::Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, $sql, values)
    }};
}

pub mod admin;
pub mod enqueue;
pub mod events;
pub mod job;
pub mod listen;
pub mod metrics;
pub mod net;
pub mod retry;
pub mod scheduler;
/// The engine's tables and functions as SQL (its own crate, which migrations build against).
pub use engine_schema::schema;
pub mod testing;
pub mod updates;
pub mod webhooks;
pub mod worker;

pub use enqueue::{
    Enqueued, Idempotent, JobExt, NewJob, enqueue, enqueue_idempotent, enqueue_many,
};
pub use job::{
    ArgsError, BuildError, Catalog, Handler, HandlerFn, JobArgs, JobContext, JobError, JobOptions,
    KindSettings, Registry, handler_fn,
};
pub use metrics::Metrics;
pub use retry::RetryPolicy;
pub use scheduler::{Overlap, Schedule, Scheduler};
pub use worker::{Attempt, QueueConfig, Worker, WorkerConfig, panic_message};

/// The pool behind a sea-orm connection: the engine's own statements run on it with sqlx.
pub(crate) fn pool(db: &sea_orm::DatabaseConnection) -> &sqlx::PgPool {
    db.get_postgres_connection_pool()
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// The job is in a state that does not allow it (e.g. cancelling a finished job).
    #[error("{0}")]
    Conflict(String),
}

/// Whether `err` says the database is unreachable, restarting or overloaded, or that the
/// statement lost a race it may win when tried again (deadlock, serialization) — as opposed to a
/// statement or data that will fail the same way every time.
pub fn is_transient(err: &sqlx::Error) -> bool {
    use sqlx::Error;
    match err {
        Error::Io(_)
        | Error::Tls(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed
        | Error::Protocol(_) => true,
        Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 40: transaction rollback (deadlock, serialization);
            // 53: insufficient resources; 57P01–03: shutdown, crash, not yet accepting.
            code.starts_with("08")
                || code.starts_with("40")
                || code.starts_with("53")
                || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}
