//! The `jobs` binary: background work that runs beside the web server, from cron or systemd.

mod engine_cli;
mod events_cli;
mod table;

use std::{process::ExitCode, sync::Arc, time::Duration};

use engine_cli::EngineCommand;

use mintbean::{app, telemetry};
use mintbean_core::{
    config::{Component, Config},
    db,
    email::drain::{self, Drainer, Summary},
};
use tokio::sync::watch;

// jemalloc: large answers allocate many small objects across threads; see docs/benchmarks.md.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const USAGE: &str = "\
jobs — mintbean background jobs

USAGE:
    jobs worker [--metrics-addr ADDR]
                                    Run the job worker pool and the scheduler until SIGTERM
                                    (email drain every EMAIL_POLL_INTERVAL_SECS, link checks);
                                    --metrics-addr serves Prometheus text at ADDR/metrics
    jobs enqueue KIND [--args JSON] [--priority N] [--run-at TIME|DELAY] [--key DEDUPE-KEY]
    jobs list [--state S] [--kind K] [--queue Q] [--limit N]
    jobs show ID                    A job and its attempts
    jobs cancel ID                  Cancel a waiting job, or ask a running one to stop
    jobs retry ID                   Run a failed, discarded or cancelled job again
    jobs pause QUEUE [--for 10m]    No worker claims the queue's jobs (until resumed, or for a while)
    jobs resume QUEUE
    jobs schedules                  Cron schedules, their next and last runs
    jobs stats                      Per queue: jobs by state, oldest wait, throughput
    jobs events list [--since TIME|AGO] [--limit N]
                                    Events received (Hasura, captured changes, invokeEvent)
    jobs events show ID             An event, what it was detected as, and the jobs it made
    jobs events replay ID           Detect it again (jobs already made are not made twice)
    jobs events test --payload FILE [--dry-run]
                                    Detect a Hasura payload; --dry-run prints what would be
                                    detected and which jobs made, storing nothing
    jobs email                      Send every due email, print a summary and exit (for cron)
    jobs email --watch [--interval SECS]
                                    Keep sending due emails every SECS seconds
                                    (default EMAIL_POLL_INTERVAL_SECS) until SIGTERM
    jobs email status               Queue and delivery counts, and the latest failures
    jobs email retry-failed [ID]    Make failed deliveries (or one) pending again
    jobs help                       Show this message

--json (anywhere) prints JSON instead of tables. Durations: 90s, 10m, 2h, 1d.

On SIGTERM or Ctrl-C the worker stops claiming, lets running jobs finish (JOBS_SHUTDOWN_GRACE_SECS)
and releases the rest; emails being sent are finished and recorded before the process exits.
Several workers and drainers may run at once (overlapping cron runs, several hosts): each job
and each email is claimed by one of them. Exit status: 0 on success, 1 when the command failed
(for `jobs email`: stopped early, e.g. mail server unreachable), 2 for a usage error.
Configuration comes from environment variables and .env; see README.md.";

enum Command {
    Engine(EngineCommand),
    Events(events_cli::EventsCommand),
    Drain {
        watch: bool,
        interval: Option<Duration>,
    },
    Status,
    RetryFailed(Option<uuid::Uuid>),
}

fn parse(args: &[String]) -> Result<Option<Command>, String> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let drain_flags = |rest: &[&str]| -> Result<Command, String> {
        let mut watch = false;
        let mut interval = None;
        let mut iter = rest.iter();
        while let Some(flag) = iter.next() {
            match *flag {
                "--watch" => watch = true,
                "--interval" => {
                    let value = iter.next().ok_or("--interval needs a number of seconds")?;
                    let secs: f64 = value
                        .parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s > 0.0)
                        .ok_or(format!(
                            "--interval {value}: expected a positive number of seconds"
                        ))?;
                    interval = Some(Duration::from_secs_f64(secs));
                }
                other => return Err(format!("unknown option `{other}`")),
            }
        }
        Ok(Command::Drain { watch, interval })
    };
    if let Some(engine) = engine_cli::parse(&words) {
        return engine.map(|c| Some(Command::Engine(c)));
    }
    match words.as_slice() {
        [] | ["help" | "-h" | "--help", ..] => Ok(None),
        ["events", rest @ ..] => events_cli::parse(rest).map(|c| Some(Command::Events(c))),
        ["email", "status"] => Ok(Some(Command::Status)),
        ["email", "retry-failed"] => Ok(Some(Command::RetryFailed(None))),
        ["email", "retry-failed", id] => uuid::Uuid::parse_str(id)
            .map(|id| Some(Command::RetryFailed(Some(id))))
            .map_err(|_| format!("`{id}` is not a delivery id")),
        ["email", rest @ ..] => drain_flags(rest).map(Some),
        [other, ..] => Err(format!("unknown command `{other}`")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    args.retain(|a| a != "--json");
    let command = match parse(&args) {
        Ok(Some(command)) => command,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("jobs: {problem}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::from_env(Component::Jobs) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let outcome = match command {
        Command::Engine(command) => engine_cli::run(command, json, config).await,
        Command::Events(command) => events_cli::run(command, json, config).await,
        command => run(command, config).await,
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

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    let connection = db::connect(&config.database_url, drain::pool_size(&config.email)).await?;
    match command {
        Command::Engine(_) | Command::Events(_) => {
            unreachable!("engine and events commands run in their modules")
        }
        Command::Status => {
            println!("{}", drain::status_report(&connection).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::RetryFailed(id) => {
            let count = drain::retry_failed(&connection, id).await?;
            println!("{count} failed deliveries are pending again");
            Ok(ExitCode::SUCCESS)
        }
        Command::Drain { watch, interval } => {
            let interval = interval.unwrap_or(config.email.poll_interval);
            let drainer = Arc::new(
                Drainer::new(connection.clone(), config.email.clone())
                    .map_err(anyhow::Error::msg)?,
            );
            let (stop_tx, stop) = watch::channel(false);
            tokio::spawn(async move {
                mintbean::runtime::shutdown_signal().await;
                let _ = stop_tx.send(true);
            });
            let stopped = |mut stop: watch::Receiver<bool>| async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            };
            tracing::info!(to = %drainer.mailer().describe(), watch, "draining scheduled emails");
            let started = std::time::Instant::now();
            let mut summary = Summary::default();
            loop {
                let round = app::drain_emails(
                    connection.clone(),
                    drainer.clone(),
                    &config,
                    stopped(stop.clone()),
                )
                .await?;
                if watch && (round.sent + round.retried + round.failed + round.skipped > 0) {
                    tracing::info!(summary = %round, "email drain");
                }
                summary.absorb(&round);
                if !watch || *stop.borrow() {
                    summary.elapsed = started.elapsed();
                    break;
                }
                // In watch mode an unreachable mail server is tried again at the next round.
                summary.aborted = None;
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stopped(stop.clone()) => {}
                }
            }
            println!("emails: {summary}");
            Ok(if summary.aborted.is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
