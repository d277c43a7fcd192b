//! Events for admins: `events`, `event(id)` with what they caused, and `invokeEvent`, which
//! fires the detectors on a row as it is now (Hasura's "invoke trigger", op MANUAL).

use std::collections::HashMap;

use async_graphql::{ComplexObject, Context, ID, Json, Object, SimpleObject, dataloader::Loader};

use crate::graphql::error::Result;
use engine::events::{EventRow, EventSummary as Summary};
use uuid::Uuid;

use crate::graphql::{
    context::{app, caller},
    limits::list_complexity,
    loader::{DbLoader, LoadError, group_rows, loaders},
    scalars::DateTime,
};

#[derive(SimpleObject)]
pub struct EventJob {
    /// The job's name within its detection.
    pub name: String,
    pub job_id: ID,
    pub kind: Option<String>,
    pub state: String,
}

#[derive(SimpleObject)]
pub struct EventDetection {
    /// The detector, e.g. `meet.rescheduled`.
    pub name: String,
    #[graphql(complexity = "list_complexity(child_complexity)")]
    pub jobs: Vec<EventJob>,
}

#[derive(SimpleObject)]
pub struct DetectionError {
    pub detector: String,
    pub message: String,
}

/// What an event caused.
#[derive(SimpleObject)]
pub struct EventSummary {
    pub event_id: Uuid,
    /// `detected`, or `detection_failed` when a detector erred (see `errors`).
    pub state: String,
    #[graphql(complexity = "list_complexity(child_complexity)")]
    pub detected: Vec<EventDetection>,
    #[graphql(complexity = "list_complexity(child_complexity)")]
    pub errors: Vec<DetectionError>,
}

impl From<Summary> for EventSummary {
    fn from(summary: Summary) -> Self {
        EventSummary {
            event_id: summary.event_id,
            state: summary.state,
            detected: summary
                .detected
                .into_iter()
                .map(|d| EventDetection {
                    name: d.name,
                    jobs: d
                        .jobs
                        .into_iter()
                        .map(|j| EventJob {
                            name: j.name,
                            job_id: ID(j.job_id.to_string()),
                            kind: j.kind,
                            state: j.state,
                        })
                        .collect(),
                })
                .collect(),
            errors: summary
                .errors
                .into_iter()
                .map(|e| DetectionError {
                    detector: e.detector,
                    message: e.error,
                })
                .collect(),
        }
    }
}

/// A database change as an event (from Hasura, a capture trigger or `invokeEvent`).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Event {
    pub id: Uuid,
    /// `hasura`, `native` or `manual`.
    pub source: String,
    pub trigger_name: String,
    pub table: String,
    /// INSERT, UPDATE, DELETE or MANUAL.
    pub op: String,
    /// `pending`, `detected` or `detection_failed`.
    pub state: String,
    pub created_at: DateTime,
    pub received_at: DateTime,
    pub detected_at: Option<DateTime>,
    pub deliveries: i32,
}

impl From<EventRow> for Event {
    fn from(row: EventRow) -> Self {
        Event {
            id: row.id,
            source: row.source,
            trigger_name: row.trigger_name,
            table: row.table_name,
            op: row.op,
            state: row.state,
            created_at: DateTime(row.created_at),
            received_at: DateTime(row.received_at),
            detected_at: row.detected_at.map(DateTime),
            deliveries: row.deliveries,
        }
    }
}

/// The detections and jobs of events (one batch of statements for a page of events).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SummaryOfEvent(pub Uuid);

impl Loader<SummaryOfEvent> for DbLoader {
    type Value = Summary;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[SummaryOfEvent],
    ) -> Result<HashMap<SummaryOfEvent, Summary>, LoadError> {
        self.fetch_once(keys, |db, keys| async move {
            let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
            let summaries = engine::events::summaries(&db, &ids)
                .await
                .map_err(|e| crate::graphql::loader::into_load_error(e.into()))?;
            let grouped: HashMap<SummaryOfEvent, Vec<Summary>> = group_rows(
                &keys,
                summaries
                    .into_iter()
                    .map(|s| (SummaryOfEvent(s.event_id), s)),
            );
            Ok(grouped
                .into_iter()
                .filter_map(|(key, mut list)| list.pop().map(|s| (key, s)))
                .collect())
        })
        .await
    }
}

impl Event {
    async fn summary(&self, ctx: &Context<'_>) -> Result<EventSummary> {
        let summary: mintbean_core::error::AppResult<_> = loaders(ctx)
            .load_one(SummaryOfEvent(self.id))
            .await
            .map_err(Into::into);
        Ok(summary?.map(EventSummary::from).unwrap_or(EventSummary {
            event_id: self.id,
            state: self.state.clone(),
            detected: Vec::new(),
            errors: Vec::new(),
        }))
    }
}

// Detections sit on the event itself (not under a summary object) so that an event list with
// its jobs stays within the depth limit.
#[ComplexObject]
impl Event {
    /// The detectors that matched, with the jobs they made.
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn detections(&self, ctx: &Context<'_>) -> Result<Vec<EventDetection>> {
        Ok(self.summary(ctx).await?.detected)
    }

    /// The detectors that failed on it.
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn errors(&self, ctx: &Context<'_>) -> Result<Vec<DetectionError>> {
        Ok(self.summary(ctx).await?.errors)
    }

    /// The event as received: `{id, created_at, trigger, table, event: {op, data: {old, new},
    /// session_variables}, delivery_info}`.
    async fn envelope(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        let envelope: mintbean_core::error::AppResult<_> = loaders(ctx)
            .load_one(EnvelopeOfEvent(self.id))
            .await
            .map_err(Into::into);
        Ok(envelope?.map(Json))
    }
}

/// Events as Hasura's envelope (one statement for a page of events).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnvelopeOfEvent(pub Uuid);

impl Loader<EnvelopeOfEvent> for DbLoader {
    type Value = serde_json::Value;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[EnvelopeOfEvent],
    ) -> Result<HashMap<EnvelopeOfEvent, serde_json::Value>, LoadError> {
        self.fetch_once(keys, |db, keys| async move {
            let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
            let events = engine::events::find_many(&db, &ids)
                .await
                .map_err(|e| crate::graphql::loader::into_load_error(e.into()))?;
            Ok(events
                .into_iter()
                .map(|e| (EnvelopeOfEvent(e.id), e.envelope()))
                .collect())
        })
        .await
    }
}

#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// Admins. Events newest first (received since `since`, when given).
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        since: Option<DateTime>,
        #[graphql(default = 50)] first: u64,
    ) -> Result<Vec<Event>> {
        let rows = mintbean_core::events::list(
            &app(ctx).db,
            &caller(ctx).await?,
            since.map(|s| s.0),
            first,
        )
        .await?;
        Ok(rows.into_iter().map(Event::from).collect())
    }

    /// Admins. One event.
    async fn event(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Event>> {
        let found = mintbean_core::events::find(&app(ctx).db, &caller(ctx).await?, id).await?;
        Ok(found.map(Event::from))
    }
}

#[derive(Default)]
pub struct EventMutation;

#[Object]
impl EventMutation {
    /// Admins. A MANUAL event for the row `id` of a captured `table` (e.g. `meets`), with the
    /// row as it is now; answers once its detections and jobs are stored.
    async fn invoke_event(
        &self,
        ctx: &Context<'_>,
        table: String,
        id: Uuid,
    ) -> Result<EventSummary> {
        let state = app(ctx);
        let summary = mintbean_core::events::invoke(
            &state.db,
            &caller(ctx).await?,
            &state.config,
            &state.detectors,
            &table,
            id,
        )
        .await?;
        Ok(summary.into())
    }
}
