//! `jobs …` (and `mintbean jobs …`): the worker, and looking at and steering jobs, queues and
//! schedules; `jobs events …` and `jobs email …`. Every listing is a table, or JSON with
//! `--json`.

use std::{net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use engine::{
    EngineError,
    admin::{self, AttemptRow, JobFilter, JobRow},
};
use mintbean_core::{config::Config, db};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use super::{
    Output, duration, email, events,
    table::{Table, cell, short},
    time, time_or_delay,
};
use crate::{app, http};

/// mintbean's background jobs: the worker, and the job, event and email commands. On SIGTERM
/// or Ctrl-C the worker stops claiming, lets running jobs finish (JOBS_SHUTDOWN_GRACE_SECS) and
/// releases the rest. Several workers may run at once, on several hosts: each job is claimed
/// by one of them. Configuration comes from environment variables and .env (README.md).
#[derive(Debug, Parser)]
#[command(name = "jobs", version, arg_required_else_help = true)]
pub struct JobsCli {
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: JobsCommand,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Run the job worker pool and the scheduler until SIGTERM (the email queue and its
    /// expansion every EMAIL_POLL_INTERVAL_SECS, link checks, webhooks, event detection)
    Worker {
        /// Serve Prometheus text at ADDR/metrics (e.g. 127.0.0.1:9187)
        #[arg(long, value_name = "ADDR")]
        metrics_addr: Option<SocketAddr>,
    },
    /// Enqueue a job of KIND (its queue, priority, attempts and keys as its code would)
    Enqueue {
        kind: String,
        /// The arguments, as JSON
        #[arg(long, value_name = "JSON", value_parser = json_value, default_value = "{}")]
        args: Value,
        /// Higher runs first
        #[arg(long, allow_negative_numbers = true)]
        priority: Option<i16>,
        /// When: an RFC 3339 time or a delay (90s, 10m, 2h, 1d)
        #[arg(long, value_name = "TIME|DELAY", value_parser = time_or_delay)]
        run_at: Option<DateTime<Utc>>,
        /// A dedupe key: while a job of KIND with it waits or runs, this one is that one
        #[arg(long, value_name = "DEDUPE-KEY")]
        key: Option<String>,
    },
    /// List jobs, newest first
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        queue: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// A job, its arguments, progress, result and every attempt
    Show { id: JobId },
    /// Cancel a waiting job, or ask a running one to stop
    Cancel { id: JobId },
    /// Run a failed, discarded or cancelled job again
    Retry { id: JobId },
    /// Stop every worker from claiming the queue's jobs (survives restarts)
    Pause {
        queue: String,
        /// For a while (90s, 10m, 2h, 1d); until resumed without it
        #[arg(long = "for", value_name = "DURATION", value_parser = duration)]
        for_: Option<Duration>,
    },
    /// Let workers claim the queue's jobs again
    Resume { queue: String },
    /// A queue's claim settings: set by an operator (kept over the configuration's at every
    /// worker start, with a warning in its log), or handed back to the configuration
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Cron schedules, their next run, last slot and its job
    Schedules,
    /// Per queue: jobs by state, the oldest wait, jobs done in the last 1 and 5 minutes
    Stats,
    /// Events (Hasura, captured changes, invokeEvent): list, show, replay, test a payload
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Send every due email and exit (for cron), keep sending (--watch), or look at the queue
    Email(email::EmailArgs),
}

#[derive(Debug, clap::Subcommand)]
pub enum QueueCommand {
    /// Change a queue's settings durably (0 turns a limit off)
    Set {
        queue: String,
        /// After N higher-priority claims in a row, serve one waiting priority-1 job
        #[arg(long, value_name = "N")]
        fair_every: Option<u32>,
        /// At most N running jobs per concurrency key (e.g. per host)
        #[arg(long, value_name = "N")]
        per_key_limit: Option<u32>,
        /// Jobs of this queue one worker runs at once
        #[arg(long, value_name = "N")]
        concurrency: Option<u32>,
    },
    /// Give the queue's settings back to the configuration (applied at the next worker start)
    Reset { queue: String },
}

/// A job id (a positive number).
#[derive(Clone, Copy, Debug)]
pub struct JobId(pub i64);

impl std::str::FromStr for JobId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        text.parse()
            .ok()
            .filter(|id| *id > 0)
            .map(JobId)
            .ok_or(format!("`{text}` is not a job id"))
    }
}

fn json_value(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
}

/// Runs a `jobs` command line; `args` includes the program name.
pub async fn main(args: &[String]) -> ExitCode {
    let cli: JobsCli = match super::parse("jobs", args) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    run(cli).await
}

/// Runs a parsed `jobs` command.
pub async fn run(cli: JobsCli) -> ExitCode {
    let config =
        match mintbean_core::config::Config::from_env(mintbean_core::config::Component::Jobs) {
            Ok(config) => config,
            Err(err) => {
                eprintln!("{err}");
                return ExitCode::from(2);
            }
        };
    crate::telemetry::init(config.log_format);
    let out = Output { json: cli.json };
    let outcome = match cli.command {
        JobsCommand::Events(command) => events::run(command, &out, config).await,
        JobsCommand::Email(args) => email::run(args, config).await,
        command => run_engine(command, &out, config).await,
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("jobs: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_engine(
    command: JobsCommand,
    out: &Output,
    config: Config,
) -> anyhow::Result<ExitCode> {
    let config = Arc::new(config);
    if let JobsCommand::Worker { metrics_addr } = command {
        return worker(config, metrics_addr).await;
    }
    let connection = db::connect(&config.database_url, 2).await?;
    let result = match command {
        JobsCommand::Enqueue {
            kind,
            args,
            priority,
            run_at,
            key,
        } => {
            let registry = app::registry(&connection, &config).map_err(anyhow::Error::msg)?;
            let mut job = match registry.catalog().new_job(&kind, args) {
                Ok(job) => job.created_by("cli"),
                Err(problem) => return Ok(super::usage_error("jobs", &problem)),
            };
            if let Some(priority) = priority {
                job = job.priority(priority);
            }
            if let Some(at) = run_at {
                job = job.run_at(at);
            }
            if let Some(key) = key {
                job = job.dedupe_key(key);
            }
            let enqueued = engine::enqueue(&connection, job).await?;
            let note = if enqueued.existed {
                " (an equal job was already waiting)"
            } else {
                ""
            };
            out.print(
                &json!({ "id": enqueued.id, "existed": enqueued.existed }),
                || format!("job {} enqueued{note}", enqueued.id),
            );
            Ok(())
        }
        JobsCommand::List {
            state,
            kind,
            queue,
            limit,
        } => {
            let filter = JobFilter {
                state,
                kind,
                queue,
                group_key: None,
                limit,
            };
            list(&connection, &filter, out).await
        }
        JobsCommand::Show { id } => show(&connection, id.0, out).await,
        JobsCommand::Cancel { id: JobId(id) } => admin::cancel(&connection, id).await.map(|job| {
            out.print(&job, || format!("job {id} is {}", describe_cancel(&job)));
        }),
        JobsCommand::Retry { id: JobId(id) } => admin::retry(&connection, id).await.map(|job| {
            out.print(&job, || format!("job {id} is available again"));
        }),
        JobsCommand::Pause { queue, for_ } => pause(&connection, &queue, for_, out).await,
        JobsCommand::Resume { queue } => admin::resume(&connection, &queue).await.map(|()| {
            out.print(&json!({ "queue": queue, "paused": false }), || {
                format!("queue {queue} resumed")
            });
        }),
        JobsCommand::Queue(QueueCommand::Set {
            queue,
            fair_every,
            per_key_limit,
            concurrency,
        }) => {
            let as_i32 = |n: Option<u32>| n.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
            let change = admin::QueueChange {
                concurrency: as_i32(concurrency),
                fair_every: as_i32(fair_every),
                per_key_limit: as_i32(per_key_limit),
            };
            admin::set_queue(&connection, &queue, &change)
                .await
                .map(|settings| {
                    out.print(
                        &json!({
                            "queue": queue, "setBy": "operator",
                            "concurrency": settings.concurrency, "fairEvery": settings.fair_every,
                            "perKeyLimit": settings.per_key_limit,
                        }),
                        || format!("queue {queue}: {settings:?} (kept over the configuration's until `jobs queue reset {queue}`)"),
                    )
                })
        }
        JobsCommand::Queue(QueueCommand::Reset { queue }) => {
            admin::reset_queue(&connection, &queue).await.map(|()| {
                out.print(&json!({ "queue": queue, "setBy": "config" }), || {
                format!(
                    "queue {queue}: the configuration's settings apply from the next worker start"
                )
            })
            })
        }
        JobsCommand::Schedules => schedules(&connection, out).await,
        JobsCommand::Stats => stats(&connection, out).await,
        JobsCommand::Worker { .. } | JobsCommand::Events(_) | JobsCommand::Email(_) => {
            unreachable!("run elsewhere")
        }
    };
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(EngineError::NotFound(problem) | EngineError::Conflict(problem)) => {
            eprintln!("jobs: {problem}");
            Ok(ExitCode::FAILURE)
        }
        Err(EngineError::Invalid(problem)) => Ok(super::usage_error("jobs", &problem)),
        Err(other) => Err(other.into()),
    }
}

fn describe_cancel(job: &JobRow) -> &'static str {
    if job.state == "running" {
        "asked to stop (it is running; its handler sees the cancellation)"
    } else {
        "cancelled"
    }
}

async fn worker(config: Arc<Config>, metrics_addr: Option<SocketAddr>) -> anyhow::Result<ExitCode> {
    let connection = db::connect(&config.database_url, app::pool_size(&config)).await?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let stopped = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    tokio::spawn(async move {
        crate::runtime::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let metrics = match metrics_addr {
        Some(address) => {
            let (db, config, stop) = (connection.clone(), config.clone(), stop.clone());
            Some(tokio::spawn(async move {
                http::metrics::serve(address, db, &config, stopped(stop)).await
            }))
        }
        None => None,
    };
    app::run_worker(connection, config, stopped(stop)).await?;
    if let Some(metrics) = metrics {
        metrics.await??;
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(
    db: &DatabaseConnection,
    filter: &JobFilter,
    out: &Output,
) -> Result<(), EngineError> {
    let jobs = admin::list(db, filter).await?;
    out.print(&jobs, || {
        let mut table = Table::new(&[
            "ID",
            "KIND",
            "QUEUE",
            "STATE",
            "PRIO",
            "ATTEMPT",
            "RUN AT",
            "FINISHED",
            "LAST ERROR",
        ]);
        for job in &jobs {
            table.row(vec![
                job.id.to_string(),
                job.kind.clone(),
                job.queue.clone(),
                job.state.clone(),
                job.priority.to_string(),
                format!("{}/{}", job.attempt, job.max_attempts),
                time(&Some(job.run_at)),
                time(&job.finished_at),
                short(job.last_error.as_deref().unwrap_or("-"), 60),
            ]);
        }
        table.render()
    });
    Ok(())
}

async fn show(db: &DatabaseConnection, id: i64, out: &Output) -> Result<(), EngineError> {
    let job = admin::find(db, id)
        .await?
        .ok_or_else(|| EngineError::NotFound(format!("no job {id}")))?;
    let attempts = admin::attempts(db, id).await?;
    out.print(&json!({ "job": job, "attempts": attempts }), || {
        format!(
            "{}\n\nattempts:\n{}",
            describe_job(&job),
            attempts_table(&attempts)
        )
    });
    Ok(())
}

fn describe_job(job: &JobRow) -> String {
    let json_cell = |v: &Option<Value>| cell(&v.as_ref().map(Value::to_string));
    let lines = [
        ("id", job.id.to_string()),
        ("kind", job.kind.clone()),
        ("queue", job.queue.clone()),
        ("state", job.state.clone()),
        ("priority", job.priority.to_string()),
        (
            "attempt",
            format!("{} of {}", job.attempt, job.max_attempts),
        ),
        ("args", job.args.to_string()),
        ("run at", time(&Some(job.run_at))),
        (
            "created",
            format!(
                "{} by {}",
                time(&Some(job.created_at)),
                cell(&job.created_by)
            ),
        ),
        ("started", time(&job.started_at)),
        ("finished", time(&job.finished_at)),
        (
            "keys",
            format!(
                "dedupe {}, concurrency {}, group {}",
                cell(&job.dedupe_key),
                cell(&job.concurrency_key),
                cell(&job.group_key)
            ),
        ),
        (
            "lease",
            format!(
                "{} until {}",
                cell(&job.lease_owner),
                time(&job.lease_expires_at)
            ),
        ),
        ("cancel asked", time(&job.cancel_requested_at)),
        (
            "worker deaths",
            format!("{} (runs alone: {})", job.crashes, job.isolate),
        ),
        ("progress", json_cell(&job.progress)),
        ("result", json_cell(&job.result)),
        ("last error", cell(&job.last_error)),
    ];
    lines
        .iter()
        .map(|(name, value)| format!("{name:>13}: {value}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn attempts_table(attempts: &[AttemptRow]) -> String {
    let mut table = Table::new(&["#", "OUTCOME", "STARTED", "MS", "WORKER", "ERROR"]);
    for a in attempts {
        table.row(vec![
            a.attempt.to_string(),
            a.outcome.clone(),
            time(&a.started_at),
            cell(&a.duration_ms.map(|ms| format!("{ms:.0}"))),
            cell(&a.worker_id.map(|w| w.to_string()[..8].to_owned())),
            short(a.error.as_deref().unwrap_or("-"), 70),
        ]);
    }
    table.render()
}

async fn pause(
    db: &DatabaseConnection,
    queue: &str,
    until: Option<Duration>,
    out: &Output,
) -> Result<(), EngineError> {
    let until = until
        .map(|d| chrono::Duration::from_std(d).map(|d| Utc::now() + d))
        .transpose()
        .map_err(|e| EngineError::Invalid(e.to_string()))?;
    admin::pause(db, queue, until).await?;
    out.print(
        &json!({ "queue": queue, "pausedUntil": until }),
        || match until {
            Some(at) => format!(
                "queue {queue} paused until {}",
                at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            None => format!("queue {queue} paused until `jobs resume {queue}`"),
        },
    );
    Ok(())
}

async fn schedules(db: &DatabaseConnection, out: &Output) -> Result<(), EngineError> {
    let schedules = admin::schedules(db).await?;
    out.print(&schedules, || {
        let mut table = Table::new(&[
            "NAME",
            "CRON",
            "ZONE",
            "KIND",
            "OVERLAP",
            "ENABLED",
            "NEXT RUN",
            "LAST SLOT",
            "LAST JOB",
        ]);
        for s in &schedules {
            table.row(vec![
                s.name.clone(),
                s.cron.clone(),
                s.timezone.clone(),
                s.kind.clone(),
                s.overlap.clone(),
                s.enabled.to_string(),
                time(&Some(s.next_run_at)),
                time(&s.last_slot),
                match (s.last_job_id, &s.last_job_state) {
                    (Some(id), Some(state)) => format!("{id} ({state})"),
                    _ => "-".into(),
                },
            ]);
        }
        table.render()
    });
    Ok(())
}

async fn stats(db: &DatabaseConnection, out: &Output) -> Result<(), EngineError> {
    let stats = admin::stats(db).await?;
    out.print(&stats, || {
        let mut table = Table::new(&[
            "QUEUE",
            "WAITING",
            "SCHEDULED",
            "RUNNING",
            "COMPLETED",
            "FAILED",
            "CANCELLED",
            "DISCARDED",
            "OLDEST WAIT",
            "DONE/1M",
            "DONE/5M",
            "PAUSED UNTIL",
        ]);
        for q in &stats {
            table.row(vec![
                q.queue.clone(),
                q.available.to_string(),
                q.scheduled.to_string(),
                q.running.to_string(),
                q.completed.to_string(),
                q.failed.to_string(),
                q.cancelled.to_string(),
                q.discarded.to_string(),
                cell(&q.oldest_waiting_seconds.map(|s| format!("{s:.1}s"))),
                q.completed_last_minute.to_string(),
                q.completed_last_5_minutes.to_string(),
                match (q.paused, &q.paused_until) {
                    (true, None) => "until resumed".to_owned(),
                    (_, until) => time(until),
                },
            ]);
        }
        table.render()
    });
    Ok(())
}
