//! Mintbean's background work on the job engine: the kinds it registers, its queues and
//! schedules, and the worker process (`jobs worker`, or inside `mintbean serve` with
//! `JOBS_IN_SERVER=true` / `--with-worker`). Several such processes on several hosts are safe:
//! the engine's claims, leases and schedule slots are in PostgreSQL.

use std::{net::SocketAddr, sync::Arc};

use engine::{
    QueueConfig, Registry, Schedule, Scheduler, Worker, WorkerConfig,
    admin::{self, QueueSettings},
};
use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use crate::{
    config::Config,
    email::{
        effects,
        jobs::{self as email_jobs, DrainEmails},
    },
    http::{self, metrics::MetricsState},
    projects::link_check::{self, CheckLink, LinkCheckTool},
    state::JobState,
};

/// Where detections run (the capture trigger enqueues them there).
pub const EVENTS_QUEUE: &str = "events";

/// Every job kind Mintbean runs.
pub fn registry(state: JobState) -> Registry<JobState> {
    Registry::new(state)
        .register::<DrainEmails>()
        .register::<CheckLink>()
        .register::<LinkCheckTool>()
        .register::<link_check::RecheckAllLinks>()
        .register::<engine::webhooks::DeliverWebhook<JobState>>()
        .register::<engine::events::DetectEvent<JobState>>()
        .register::<effects::SyncMeetReminders>()
        .register::<effects::CancelMeetEmails>()
        .register::<effects::ConfirmRegistration>()
        .register::<effects::Welcome>()
        .register::<effects::ProjectSubmitted>()
        .register::<effects::BadgeAwarded>()
}

pub fn schedules(config: &Config) -> Vec<Schedule> {
    vec![email_jobs::schedule(config.email.poll_interval)]
}

/// The queues one worker process serves, and how many jobs of each it runs at once.
pub fn worker_config(config: &Config) -> WorkerConfig {
    WorkerConfig {
        queues: vec![
            QueueConfig::new("default", config.jobs.concurrency),
            // One drain at a time; the drainer sends EMAIL_CONCURRENCY emails at once itself.
            QueueConfig::new(email_jobs::QUEUE, 1),
            QueueConfig::new(link_check::QUEUE, config.jobs.link_check_concurrency),
            QueueConfig::new(engine::webhooks::QUEUE, config.jobs.webhook_concurrency),
            QueueConfig::new(EVENTS_QUEUE, config.jobs.events.concurrency),
        ],
        shutdown_grace: config.jobs.shutdown_grace,
        lease: config.jobs.lease,
        retention: Some(config.jobs.retention).filter(|r| !r.is_zero()),
        // Rescue soon after a lease ends, without scanning more than needed.
        reaper_interval: (config.jobs.lease / 6).clamp(
            std::time::Duration::from_millis(200),
            std::time::Duration::from_secs(5),
        ),
        ..WorkerConfig::default()
    }
}

/// Connections a worker process needs: one per job slot, the drainer's, and the engine's own
/// (fetchers, completer, heartbeat, reaper, listener, scheduler).
pub fn pool_size(config: &Config) -> u32 {
    let slots: usize = worker_config(config)
        .queues
        .iter()
        .map(|q| q.concurrency)
        .sum();
    (slots + config.email.concurrency + 10) as u32
}

/// The queue rules Mintbean's kinds rely on (stored, so every worker's claim honours them).
pub async fn configure_queues(db: &DatabaseConnection) -> Result<(), engine::EngineError> {
    let links = QueueSettings {
        per_key_limit: Some(link_check::PER_HOST_LIMIT),
        ..QueueSettings::default()
    };
    admin::configure_queue(db, link_check::QUEUE, &links).await
}

/// Runs the worker pool and the scheduler until `shutdown` resolves; then stops claiming, lets
/// running jobs finish within `JOBS_SHUTDOWN_GRACE_SECS`, and releases the rest.
pub async fn run_worker(
    db: DatabaseConnection,
    config: Arc<Config>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let state = JobState::new(db.clone(), config.clone()).map_err(anyhow::Error::msg)?;
    configure_queues(&db).await?;
    crate::events::ensure_capture(&db, &config).await?;
    let scheduler = Scheduler::new(db.clone());
    scheduler.sync(&schedules(&config)).await?;
    let (stop_tx, stop) = watch::channel(false);
    let stopped = |mut stop: watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    let scheduling = tokio::spawn({
        let stop = stop.clone();
        async move { scheduler.run(stopped(stop)).await }
    });
    let registry = registry(state);
    let mut settings = worker_config(&config);
    if config.jobs.tasks.mock_mode {
        // Koalati's mock mode fakes the tools (the kinds offered to clients), nothing else.
        settings.mock_kinds = registry
            .public_kinds()
            .iter()
            .map(|(kind, ..)| kind.to_string())
            .collect();
    }
    let worker = Worker::new(db, registry, settings);
    let working = tokio::spawn(worker.run(stopped(stop)));
    shutdown.await;
    let _ = stop_tx.send(true);
    let _ = scheduling.await;
    working.await??;
    Ok(())
}

/// Serves `GET /metrics` on `address` until `shutdown` resolves.
pub async fn serve_metrics(
    address: SocketAddr,
    db: DatabaseConnection,
    config: &Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(%address, "serving job metrics at /metrics");
    let router = http::metrics::router(MetricsState {
        db,
        token: config.jobs.metrics_token.clone(),
    });
    http::server::serve(router, listener, &config.http, shutdown).await
}
