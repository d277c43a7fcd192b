//! Storing events, detecting them, and reading back what they caused.

use std::{collections::HashSet, time::Duration};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    detector::{Detection, Detectors, Outcome, PlannedJob},
    envelope::{Event, Op, Source},
};
use crate::{
    EngineError, Handler, JobArgs, JobContext, JobError, KindSettings, Metrics,
    enqueue::enqueue_many_in, pool,
};

/// The kind the capture trigger enqueues for each native event.
pub const DETECT_KIND: &str = "engine.detect";
const QUEUE: &str = "events";

/// A stored event's bookkeeping (`jobs events list`).
#[derive(Clone, Debug, Serialize)]
pub struct EventRow {
    pub id: Uuid,
    pub source: String,
    pub trigger_name: String,
    pub table_schema: String,
    pub table_name: String,
    pub op: String,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub detected_at: Option<DateTime<Utc>>,
    pub deliveries: i32,
}

struct StoredEvent {
    id: Uuid,
    source: String,
    trigger_name: String,
    table_schema: String,
    table_name: String,
    op: String,
    old: Option<Value>,
    new: Option<Value>,
    session_variables: Option<Value>,
    trace_context: Option<Value>,
    delivery_info: Option<Value>,
    created_at: DateTime<Utc>,
    state: String,
}

fn object(value: Option<Value>) -> Option<Map<String, Value>> {
    match value {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    }
}

impl StoredEvent {
    fn into_event(self) -> Result<Event, EngineError> {
        let bad = |what: &str| EngineError::Invalid(format!("event {}: bad {what}", self.id));
        Ok(Event {
            id: self.id,
            source: Source::parse(&self.source).ok_or_else(|| bad("source"))?,
            op: Op::parse(&self.op).ok_or_else(|| bad("op"))?,
            trigger_name: self.trigger_name,
            table_schema: self.table_schema,
            table_name: self.table_name,
            old: object(self.old),
            new: object(self.new),
            session_variables: self.session_variables,
            trace_context: self.trace_context,
            delivery_info: self.delivery_info,
            created_at: self.created_at,
        })
    }
}

/// One job an event caused.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct JobSummary {
    pub name: String,
    pub job_id: i64,
    pub kind: Option<String>,
    /// The job's state now (`pruned` once retention removed it).
    pub state: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DetectionSummary {
    pub name: String,
    pub jobs: Vec<JobSummary>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SummaryError {
    pub detector: String,
    pub error: String,
}

/// What an event caused: the answer of `POST /hooks/hasura`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EventSummary {
    pub event_id: Uuid,
    pub state: String,
    pub detected: Vec<DetectionSummary>,
    pub errors: Vec<SummaryError>,
}

impl EventSummary {
    pub fn job_ids(&self) -> Vec<i64> {
        self.detected
            .iter()
            .flat_map(|d| d.jobs.iter().map(|j| j.job_id))
            .collect()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Ingested {
    pub summary: EventSummary,
    /// The event had been received before: nothing new was stored.
    pub duplicate: bool,
}

/// Stores `event` and, if it is new, detects it, all in one transaction: when this returns, the
/// event and every job it causes are committed. A known id (a re-delivery) changes nothing but
/// the delivery count.
pub async fn ingest(
    db: &DatabaseConnection,
    detectors: &Detectors,
    event: &Event,
) -> Result<Ingested, EngineError> {
    let mut txn = pool(db).begin().await?;
    // The upsert locks the row, so concurrent deliveries of one event wait for each other.
    let inserted = sqlx::query_scalar!(
        r#"INSERT INTO engine_events (id, source, trigger_name, table_schema, table_name, op, old,
                                      new, session_variables, trace_context, delivery_info,
                                      created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (id) DO UPDATE SET deliveries = engine_events.deliveries + 1
           RETURNING (xmax = 0) AS "inserted!""#,
        event.id,
        event.source.as_str(),
        event.trigger_name,
        event.table_schema,
        event.table_name,
        event.op.as_str(),
        event.old.clone().map(Value::Object),
        event.new.clone().map(Value::Object),
        event.session_variables,
        event.trace_context,
        event.delivery_info,
        event.created_at
    )
    .fetch_one(&mut *txn)
    .await?;
    if inserted {
        detect(&mut txn, detectors, event).await?;
    }
    txn.commit().await?;
    Ok(Ingested {
        summary: summary(db, event.id).await?,
        duplicate: !inserted,
    })
}

/// Detects a stored event: once (a pending one), or again with `replay` — then jobs already
/// created for a (detector, job name) are kept, not created twice, and failed detections are
/// tried again.
pub async fn detect_stored(
    db: &DatabaseConnection,
    detectors: &Detectors,
    event_id: Uuid,
    replay: bool,
) -> Result<EventSummary, EngineError> {
    let mut txn = pool(db).begin().await?;
    let stored = sqlx::query_as!(
        StoredEvent,
        "SELECT id, source, trigger_name, table_schema, table_name, op, old, new,
                session_variables, trace_context, delivery_info, created_at, state
           FROM engine_events WHERE id = $1 FOR UPDATE",
        event_id
    )
    .fetch_optional(&mut *txn)
    .await?
    .ok_or_else(|| EngineError::NotFound(format!("no event {event_id}")))?;
    if replay || stored.state == "pending" {
        detect(&mut txn, detectors, &stored.into_event()?).await?;
    }
    txn.commit().await?;
    summary(db, event_id).await
}

/// Runs the detectors and stores their detections and new jobs in `txn`.
async fn detect(
    txn: &mut PgConnection,
    detectors: &Detectors,
    event: &Event,
) -> Result<(), EngineError> {
    let detections = detectors.detect(event);
    let existing: HashSet<(String, String)> = sqlx::query!(
        "SELECT detector, name FROM engine_event_jobs WHERE event_id = $1",
        event.id
    )
    .fetch_all(&mut *txn)
    .await?
    .into_iter()
    .map(|row| (row.detector, row.name))
    .collect();
    let mut new_jobs: Vec<(String, PlannedJob)> = Vec::new();
    let mut failed = false;
    for Detection { detector, outcome } in detections {
        let (state, error) = match outcome {
            Outcome::NotDetected => continue,
            Outcome::Failed(error) => {
                tracing::error!(event_id = %event.id, detector, error, "detection failed");
                failed = true;
                ("detection_failed", Some(error))
            }
            Outcome::Detected(jobs) => {
                tracing::info!(event_id = %event.id, detector, jobs = jobs.len(), "detected");
                for planned in jobs {
                    if !existing.contains(&(detector.clone(), planned.name.clone())) {
                        new_jobs.push((detector.clone(), planned));
                    }
                }
                ("detected", None)
            }
        };
        Metrics::global().detection(&detector, state);
        sqlx::query!(
            "INSERT INTO engine_event_detections (event_id, detector, state, error)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (event_id, detector) DO UPDATE
                SET state = excluded.state, error = excluded.error, detected_at = now()",
            event.id,
            detector,
            state,
            error
        )
        .execute(&mut *txn)
        .await?;
    }
    store_jobs(txn, event, new_jobs).await?;
    let state = if failed {
        "detection_failed"
    } else {
        "detected"
    };
    sqlx::query!(
        "UPDATE engine_events SET state = $2, detected_at = now() WHERE id = $1",
        event.id,
        state
    )
    .execute(&mut *txn)
    .await?;
    Ok(())
}

/// Enqueues the jobs (in one statement) and records each under its (event, detector, name).
async fn store_jobs(
    txn: &mut PgConnection,
    event: &Event,
    planned: Vec<(String, PlannedJob)>,
) -> Result<(), EngineError> {
    if planned.is_empty() {
        return Ok(());
    }
    let jobs = planned
        .iter()
        .map(|(detector, p)| {
            let mut job = p.job.clone().correlation_id(event.id);
            job.created_by
                .get_or_insert_with(|| format!("event {detector}"));
            job
        })
        .collect();
    let enqueued = enqueue_many_in(&mut *txn, jobs).await?;
    let links: Vec<Value> = planned
        .iter()
        .zip(&enqueued)
        .map(|((detector, p), e)| json!({ "detector": detector, "name": p.name, "job_id": e.id }))
        .collect();
    sqlx::query!(
        "INSERT INTO engine_event_jobs (event_id, detector, name, job_id)
         SELECT $1, detector, name, job_id
           FROM jsonb_to_recordset($2::jsonb) AS l(detector text, name text, job_id bigint)",
        event.id,
        Value::Array(links)
    )
    .execute(&mut *txn)
    .await?;
    Ok(())
}

/// What the event caused, read back.
pub async fn summary(db: &DatabaseConnection, event_id: Uuid) -> Result<EventSummary, EngineError> {
    summaries(db, &[event_id])
        .await?
        .pop()
        .ok_or_else(|| EngineError::NotFound(format!("no event {event_id}")))
}

/// A detection as [`summaries`] reads it.
struct DetectionRow {
    event_id: Uuid,
    detector: String,
    state: String,
    error: Option<String>,
}

/// A job an event caused, as [`summaries`] reads it.
struct EventJobRow {
    event_id: Uuid,
    detector: String,
    name: String,
    job_id: i64,
    kind: Option<String>,
    state: String,
}

/// The summaries of the stored events among `ids` (three statements however many).
pub async fn summaries(
    db: &DatabaseConnection,
    ids: &[Uuid],
) -> Result<Vec<EventSummary>, EngineError> {
    let pool = crate::pool(db);
    let events = sqlx::query!(
        "SELECT id, state FROM engine_events WHERE id = ANY ($1)",
        ids
    )
    .fetch_all(pool)
    .await?;
    let detections = sqlx::query_as!(
        DetectionRow,
        "SELECT event_id, detector, state, error FROM engine_event_detections
          WHERE event_id = ANY ($1) ORDER BY detector",
        ids
    )
    .fetch_all(pool)
    .await?;
    let jobs = sqlx::query_as!(
        EventJobRow,
        r#"SELECT l.event_id, l.detector, l.name, l.job_id, j.kind AS "kind?",
                  coalesce(j.state, 'pruned') AS "state!"
             FROM engine_event_jobs l LEFT JOIN engine_jobs j ON j.id = l.job_id
            WHERE l.event_id = ANY ($1) ORDER BY l.job_id, l.name"#,
        ids
    )
    .fetch_all(pool)
    .await?;
    Ok(events
        .into_iter()
        .map(|event| {
            let mut summary = EventSummary {
                event_id: event.id,
                state: event.state,
                detected: Vec::new(),
                errors: Vec::new(),
            };
            for row in detections.iter().filter(|d| d.event_id == event.id) {
                add_detection(&mut summary, row, &jobs);
            }
            summary
        })
        .collect())
}

/// One detection row, with its jobs among `jobs`, into `summary`.
fn add_detection(summary: &mut EventSummary, row: &DetectionRow, jobs: &[EventJobRow]) {
    let failed = row.state == "detection_failed";
    if failed {
        summary.errors.push(SummaryError {
            detector: row.detector.clone(),
            error: row.error.clone().unwrap_or_default(),
        });
    }
    let found: Vec<JobSummary> = jobs
        .iter()
        .filter(|job| job.event_id == summary.event_id && job.detector == row.detector)
        .map(|job| JobSummary {
            name: job.name.clone(),
            job_id: job.job_id,
            kind: job.kind.clone(),
            state: job.state.clone(),
        })
        .collect();
    if !found.is_empty() || !failed {
        summary.detected.push(DetectionSummary {
            name: row.detector.clone(),
            jobs: found,
        });
    }
}

/// How a job ended (or where it is when the wait ran out).
#[derive(Clone, Debug, Serialize)]
pub struct JobOutcome {
    pub job_id: i64,
    pub kind: String,
    pub state: String,
    pub duration_ms: Option<f64>,
    pub result: Option<Value>,
    pub error: Option<String>,
}

const FINAL_STATES: [&str; 4] = ["completed", "failed", "cancelled", "discarded"];

/// Waits up to `timeout` for the jobs to finish, and says how each ended.
pub async fn wait_for_jobs(
    db: &DatabaseConnection,
    ids: &[i64],
    timeout: Duration,
) -> Result<Vec<JobOutcome>, EngineError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let outcomes = sqlx::query_as!(
            JobOutcome,
            "SELECT id AS job_id, kind, state, result, last_error AS error,
                    extract(epoch FROM finished_at - started_at)::float8 * 1000 AS duration_ms
               FROM engine_jobs WHERE id = ANY ($1) ORDER BY id",
            ids
        )
        .fetch_all(pool(db))
        .await?;
        let done = outcomes
            .iter()
            .all(|o| FINAL_STATES.contains(&o.state.as_str()));
        if done || tokio::time::Instant::now() >= deadline {
            return Ok(outcomes);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Events newest first, optionally only those received since `since`.
pub async fn list(
    db: &DatabaseConnection,
    since: Option<DateTime<Utc>>,
    limit: u64,
) -> Result<Vec<EventRow>, EngineError> {
    Ok(sqlx::query_as!(
        EventRow,
        "SELECT id, source, trigger_name, table_schema, table_name, op, state, created_at,
                received_at, detected_at, deliveries
           FROM engine_events WHERE $1::timestamptz IS NULL OR received_at >= $1
          ORDER BY received_at DESC, id LIMIT $2",
        since,
        limit.clamp(1, 10_000) as i64
    )
    .fetch_all(pool(db))
    .await?)
}

/// The bookkeeping of the events among `ids`.
pub async fn list_ids(db: &DatabaseConnection, ids: &[Uuid]) -> Result<Vec<EventRow>, EngineError> {
    Ok(sqlx::query_as!(
        EventRow,
        "SELECT id, source, trigger_name, table_schema, table_name, op, state, created_at,
                received_at, detected_at, deliveries
           FROM engine_events WHERE id = ANY ($1)",
        ids
    )
    .fetch_all(pool(db))
    .await?)
}

/// One stored event.
pub async fn find(db: &DatabaseConnection, id: Uuid) -> Result<Option<Event>, EngineError> {
    Ok(find_many(db, &[id]).await?.pop())
}

/// The stored events among `ids`.
pub async fn find_many(db: &DatabaseConnection, ids: &[Uuid]) -> Result<Vec<Event>, EngineError> {
    sqlx::query_as!(
        StoredEvent,
        "SELECT id, source, trigger_name, table_schema, table_name, op, old, new,
                session_variables, trace_context, delivery_info, created_at, state
           FROM engine_events WHERE id = ANY ($1)",
        ids
    )
    .fetch_all(pool(db))
    .await?
    .into_iter()
    .map(StoredEvent::into_event)
    .collect()
}

/// Detects one captured event (enqueued by the capture trigger, in the changing transaction).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetectEvent {
    pub event_id: Uuid,
}

impl JobArgs for DetectEvent {
    const KIND: &'static str = DETECT_KIND;

    fn settings() -> KindSettings {
        KindSettings {
            queue: QUEUE,
            max_attempts: 10,
            timeout: Some(Duration::from_secs(60)),
            ..KindSettings::default()
        }
    }
}

/// The detectors run [`DetectEvent`] jobs.
impl Handler<DetectEvent> for std::sync::Arc<Detectors> {
    async fn run(&self, job: DetectEvent, ctx: JobContext) -> Result<Value, JobError> {
        let summary = detect_stored(ctx.db(), self, job.event_id, false)
            .await
            .map_err(|e| match e {
                EngineError::NotFound(_) => JobError::permanent(e),
                e => JobError::retryable(e),
            })?;
        serde_json::to_value(summary).map_err(JobError::permanent)
    }
}
