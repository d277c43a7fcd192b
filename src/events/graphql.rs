//! `invokeEvent`: an admin fires the detectors on a row as it is now (Hasura's "invoke
//! trigger", op MANUAL).

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use engine::events::EventSummary as Summary;

use uuid::Uuid;

use crate::graphql::{
    context::{app, caller},
    limits::list_complexity,
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
        let summary = super::invoke(
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
