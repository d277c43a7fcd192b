//! `jobs email …`: send the due emails once (cron), keep sending (`--watch`), look at the queue
//! and retry failed deliveries.

use std::{process::ExitCode, sync::Arc, time::Duration};

use clap::{Args, Subcommand};
use mintbean_core::{
    config::Config,
    db,
    email::drain::{self, Drainer, Summary},
};
use tokio::sync::watch;
use uuid::Uuid;

use crate::app;

/// Without a command: expand the due queue rows, send every due email, print a summary and
/// exit (status 1 when it stopped early, e.g. the mail server is unreachable). Emails being sent
/// on SIGTERM are finished and recorded first.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EmailArgs {
    #[command(subcommand)]
    pub command: Option<EmailCommand>,
    /// Keep sending due emails every --interval seconds until SIGTERM
    #[arg(long)]
    pub watch: bool,
    /// Seconds between rounds with --watch (default EMAIL_POLL_INTERVAL_SECS)
    #[arg(long, value_name = "SECS", requires = "watch", value_parser = seconds)]
    pub interval: Option<Duration>,
}

#[derive(Debug, Subcommand)]
pub enum EmailCommand {
    /// The queue, deliveries by status, and the latest failures
    Status,
    /// Make failed deliveries (or the one with ID) pending again, with fresh retries
    RetryFailed { id: Option<Uuid> },
}

fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or("a positive number of seconds".into())
}

pub async fn run(args: EmailArgs, config: Config) -> anyhow::Result<ExitCode> {
    let connection = db::connect(&config.database_url, drain::pool_size(&config.email)).await?;
    match args.command {
        Some(EmailCommand::Status) => {
            println!("{}", drain::status_report(&connection).await?);
            Ok(ExitCode::SUCCESS)
        }
        Some(EmailCommand::RetryFailed { id }) => {
            let count = drain::retry_failed(&connection, id).await?;
            println!("{count} failed deliveries are pending again");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let interval = args.interval.unwrap_or(config.email.poll_interval);
            let drainer = Arc::new(
                Drainer::new(connection.clone(), config.email.clone())
                    .map_err(anyhow::Error::msg)?,
            );
            let summary = drain(connection, drainer, &config, args.watch, interval).await?;
            println!("emails: {summary}");
            Ok(if summary.aborted.is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// One round, or rounds every `interval` until SIGTERM with `watch`.
async fn drain(
    connection: sea_orm::DatabaseConnection,
    drainer: Arc<Drainer>,
    config: &Config,
    watch: bool,
    interval: Duration,
) -> anyhow::Result<Summary> {
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        crate::runtime::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut stop: watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    tracing::info!(to = %drainer.mailer().describe(), watch, "sending due emails");
    let started = std::time::Instant::now();
    let mut summary = Summary::default();
    loop {
        let round = app::drain_emails(
            connection.clone(),
            drainer.clone(),
            config,
            stopped(stop.clone()),
        )
        .await?;
        if watch && (round.sent + round.retried + round.failed + round.skipped > 0) {
            tracing::info!(summary = %round, "email round");
        }
        summary.absorb(&round);
        if !watch || *stop.borrow() {
            break;
        }
        // In watch mode an unreachable mail server is tried again at the next round.
        summary.aborted = None;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopped(stop.clone()) => {}
        }
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}
