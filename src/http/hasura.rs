//! `POST /hooks/hasura`: Hasura's event triggers, made durable. The shared secret is checked
//! before the body is read; the answer is 2xx only once the event and every job it causes are
//! committed (a re-delivery is recognised by the event id and changes nothing), and 5xx only
//! when nothing was stored. `?wait=SECONDS` (at most 30) waits for the jobs and reports how
//! each ended.

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use engine::{
    EngineError,
    events::{self, Detectors, Envelope, EventSummary, Source},
};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::http::errors::json_error;
use mintbean_core::config::Config;

/// The longest `?wait=` honoured.
pub const MAX_WAIT_SECS: f64 = 30.0;

#[derive(Clone)]
pub struct HookState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub detectors: Arc<Detectors>,
}

pub fn routes(state: HookState) -> Router {
    Router::new()
        .route("/hooks/hasura", post(receive))
        .with_state(state)
}

/// Equal without revealing where two values differ: the digests are compared in full.
fn same_secret(given: &[u8], expected: &str) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn unauthorized(header_name: &str) -> Response {
    json_error(
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        format!("POST /hooks/hasura needs the {header_name} header with the shared secret"),
    )
}

/// `?wait=SECONDS`, bounded.
fn wait_of(query: Option<&str>) -> Result<Option<Duration>, String> {
    let Some(query) = query else { return Ok(None) };
    let Some((_, value)) = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "wait")
    else {
        return Ok(None);
    };
    let secs: f64 = value
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && (0.0..=MAX_WAIT_SECS).contains(s))
        .ok_or_else(|| format!("wait: a number of seconds from 0 to {MAX_WAIT_SECS}"))?;
    Ok(Some(Duration::from_secs_f64(secs)))
}

async fn receive(State(state): State<HookState>, request: Request) -> Response {
    let events_config = &state.config.jobs.events;
    let Some(secret) = &events_config.hasura_secret else {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_CONFIGURED",
            "Hasura event triggers are not accepted here: HASURA_WEBHOOK_SECRET is not set",
        );
    };
    let given = request
        .headers()
        .get(events_config.hasura_secret_header.as_str())
        .map(|v| v.as_bytes().to_vec());
    if !given.is_some_and(|given| same_secret(&given, secret.expose())) {
        return unauthorized(&events_config.hasura_secret_header);
    }
    let wait = match wait_of(request.uri().query()) {
        Ok(wait) => wait,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", message),
    };
    if !is_json(request.headers()) {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "the body must be application/json",
        );
    }
    let body = match axum::body::to_bytes(request.into_body(), state.config.max_body_bytes).await {
        Ok(body) => body,
        Err(_) => {
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "the event is larger than MAX_BODY_BYTES",
            );
        }
    };
    let event = match parse(&body) {
        Ok(event) => event,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", message),
    };
    match events::ingest(&state.db, &state.detectors, &event).await {
        Ok(ingested) => {
            let mut body = summary_body(&ingested.summary);
            body["duplicate"] = json!(ingested.duplicate);
            if let Some(wait) = wait {
                add_outcomes(&state.db, &ingested.summary, wait, &mut body).await;
            }
            (StatusCode::OK, Json(body)).into_response()
        }
        Err(error) => {
            tracing::error!(event_id = %event.id, error = %error, "a Hasura event was not stored");
            let status = match error {
                EngineError::Invalid(_) | EngineError::Conflict(_) | EngineError::NotFound(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            json_error(
                status,
                "NOT_STORED",
                "the event was not stored; deliver it again",
            )
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

fn parse(body: &[u8]) -> Result<engine::events::Event, String> {
    // PostgreSQL cannot store a NUL in `jsonb`: the event could never be stored, however often
    // Hasura delivers it again.
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not a Hasura event: {e}"))?;
    mintbean_core::validation::json_without_nul("event", &value).map_err(|e| e.to_string())?;
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    let envelope: Envelope = serde_path_to_error::deserialize(deserializer)
        .map_err(|e| format!("not a Hasura event: {} at `{}`", e.inner(), e.path()))?;
    envelope
        .into_event(Source::Hasura)
        .map_err(|e| format!("not a Hasura event: {e}"))
}

/// `{event_id, state, detected: [{name, jobs: [{name, job_id, kind, state}]}], errors}`.
pub fn summary_body(summary: &EventSummary) -> Value {
    serde_json::to_value(summary).unwrap_or_else(|_| json!({ "event_id": summary.event_id }))
}

/// Waits for the event's jobs and writes each one's end (state, duration, result or error)
/// into the body's `detected[].jobs[]`.
async fn add_outcomes(
    db: &DatabaseConnection,
    summary: &EventSummary,
    wait: Duration,
    body: &mut Value,
) {
    let outcomes = match events::wait_for_jobs(db, &summary.job_ids(), wait).await {
        Ok(outcomes) => outcomes,
        Err(error) => {
            body["wait_error"] = json!(error.to_string());
            return;
        }
    };
    let Some(detected) = body["detected"].as_array_mut() else {
        return;
    };
    for job in detected
        .iter_mut()
        .filter_map(|d| d["jobs"].as_array_mut())
        .flatten()
    {
        let Some(outcome) = outcomes
            .iter()
            .find(|o| Some(o.job_id) == job["job_id"].as_i64())
        else {
            continue;
        };
        job["state"] = json!(outcome.state);
        job["completed"] = json!(outcome.state == "completed");
        job["duration_ms"] = json!(outcome.duration_ms);
        job["result"] = outcome.result.clone().unwrap_or(Value::Null);
        job["error"] = json!(outcome.error);
    }
}
