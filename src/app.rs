//! The composition root: what a Mintbean process is made of. It builds the shared state, the
//! job registry (each kind's arguments with its handler), the detectors, the queues and
//! schedules, and runs the worker (`jobs worker`, or inside `mintbean serve` with
//! `JOBS_IN_SERVER=true` / `--with-worker`). Nothing else builds these, and no domain imports
//! this module. Several worker processes on several hosts are safe: the engine's claims,
//! leases and schedule slots are in PostgreSQL.

use std::{sync::Arc, time::Duration};

use engine::{
    JobArgs, QueueConfig, Registry, Schedule, Scheduler, Worker, WorkerConfig,
    admin::{self, QueueSettings},
    events::DetectEvent,
    net::AllowedHosts,
    webhooks::{DeliverWebhook, WebhookSender},
};
use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use crate::{handlers, state::AppState, tasks::tools::LinkCheckTool};
use mintbean_core::{
    auth::PasswordHasher,
    config::Config,
    email::{
        drain::{Drainer, Summary},
        jobs::{
            self as email_jobs, BadgeAwarded, CancelMeetEmails, ConfirmRegistration, DrainEmails,
            ProjectSubmitted, SendEmail, SyncMeetReminders, Welcome,
        },
    },
    projects::{
        jobs::{self as project_jobs, CheckLink, RecheckAllLinks},
        links::LinkChecker,
    },
};

/// Where detections run (the capture trigger enqueues them there).
pub const EVENTS_QUEUE: &str = "events";

/// Every job kind Mintbean runs, each with its handler.
pub fn registry(db: &DatabaseConnection, config: &Config) -> Result<Registry, String> {
    let drain = handlers::email::Drain {
        drainer: Arc::new(Drainer::new(db.clone(), config.email.clone())?),
    };
    let effects = handlers::email::Effects {
        domain: drain.drainer.sender_domain().into(),
        config: Arc::new(config.email.clone()),
    };
    let links = handlers::links::Links {
        checker: LinkChecker::new(&config.jobs.link_check)?,
    };
    let tasks = &config.jobs.tasks;
    let webhooks = crate::tasks::koalati::with_webhook_format(WebhookSender::new(
        AllowedHosts::new(&tasks.webhook_allow_hosts),
        tasks.webhook_timeout,
    )?);
    let detectors = Arc::new(mintbean_core::events::detectors(config)?);
    Ok(Registry::new()
        .register::<DrainEmails, _>(drain.clone())
        .register::<SendEmail, _>(drain)
        .register::<CheckLink, _>(links.clone())
        .register::<LinkCheckTool, _>(links.clone())
        .register::<RecheckAllLinks, _>(links)
        .register::<DeliverWebhook, _>(webhooks)
        .register::<DetectEvent, _>(detectors)
        .register::<SyncMeetReminders, _>(effects.clone())
        .register::<CancelMeetEmails, _>(effects.clone())
        .register::<ConfirmRegistration, _>(effects.clone())
        .register::<Welcome, _>(effects.clone())
        .register::<ProjectSubmitted, _>(effects.clone())
        .register::<BadgeAwarded, _>(effects))
}

impl AppState {
    /// The state of a server process (its job catalog from [`registry`]).
    pub fn new(db: DatabaseConnection, config: Config) -> anyhow::Result<Self> {
        let passwords = PasswordHasher::new(config.password_hash_concurrency)
            .rehash_legacy(config.rehash_legacy_passwords);
        let catalog = registry(&db, &config)
            .map_err(anyhow::Error::msg)?
            .catalog()
            .clone();
        let detectors = mintbean_core::events::detectors(&config).map_err(anyhow::Error::msg)?;
        let queues = worker_config(&config)
            .queues
            .into_iter()
            .map(|q| (q.name, q.concurrency))
            .collect();
        Ok(AppState::from_parts(
            db,
            Arc::new(config),
            passwords,
            Arc::new(catalog),
            Arc::new(detectors),
            Arc::new(queues),
        ))
    }
}

pub fn schedules(config: &Config) -> Vec<Schedule> {
    vec![email_jobs::schedule(config.email.poll_interval)]
}

/// The queues one worker process serves, and how many jobs of each it runs at once.
pub fn worker_config(config: &Config) -> WorkerConfig {
    WorkerConfig {
        queues: vec![
            QueueConfig::new("default", config.jobs.concurrency),
            // EMAIL_CONCURRENCY emails at once (the expansion's schedule runs one at a time).
            QueueConfig::new(email_jobs::QUEUE, config.email.concurrency),
            QueueConfig::new(project_jobs::QUEUE, config.jobs.link_check_concurrency),
            QueueConfig::new(engine::webhooks::QUEUE, config.jobs.webhook_concurrency),
            QueueConfig::new(EVENTS_QUEUE, config.jobs.events.concurrency),
        ]
        .into_iter()
        .map(|queue| queue.prefetch(config.jobs.prefetch))
        .collect(),
        shutdown_grace: config.jobs.shutdown_grace,
        lease: config.jobs.lease,
        retention: Some(config.jobs.retention).filter(|r| !r.is_zero()),
        // Rescue soon after a lease ends, without scanning more than needed.
        reaper_interval: (config.jobs.lease / 6)
            .clamp(Duration::from_millis(200), Duration::from_secs(5)),
        ..WorkerConfig::default()
    }
}

/// Connections a worker process needs: one per job slot (a send holds a second one briefly),
/// and the engine's own (fetchers, completer, heartbeat, reaper, listener, scheduler).
pub fn pool_size(config: &Config) -> u32 {
    let slots: usize = worker_config(config)
        .queues
        .iter()
        .map(|q| q.concurrency)
        .sum();
    (slots + config.email.concurrency + 10) as u32
}

/// `jobs email`: expands the due queue rows, then sends every due email with a worker serving
/// the email queue alone, until none is due (retries that fall due meanwhile included) or
/// `stop` resolves. It stops early, with the reason in the summary, when the mail server is
/// unreachable [`UNREACHABLE_STOP`] times in a row (those emails wait for the next run,
/// their retries untouched).
pub async fn drain_emails(
    db: DatabaseConnection,
    drainer: Arc<Drainer>,
    config: &Config,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<Summary> {
    let started = std::time::Instant::now();
    let mut summary = drainer.expand_due().await?;
    let drain = handlers::email::Drain { drainer };
    let registry = Registry::new()
        .register::<DrainEmails, _>(drain.clone())
        .register::<SendEmail, _>(drain);
    let settings = WorkerConfig {
        queues: vec![QueueConfig::new(
            email_jobs::QUEUE,
            config.email.concurrency,
        )],
        shutdown_grace: config.jobs.shutdown_grace,
        lease: config.jobs.lease,
        retention: None,
        ..WorkerConfig::default()
    };
    let (attempts_tx, mut attempts) = tokio::sync::mpsc::unbounded_channel();
    let (abort_tx, abort) = watch::channel(false);
    let worker = Worker::new(db, registry, settings).observe(attempts_tx);
    let running = worker.run_until_idle(async move {
        let mut abort = abort;
        tokio::select! {
            _ = stop => {}
            _ = abort.wait_for(|aborted| *aborted) => {}
        }
    });
    let counting = async {
        let mut unreachable = 0;
        while let Some(attempt) = attempts.recv().await {
            if attempt.kind != SendEmail::KIND {
                continue;
            }
            match attempt.outcome {
                "completed"
                    if attempt
                        .result
                        .as_ref()
                        .is_some_and(|r| r["status"] == "sent") =>
                {
                    summary.sent += 1
                }
                "completed" => {}
                "snoozed" | "retried" | "panicked" | "timed_out" => summary.retried += 1,
                // Put back unstarted (the run was stopped) or cancelled: not a failure.
                "released" | "cancelled" => {}
                _ => {
                    summary.failed += 1;
                    let reason = attempt.error.as_deref().unwrap_or("");
                    if reason.starts_with("gave up after") {
                        summary.exhausted += 1;
                    }
                }
            }
            let reason = attempt.error.unwrap_or_default();
            if attempt.outcome == "snoozed" && reason != handlers::email::BUSY {
                // The email waits for the mail server; the run reports it (exit status 1).
                summary.aborted = Some(format!("the mail server is unavailable ({reason})"));
                unreachable += 1;
                if unreachable == UNREACHABLE_STOP {
                    let _ = abort_tx.send(true);
                }
            } else {
                unreachable = 0;
            }
        }
        summary
    };
    let (ran, mut summary) = tokio::join!(running, counting);
    ran?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Unreachable mail server answers in a row after which `jobs email` stops.
pub const UNREACHABLE_STOP: u32 = 3;

/// The queue rules Mintbean's kinds rely on (stored, so every worker's claim honours them): at
/// most 3 checks per host, and fairness (`JOBS_FAIR_EVERY`) between premium and free requests.
/// An operator's `jobs queue set` wins over them until `jobs queue reset`; the log says which.
pub async fn configure_queues(
    db: &DatabaseConnection,
    config: &Config,
) -> Result<(), engine::EngineError> {
    let links = QueueSettings {
        per_key_limit: Some(project_jobs::PER_HOST_LIMIT),
        fair_every: (config.jobs.fair_every > 0).then_some(config.jobs.fair_every as i32),
        fair_low_max: 1,
        ..QueueSettings::default()
    };
    match admin::configure_queue(db, project_jobs::QUEUE, &links).await? {
        admin::Configured::Applied => {
            tracing::info!(queue = project_jobs::QUEUE, settings = ?links, "queue settings from the configuration");
        }
        admin::Configured::OperatorKept(kept) if kept != links => {
            tracing::warn!(
                queue = project_jobs::QUEUE,
                operator = ?kept,
                configuration = ?links,
                "queue settings set by an operator (jobs queue set) are kept over the configuration's; `jobs queue reset` hands them back"
            );
        }
        admin::Configured::OperatorKept(_) => {}
    }
    Ok(())
}

/// Runs the worker pool and the scheduler until `shutdown` resolves; then stops claiming, lets
/// running jobs finish within `JOBS_SHUTDOWN_GRACE_SECS`, and releases the rest.
pub async fn run_worker(
    db: DatabaseConnection,
    config: Arc<Config>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let registry = registry(&db, &config).map_err(anyhow::Error::msg)?;
    configure_queues(&db, &config).await?;
    mintbean_core::events::ensure_capture(&db, &config).await?;
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
    let mut settings = worker_config(&config);
    if config.jobs.tasks.mock_mode {
        // Koalati's mock mode fakes the tools (the kinds offered to clients), nothing else.
        settings.mock_kinds = registry
            .catalog()
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
