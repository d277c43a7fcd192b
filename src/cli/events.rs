//! `jobs events …`: what changes were detected as, and trying payloads out.

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use chrono::{DateTime, Utc};
use clap::Subcommand;
use engine::{
    EngineError,
    events::{self, Detection, Envelope, EventSummary, Outcome, Source},
};
use mintbean_core::{config::Config, db};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Output,
    table::{Table, short},
    time, time_or_ago,
};

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Events received, newest first
    List {
        /// Only those received since: an RFC 3339 time or how long ago (1h)
        #[arg(long, value_name = "TIME|AGO", value_parser = time_or_ago)]
        since: Option<DateTime<Utc>>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// An event, what it was detected as, and the jobs it made
    Show { id: Uuid },
    /// Detect an event again (jobs already made are not made twice)
    Replay { id: Uuid },
    /// Detect a Hasura event-trigger payload
    Test {
        /// A file with Hasura's event-trigger JSON (tests/fixtures/hasura/ has examples)
        #[arg(long, value_name = "FILE")]
        payload: PathBuf,
        /// Print what would be detected and which jobs made, storing nothing
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(command: EventsCommand, out: &Output, config: Config) -> anyhow::Result<ExitCode> {
    let config = Arc::new(config);
    let detectors = mintbean_core::events::detectors(&config).map_err(anyhow::Error::msg)?;
    if let EventsCommand::Test {
        payload,
        dry_run: true,
    } = &command
    {
        return dry_run(payload, &detectors, out);
    }
    let connection = db::connect(&config.database_url, 2).await?;
    let result = match command {
        EventsCommand::List { since, limit } => list(&connection, since, limit, out).await,
        EventsCommand::Show { id } => show(&connection, id, out).await,
        EventsCommand::Replay { id } => events::detect_stored(&connection, &detectors, id, true)
            .await
            .map(|summary| print_summary(&summary, out)),
        EventsCommand::Test { payload, .. } => match read_event(&payload) {
            Ok(event) => events::ingest(&connection, &detectors, &event)
                .await
                .map(|ingested| print_summary(&ingested.summary, out)),
            Err(problem) => return Ok(super::usage_error("jobs", &problem)),
        },
    };
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(EngineError::NotFound(problem)) => {
            eprintln!("jobs: {problem}");
            Ok(ExitCode::FAILURE)
        }
        Err(EngineError::Invalid(problem)) => Ok(super::usage_error("jobs", &problem)),
        Err(other) => Err(other.into()),
    }
}

fn read_event(path: &PathBuf) -> Result<engine::events::Event, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let envelope: Envelope = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a Hasura event: {e}", path.display()))?;
    envelope
        .into_event(Source::Hasura)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// What would be detected and which jobs made, without touching the database.
fn dry_run(
    path: &PathBuf,
    detectors: &events::Detectors,
    out: &Output,
) -> anyhow::Result<ExitCode> {
    let event = match read_event(path) {
        Ok(event) => event,
        Err(problem) => return Ok(super::usage_error("jobs", &problem)),
    };
    let detections = detectors.detect(&event);
    let described: Vec<Value> = detections.iter().map(describe_detection).collect();
    out.print(
        &json!({ "event_id": event.id, "table": event.table_name, "op": event.op, "detections": described }),
        || {
            let mut table = Table::new(&["DETECTOR", "OUTCOME", "JOB", "KIND", "QUEUE", "ARGS"]);
            for Detection { detector, outcome } in &detections {
                match outcome {
                    Outcome::NotDetected => table.row(vec![detector.clone(), "not detected".into(), "".into(), "".into(), "".into(), "".into()]),
                    Outcome::Failed(error) => table.row(vec![detector.clone(), format!("FAILED: {error}"), "".into(), "".into(), "".into(), "".into()]),
                    Outcome::Detected(jobs) if jobs.is_empty() => table.row(vec![detector.clone(), "detected".into(), "(no jobs)".into(), "".into(), "".into(), "".into()]),
                    Outcome::Detected(jobs) => {
                        for planned in jobs {
                            table.row(vec![
                                detector.clone(),
                                "detected".into(),
                                planned.name.clone(),
                                planned.job.kind.clone(),
                                planned.job.queue.clone(),
                                short(&planned.job.args.to_string(), 60),
                            ]);
                        }
                    }
                }
            }
            format!(
                "{} {} on {} (dry run: nothing stored)\n{}",
                event.op.as_str(),
                event.id,
                event.table_name,
                table.render()
            )
        },
    );
    let failed = detections
        .iter()
        .any(|d| matches!(d.outcome, Outcome::Failed(_)));
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn describe_detection(detection: &Detection) -> Value {
    match &detection.outcome {
        Outcome::NotDetected => {
            json!({ "detector": detection.detector, "outcome": "not_detected" })
        }
        Outcome::Failed(error) => {
            json!({ "detector": detection.detector, "outcome": "detection_failed", "error": error })
        }
        Outcome::Detected(jobs) => json!({
            "detector": detection.detector,
            "outcome": "detected",
            "jobs": jobs.iter().map(|p| json!({
                "name": p.name, "kind": p.job.kind, "queue": p.job.queue, "args": p.job.args,
                "priority": p.job.priority, "run_at": p.job.run_at,
            })).collect::<Vec<_>>(),
        }),
    }
}

fn print_summary(summary: &EventSummary, out: &Output) {
    out.print(summary, || summary_text(summary));
}

fn summary_text(summary: &EventSummary) -> String {
    let mut table = Table::new(&["DETECTOR", "JOB", "JOB ID", "KIND", "STATE"]);
    for detection in &summary.detected {
        if detection.jobs.is_empty() {
            table.row(vec![
                detection.name.clone(),
                "(no jobs)".into(),
                "".into(),
                "".into(),
                "".into(),
            ]);
        }
        for job in &detection.jobs {
            table.row(vec![
                detection.name.clone(),
                job.name.clone(),
                job.job_id.to_string(),
                job.kind.clone().unwrap_or_default(),
                job.state.clone(),
            ]);
        }
    }
    let mut text = format!(
        "event {} ({})\n{}",
        summary.event_id,
        summary.state,
        table.render()
    );
    for error in &summary.errors {
        text.push_str(&format!("\nFAILED {}: {}", error.detector, error.error));
    }
    text
}

async fn list(
    db: &DatabaseConnection,
    since: Option<DateTime<Utc>>,
    limit: u64,
    out: &Output,
) -> Result<(), EngineError> {
    let rows = events::list(db, since, limit).await?;
    out.print(&rows, || {
        let mut table = Table::new(&[
            "ID",
            "RECEIVED",
            "SOURCE",
            "TABLE",
            "OP",
            "STATE",
            "DELIVERIES",
        ]);
        for row in &rows {
            table.row(vec![
                row.id.to_string(),
                time(&Some(row.received_at)),
                row.source.clone(),
                row.table_name.clone(),
                row.op.clone(),
                row.state.clone(),
                row.deliveries.to_string(),
            ]);
        }
        table.render()
    });
    Ok(())
}

async fn show(db: &DatabaseConnection, id: Uuid, out: &Output) -> Result<(), EngineError> {
    let event = events::find(db, id)
        .await?
        .ok_or_else(|| EngineError::NotFound(format!("no event {id}")))?;
    let summary = events::summary(db, id).await?;
    let envelope = event.envelope();
    out.print(&json!({ "event": envelope, "summary": summary }), || {
        format!(
            "{} {} on {}.{} ({}), {}\nactor: {} ({})\nold: {}\nnew: {}\n\n{}",
            event.op.as_str(),
            event.id,
            event.table_schema,
            event.table_name,
            event.source.as_str(),
            time(&Some(event.created_at)),
            event.actor().unwrap_or("-"),
            event.role().unwrap_or("no role"),
            envelope["event"]["data"]["old"],
            envelope["event"]["data"]["new"],
            summary_text(&summary)
        )
    });
    Ok(())
}
