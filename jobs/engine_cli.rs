//! The job engine's commands: the worker, and looking at and steering jobs, queues and
//! schedules. Every listing is a table, or JSON with `--json`.

use std::{net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use engine::{
    EngineError,
    admin::{self, AttemptRow, JobFilter, JobRow},
};
use mintbean::{app, http};
use mintbean_core::{config::Config, db};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::{Value, json};

use crate::table::{Table, cell, short};

pub enum EngineCommand {
    Worker {
        metrics_addr: Option<SocketAddr>,
    },
    Enqueue {
        kind: String,
        args: Value,
        priority: Option<i16>,
        run_at: Option<DateTime<Utc>>,
        key: Option<String>,
    },
    List(JobFilter),
    Show(i64),
    Cancel(i64),
    Retry(i64),
    Pause {
        queue: String,
        until: Option<Duration>,
    },
    Resume(String),
    Schedules,
    Stats,
}

/// `--flag value` pairs after the positional words.
pub(crate) struct Flags<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Flags<'a> {
    pub(crate) fn parse(words: &[&'a str], allowed: &[&str]) -> Result<Self, String> {
        let mut pairs = Vec::new();
        let mut iter = words.iter();
        while let Some(flag) = iter.next() {
            if !allowed.contains(flag) {
                return Err(format!("unknown option `{flag}`"));
            }
            let value = iter.next().ok_or(format!("{flag} needs a value"))?;
            pairs.push((*flag, *value));
        }
        Ok(Flags(pairs))
    }

    pub(crate) fn get(&self, flag: &str) -> Option<&'a str> {
        self.0
            .iter()
            .rev()
            .find(|(f, _)| *f == flag)
            .map(|(_, v)| *v)
    }

    pub(crate) fn parsed<T: std::str::FromStr>(
        &self,
        flag: &str,
        expected: &str,
    ) -> Result<Option<T>, String> {
        self.get(flag)
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("{flag} {v}: expected {expected}"))
            })
            .transpose()
    }
}

fn job_id(word: &str) -> Result<i64, String> {
    word.parse()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(format!("`{word}` is not a job id"))
}

/// `90s`, `10m`, `2h`, `1d` or plain seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => {
            return Err(format!(
                "`{text}`: use a number with s, m, h or d (e.g. 10m)"
            ));
        }
    };
    number
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n > 0.0 && n * scale < 1e10)
        .map(|n| Duration::from_secs_f64(n * scale))
        .ok_or(format!(
            "`{text}`: use a number with s, m, h or d (e.g. 10m)"
        ))
}

/// An RFC 3339 time, or a delay from now (`10m`).
pub(crate) fn run_at(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let delay = duration(text.trim_start_matches('+'))
        .map_err(|_| format!("--run-at {text}: expected an RFC 3339 time or a delay like 10m"))?;
    Ok(Utc::now() + chrono::Duration::from_std(delay).map_err(|e| e.to_string())?)
}

/// The engine command in `words`, if they name one.
pub fn parse(words: &[&str]) -> Option<Result<EngineCommand, String>> {
    let parsed = match words {
        ["worker", rest @ ..] => Flags::parse(rest, &["--metrics-addr"]).and_then(|f| {
            Ok(EngineCommand::Worker {
                metrics_addr: f.parsed("--metrics-addr", "an address like 127.0.0.1:9100")?,
            })
        }),
        ["enqueue", kind, rest @ ..] => parse_enqueue(kind, rest),
        ["list", rest @ ..] => Flags::parse(rest, &["--state", "--kind", "--queue", "--limit"])
            .and_then(|f| {
                Ok(EngineCommand::List(JobFilter {
                    state: f.get("--state").map(str::to_owned),
                    kind: f.get("--kind").map(str::to_owned),
                    queue: f.get("--queue").map(str::to_owned),
                    group_key: None,
                    limit: f.parsed("--limit", "a number")?.unwrap_or(50),
                }))
            }),
        ["show", id] => job_id(id).map(EngineCommand::Show),
        ["cancel", id] => job_id(id).map(EngineCommand::Cancel),
        ["retry", id] => job_id(id).map(EngineCommand::Retry),
        ["pause", queue, rest @ ..] => Flags::parse(rest, &["--for"]).and_then(|f| {
            Ok(EngineCommand::Pause {
                queue: (*queue).to_owned(),
                until: f.get("--for").map(duration).transpose()?,
            })
        }),
        ["resume", queue] => Ok(EngineCommand::Resume((*queue).to_owned())),
        ["schedules"] => Ok(EngineCommand::Schedules),
        ["stats"] => Ok(EngineCommand::Stats),
        [
            "enqueue" | "show" | "cancel" | "retry" | "pause" | "resume" | "schedules" | "stats",
            ..,
        ] => Err(format!("`{}`: wrong arguments (see jobs help)", words[0])),
        _ => return None,
    };
    Some(parsed)
}

fn parse_enqueue(kind: &str, rest: &[&str]) -> Result<EngineCommand, String> {
    let flags = Flags::parse(rest, &["--args", "--priority", "--run-at", "--key"])?;
    let args = match flags.get("--args") {
        Some(text) => serde_json::from_str(text).map_err(|e| format!("--args: not JSON: {e}"))?,
        None => json!({}),
    };
    Ok(EngineCommand::Enqueue {
        kind: kind.to_owned(),
        args,
        priority: flags.parsed("--priority", "a number from -32768 to 32767")?,
        run_at: flags.get("--run-at").map(run_at).transpose()?,
        key: flags.get("--key").map(str::to_owned),
    })
}

pub async fn run(command: EngineCommand, json: bool, config: Config) -> anyhow::Result<ExitCode> {
    let config = Arc::new(config);
    if let EngineCommand::Worker { metrics_addr } = command {
        return worker(config, metrics_addr).await;
    }
    let connection = db::connect(&config.database_url, 2).await?;
    let out = Output { json };
    let result = match command {
        EngineCommand::Worker { .. } => unreachable!("handled above"),
        EngineCommand::Enqueue {
            kind,
            args,
            priority,
            run_at,
            key,
        } => {
            let registry = app::registry(&connection, &config).map_err(anyhow::Error::msg)?;
            let mut job = match registry.catalog().new_job(&kind, args) {
                Ok(job) => job.created_by("cli"),
                Err(problem) => return Ok(usage_error(&problem)),
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
        EngineCommand::List(filter) => list(&connection, &filter, &out).await,
        EngineCommand::Show(id) => show(&connection, id, &out).await,
        EngineCommand::Cancel(id) => admin::cancel(&connection, id).await.map(|job| {
            out.print(&job, || format!("job {id} is {}", describe_cancel(&job)));
        }),
        EngineCommand::Retry(id) => admin::retry(&connection, id).await.map(|job| {
            out.print(&job, || format!("job {id} is available again"));
        }),
        EngineCommand::Pause { queue, until } => pause(&connection, &queue, until, &out).await,
        EngineCommand::Resume(queue) => admin::resume(&connection, &queue).await.map(|()| {
            out.print(&json!({ "queue": queue, "paused": false }), || {
                format!("queue {queue} resumed")
            });
        }),
        EngineCommand::Schedules => schedules(&connection, &out).await,
        EngineCommand::Stats => stats(&connection, &out).await,
    };
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(EngineError::NotFound(problem) | EngineError::Conflict(problem)) => {
            eprintln!("jobs: {problem}");
            Ok(ExitCode::FAILURE)
        }
        Err(EngineError::Invalid(problem)) => Ok(usage_error(&problem)),
        Err(other) => Err(other.into()),
    }
}

fn usage_error(problem: &str) -> ExitCode {
    eprintln!("jobs: {problem}");
    ExitCode::from(2)
}

fn describe_cancel(job: &JobRow) -> &'static str {
    if job.state == "running" {
        "asked to stop (it is running; its handler sees the cancellation)"
    } else {
        "cancelled"
    }
}

pub(crate) struct Output {
    pub(crate) json: bool,
}

impl Output {
    pub(crate) fn print(&self, value: &impl Serialize, text: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value)
                    .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
            );
        } else {
            println!("{}", text());
        }
    }
}

async fn worker(config: Arc<Config>, metrics_addr: Option<SocketAddr>) -> anyhow::Result<ExitCode> {
    let connection = db::connect(&config.database_url, app::pool_size(&config)).await?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let stopped = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    tokio::spawn(async move {
        mintbean::runtime::shutdown_signal().await;
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

pub(crate) fn time(at: &Option<DateTime<Utc>>) -> String {
    cell(&at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()))
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
                time(&q.paused_until),
            ]);
        }
        table.render()
    });
    Ok(())
}
