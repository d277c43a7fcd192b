//! The Koalati tools-service API, wire-compatible (form-encoded requests, `{success, message}`
//! answers), with its gaps closed: one transaction per request (all or nothing), dedupe with a
//! priority bump that holds under concurrency (a unique index, not check-then-insert), a 4xx
//! status on bad input, an access-token check that stops the request, and real waiting-time
//! estimates. "Tools" are the public job kinds.

use std::{sync::OnceLock, time::Instant};

use axum::{
    Json, Router,
    body::{Body, to_bytes},
    extract::{RawQuery, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use engine::admin;
use sea_orm::TransactionTrait;
use serde_json::{Value, json};

use super::{
    principal,
    tasks::{TaskApi, status_of},
};
use crate::tasks::{estimates, principal::Principal, service, tokens::Action};
use mintbean_core::{error::AppError, projects::jobs::PER_HOST_LIMIT};

pub fn routes(api: TaskApi) -> Router {
    started();
    Router::new()
        .route("/tools/request", post(request))
        .route("/status/up", get(up))
        .route("/status/queue", get(queue))
        .route("/status/time-estimates", get(time_estimates))
        .route("/status/project", get(project))
        .with_state(api)
}

fn started() -> Instant {
    static STARTED: OnceLock<Instant> = OnceLock::new();
    *STARTED.get_or_init(Instant::now)
}

/// Koalati's answer shape, with a real status code.
fn answer(status: StatusCode, success: bool, message: impl Into<String>) -> Response {
    let body = json!({ "success": success, "message": message.into() });
    (status, Json(body)).into_response()
}

/// Whether a path is Koalati's: its clients read `{success, message}` on every answer.
fn is_koalati_path(path: &str) -> bool {
    path.starts_with("/tools/") || path.starts_with("/status/")
}

/// The outermost layer: an error answered for a Koalati path by anything else (a panic, an
/// unknown path or method, admission's 429/408) is rewritten into Koalati's shape, keeping the
/// status and headers (`Allow`, `Retry-After`) and the message.
pub async fn koalati_error_shape(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let koalati = is_koalati_path(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    if !koalati || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let body: Value = match to_bytes(body, 64 * 1024).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let body = if body.get("success").is_some() {
        body
    } else {
        let message = body
            .pointer("/errors/0/message")
            .and_then(Value::as_str)
            .or(status.canonical_reason())
            .unwrap_or("Error");
        json!({ "success": false, "message": message })
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body.to_string()))
}

fn refuse(err: AppError) -> Response {
    let status = status_of(&err);
    if status.is_server_error() {
        tracing::error!(error = %err, "Koalati API request failed");
    }
    answer(status, false, err.public_message())
}

fn ok_data(data: Value) -> Response {
    Json(json!({ "success": true, "message": "", "data": data })).into_response()
}

async fn caller(
    api: &TaskApi,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal, Response> {
    principal::authenticate(&api.db, &api.config, method, headers)
        .await
        .map_err(refuse)
}

/// `url`/`tool` pairs and the priority of a form body.
struct ToolRequest {
    urls: Vec<String>,
    tools: Vec<String>,
    priority: i16,
}

fn parse_form(body: &[u8]) -> Result<ToolRequest, AppError> {
    let mut request = ToolRequest {
        urls: Vec::new(),
        tools: Vec::new(),
        priority: 1,
    };
    for (key, value) in url::form_urlencoded::parse(body) {
        // PHP clients send arrays as `url[]=…`.
        match key.trim_end_matches("[]") {
            "url" => request.urls.push(value.trim().to_owned()),
            "tool" => request.tools.push(value.trim().to_owned()),
            // Koalati's README: "`priority` is expected to be an integer, and defaults to `1`
            // when invalid or unspecified" (0 and values past 100 are invalid here).
            "priority" => {
                request.priority = value
                    .trim()
                    .parse::<i16>()
                    .ok()
                    .filter(|p| (1..=100).contains(p))
                    .unwrap_or(1);
            }
            // Other fields (a client's `callback`, …) are not the service's business: ignored,
            // as Koalati's service ignores them.
            _ => {}
        }
    }
    if request.urls.is_empty() || request.tools.is_empty() {
        return Err(AppError::bad_input(
            "url",
            "give at least one url and one tool",
        ));
    }
    if request.urls.len() * request.tools.len() > 1000 {
        return Err(AppError::bad_input(
            "url",
            "at most 1000 (url, tool) pairs per request",
        ));
    }
    Ok(request)
}

/// Koalati: one job per (url, tool), all or none; a live duplicate has its priority raised.
#[utoipa::path(post, path = "/tools/request", tag = "koalati",
    request_body(content = super::task_schemas::ToolRequestForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = super::task_schemas::KoalatiAnswer),
              (status = 400, body = super::task_schemas::KoalatiAnswer),
              (status = 401, body = super::task_schemas::KoalatiAnswer),
              (status = 403, body = super::task_schemas::KoalatiAnswer),
              (status = 422, body = super::task_schemas::KoalatiAnswer)))]
pub(crate) async fn request(
    State(api): State<TaskApi>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let principal = match caller(&api, &method, &headers).await {
        Ok(principal) => principal,
        Err(refusal) => return refusal,
    };
    let Ok(bytes) = to_bytes(body, api.config.max_body_bytes).await else {
        return answer(
            StatusCode::BAD_REQUEST,
            false,
            "the body is too large or was cut off",
        );
    };
    match enqueue_tools(&api, &principal, &bytes).await {
        Ok((new, existing)) => answer(
            StatusCode::OK,
            true,
            format!("{new} request(s) queued, {existing} already queued"),
        ),
        Err(err) => refuse(err),
    }
}

/// One job per (url, tool) in one transaction: every pair is valid and stored, or none is.
async fn enqueue_tools(
    api: &TaskApi,
    principal: &Principal,
    body: &[u8],
) -> Result<(usize, usize), AppError> {
    let request = parse_form(body)?;
    let mut jobs = Vec::new();
    for tool in &request.tools {
        principal.require(tool, Action::Create)?;
        for url in &request.urls {
            let job = service::build(&api.registry, tool, json!({ "url": url }))
                .map_err(|e| match e {
                    AppError::NotFound(_) => {
                        AppError::bad_input("tool", format!("unknown tool `{tool}`"))
                    }
                    other => other,
                })?
                .priority(request.priority)
                .dedupe_key(url.clone())
                .created_by(principal.created_by());
            let host = url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
            jobs.push(match host {
                Some(host) => job.concurrency_key(host),
                None => job,
            });
        }
    }
    let txn = api.db.begin().await?;
    let stored = engine::enqueue_many(&txn, jobs).await?;
    txn.commit().await?;
    let existing = stored.iter().filter(|s| s.existed).count();
    Ok((stored.len() - existing, existing))
}

/// Koalati: the server's uptime (seconds) and whether the database answers.
#[utoipa::path(get, path = "/status/up", tag = "koalati",
    responses((status = 200, body = Object), (status = 401, body = super::task_schemas::KoalatiAnswer)))]
pub(crate) async fn up(State(api): State<TaskApi>, method: Method, headers: HeaderMap) -> Response {
    if let Err(refusal) = caller(&api, &method, &headers).await {
        return refusal;
    }
    let database_up = api.db.ping().await.is_ok();
    Json(json!({
        "success": true,
        "uptime": started().elapsed().as_secs_f64(),
        "database_up": database_up,
    }))
    .into_response()
}

fn public_kinds(api: &TaskApi) -> Vec<String> {
    service::kinds(&api.registry)
        .into_iter()
        .map(|k| k.kind)
        .collect()
}

/// Koalati: waiting (`unassignedRequests`) and running (`pendingRequests`) tool jobs, and
/// every queue's counts.
#[utoipa::path(get, path = "/status/queue", tag = "koalati",
    responses((status = 200, body = Object), (status = 401, body = super::task_schemas::KoalatiAnswer)))]
pub(crate) async fn queue(
    State(api): State<TaskApi>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    status_answer(&api, &method, &headers, queue_data(&api)).await
}

/// Authenticates, then answers `{success, message, data}` with what `data` computes (or the
/// error, with its status).
async fn status_answer(
    api: &TaskApi,
    method: &Method,
    headers: &HeaderMap,
    data: impl Future<Output = Result<Value, AppError>>,
) -> Response {
    if let Err(refusal) = caller(api, method, headers).await {
        return refusal;
    }
    match data.await {
        Ok(data) => ok_data(data),
        Err(err) => refuse(err),
    }
}

async fn queue_data(api: &TaskApi) -> Result<Value, AppError> {
    // The kept counts (a few hundred rows), not a scan of the jobs.
    let kinds = public_kinds(api);
    let (mut unassigned, mut pending) = (0, 0);
    for (_, kind, state, jobs) in admin::counts(&api.db).await? {
        if kinds.contains(&kind) {
            match state.as_str() {
                "available" => unassigned += jobs,
                "running" => pending += jobs,
                _ => {}
            }
        }
    }
    let queues = admin::stats(&api.db).await?;
    Ok(json!({
        "unassignedRequests": unassigned,
        "pendingRequests": pending,
        "queues": queues,
    }))
}

/// Koalati: per tool and priority class, p50/p90 processing and completion times (ms) of the
/// last seven days, and the expected wait of a job enqueued now.
#[utoipa::path(get, path = "/status/time-estimates", tag = "koalati",
    responses((status = 200, body = Object), (status = 401, body = super::task_schemas::KoalatiAnswer)))]
pub(crate) async fn time_estimates(
    State(api): State<TaskApi>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    status_answer(&api, &method, &headers, estimates_data(&api)).await
}

async fn estimates_data(api: &TaskApi) -> Result<Value, AppError> {
    let kinds: Vec<(String, String, usize)> = service::kinds(&api.registry)
        .into_iter()
        .map(|k| {
            let concurrency = api
                .queues
                .iter()
                .find(|(name, _)| *name == k.queue)
                .map_or(1, |(_, concurrency)| *concurrency);
            (k.kind, k.queue, concurrency)
        })
        .collect();
    Ok(json!(estimates::time_estimates(&api.db, &kinds).await?))
}

/// Koalati: the jobs whose URL starts with `url`: pending, all, and ms until all are done.
#[utoipa::path(get, path = "/status/project", tag = "koalati",
    params(("url" = String, Query, description = "A URL prefix")),
    responses((status = 200, body = Object),
              (status = 401, body = super::task_schemas::KoalatiAnswer),
              (status = 422, body = super::task_schemas::KoalatiAnswer)))]
pub(crate) async fn project(
    State(api): State<TaskApi>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> Response {
    status_answer(&api, &method, &headers, project_data(&api, query)).await
}

async fn project_data(api: &TaskApi, query: Option<String>) -> Result<Value, AppError> {
    let url = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "url")
        .map(|(_, value)| value.trim().to_owned())
        .filter(|url| !url.is_empty() && url.len() <= 2048)
        .ok_or_else(|| AppError::bad_input("url", "give the project's URL (?url=…)"))?;
    mintbean_core::validation::no_nul("url", &url)?;
    let status = estimates::url_prefix_status(&api.db, &url, PER_HOST_LIMIT as usize).await?;
    Ok(json!(status))
}
