//! Helpers for applications' tests (River's `rivertest`, `Oban.Testing`): what was enqueued,
//! decoded as its arguments, and running queued jobs inline — with the real worker, so leases,
//! retries and progress behave as in production.
//!
//! ```ignore
//! // The service enqueued exactly this check:
//! engine::testing::assert_enqueued(&db, &CheckLink { project_id, link: Link::Live, url }).await;
//! // Run what is due in these queues until nothing is left:
//! let attempts = engine::testing::run_queued(&db, registry, &["events", "default"]).await;
//! ```

use std::fmt::Debug;

use sea_orm::DatabaseConnection;

use crate::{
    Attempt, EngineError, JobArgs, QueueConfig, Registry, Worker, WorkerConfig,
    admin::{self, JobFilter, JobRow},
};

/// A waiting or running job of kind `A`, with its arguments decoded.
#[derive(Debug)]
pub struct EnqueuedJob<A> {
    pub job: JobRow,
    pub args: A,
}

/// The jobs of kind `A` that wait or run, oldest first (at most 1 000).
pub async fn enqueued<A: JobArgs>(
    db: &DatabaseConnection,
) -> Result<Vec<EnqueuedJob<A>>, EngineError> {
    let mut found = Vec::new();
    for state in ["available", "running"] {
        let filter = JobFilter {
            state: Some(state.into()),
            kind: Some(A::KIND.into()),
            limit: 1000,
            ..JobFilter::default()
        };
        for job in admin::list(db, &filter).await? {
            let args = serde_json::from_value(job.args.clone()).map_err(|e| {
                EngineError::Invalid(format!("job {} is no {}: {e}", job.id, A::KIND))
            })?;
            found.push(EnqueuedJob { job, args });
        }
    }
    found.sort_by_key(|e| e.job.id);
    Ok(found)
}

/// Panics unless a job of kind `A` with exactly these arguments waits or runs; returns it.
pub async fn assert_enqueued<A: JobArgs + PartialEq + Debug>(
    db: &DatabaseConnection,
    expected: &A,
) -> JobRow {
    let jobs = enqueued::<A>(db).await.expect("the enqueued jobs");
    let args: Vec<&A> = jobs.iter().map(|e| &e.args).collect();
    match jobs.iter().find(|e| e.args == *expected) {
        Some(found) => found.job.clone(),
        None => panic!(
            "no `{}` job with {expected:?} is enqueued; these are: {args:#?}",
            A::KIND
        ),
    }
}

/// Panics if any job of kind `A` waits or runs.
pub async fn refute_enqueued<A: JobArgs + Debug>(db: &DatabaseConnection) {
    let jobs = enqueued::<A>(db).await.expect("the enqueued jobs");
    assert!(
        jobs.is_empty(),
        "no `{}` job should be enqueued; these are: {:#?}",
        A::KIND,
        jobs.iter().map(|e| &e.args).collect::<Vec<_>>()
    );
}

/// Runs the due jobs of `queues` inline, with `registry`'s handlers, until none of them is due
/// or running (jobs they enqueue in those queues included); returns every attempt made.
pub async fn run_queued(
    db: &DatabaseConnection,
    registry: Registry,
    queues: &[&str],
) -> Result<Vec<Attempt>, EngineError> {
    let config = WorkerConfig {
        queues: queues.iter().map(|q| QueueConfig::new(*q, 4)).collect(),
        poll_interval: std::time::Duration::from_millis(50),
        retention: None,
        ..WorkerConfig::default()
    };
    let (observer, mut attempts) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(db.clone(), registry, config).observe(observer);
    let (ran, made) = tokio::join!(worker.run_until_idle(std::future::pending()), async {
        let mut made = Vec::new();
        while let Some(attempt) = attempts.recv().await {
            made.push(attempt);
        }
        made
    });
    ran?;
    Ok(made)
}
