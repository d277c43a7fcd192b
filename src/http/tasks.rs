//! The REST task API (`/tasks`), after AWSuper's, with its gaps closed: JSON errors
//! `{error: {code, message, field?}}`, one transaction per create, idempotency keys, a real
//! cancel state machine.

use std::sync::Arc;

use axum::{
    Json, Router,
    body::{Body, to_bytes},
    extract::{Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use engine::Catalog;
use serde_json::{Value, json};

use super::principal;
use crate::tasks::{
    principal::Principal,
    service::{self, CreateTask},
};
use mintbean_core::{config::Config, error::AppError};

#[derive(Clone)]
pub struct TaskApi {
    pub db: sea_orm::DatabaseConnection,
    pub config: Arc<Config>,
    pub registry: Arc<Catalog>,
    /// The queues a worker serves, with its concurrency for each (time estimates).
    pub queues: Arc<Vec<(String, usize)>>,
}

pub fn routes(api: TaskApi) -> Router {
    Router::new()
        .route("/tasks", get(list_kinds))
        .route("/tasks/{kind}", get(search).post(create))
        .route("/tasks/{kind}/{id}", get(show).delete(cancel))
        .with_state(api)
}

/// An error as the task APIs answer it: `{error: {code, message, field?}}` with its status.
pub struct ApiError {
    err: AppError,
    status: StatusCode,
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        let status = status_of(&err);
        ApiError { err, status }
    }
}

impl ApiError {
    /// A malformed request (as opposed to well-formed but invalid arguments, 422).
    pub fn bad_request(field: Option<&str>, message: impl Into<String>) -> Self {
        ApiError {
            err: AppError::BadInput {
                field: field.map(str::to_owned),
                message: message.into(),
            },
            status: StatusCode::BAD_REQUEST,
        }
    }

    /// The same error, as a 400 when it is a validation error.
    pub fn malformed(mut self) -> Self {
        if matches!(self.err, AppError::BadInput { .. }) {
            self.status = StatusCode::BAD_REQUEST;
        }
        self
    }
}

pub fn status_of(err: &AppError) -> StatusCode {
    match err {
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::BadInput { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        other if other.code() == "SERVICE_UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError { err, status } = self;
        if status.is_server_error() {
            tracing::error!(error = %err, "task API request failed");
        }
        let mut error = json!({ "code": err.code(), "message": err.public_message() });
        if let AppError::BadInput {
            field: Some(field), ..
        } = &err
        {
            error["field"] = json!(field);
        }
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            let challenge = r#"Bearer realm="mintbean", error="invalid_token""#;
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

type ApiResult = Result<Response, ApiError>;

async fn caller(
    api: &TaskApi,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    Ok(principal::authenticate(&api.db, &api.config, method, headers).await?)
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The task kinds you may create, with the JSON Schema of their arguments.
#[utoipa::path(get, path = "/tasks", tag = "tasks",
    responses((status = 200, description = "The kinds", body = super::task_schemas::KindList),
              (status = 401, body = super::task_schemas::ErrorBody)))]
pub(crate) async fn list_kinds(
    State(api): State<TaskApi>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult {
    caller(&api, &method, &headers).await?;
    Ok(Json(json!({ "kinds": service::kinds(&api.registry) })).into_response())
}

fn form_urlencoded_pairs(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// When a new task should run, from `?delay=` or `?when=` (not both, nothing else).
fn run_at(pairs: &[(String, String)]) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    let mut at = None;
    for (key, value) in pairs {
        let parsed = match key.as_str() {
            "delay" => mintbean_core::validation::parse_delay(value)
                .map(|d| chrono::Utc::now() + chrono::Duration::from_std(d).unwrap_or_default()),
            "when" => service::parse_when(value),
            other => {
                return Err(ApiError::bad_request(
                    Some(other),
                    "unknown parameter (known: delay, when)",
                ));
            }
        }
        .map_err(|message| ApiError::bad_request(Some(key), message))?;
        if at.replace(parsed).is_some() {
            return Err(ApiError::bad_request(
                Some(key),
                "give one of delay and when",
            ));
        }
    }
    Ok(at)
}

/// Creates a task (202, with `Location`). The body is the kind's arguments.
#[utoipa::path(post, path = "/tasks/{kind}", tag = "tasks",
    params(("kind" = String, Path, description = "A kind from GET /tasks"),
           ("delay" = Option<String>, Query, description = "Run after: a number with a unit, 5000ms, 30s, 10m, 1h, 1d (a bare number is refused)"),
           ("when" = Option<String>, Query, description = "Run at: RFC 3339 with offset"),
           ("Idempotency-Key" = Option<String>, Header, description = "The same key again answers the same task")),
    request_body(content = Object, description = "The kind's arguments (see its schema)"),
    responses((status = 202, description = "Stored", body = super::task_schemas::TaskEnvelope),
              (status = 400, description = "Malformed", body = super::task_schemas::ErrorBody),
              (status = 401, body = super::task_schemas::ErrorBody),
              (status = 403, body = super::task_schemas::ErrorBody),
              (status = 404, description = "No such kind", body = super::task_schemas::ErrorBody),
              (status = 409, description = "Idempotency key reused", body = super::task_schemas::ErrorBody),
              (status = 422, description = "Invalid arguments", body = super::task_schemas::ErrorBody)))]
pub(crate) async fn create(
    State(api): State<TaskApi>,
    Path(kind): Path<String>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let principal = caller(&api, &method, &headers).await?;
    let pairs = query_pairs(query.as_deref());
    let run_at = run_at(&pairs)?;
    let timing_as_sent = (!pairs.is_empty()).then(|| form_urlencoded_pairs(&pairs));
    let bytes = to_bytes(body, api.config.max_body_bytes)
        .await
        .map_err(|_| ApiError::bad_request(None, "the body is too large or was cut off"))?;
    let args: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(None, format!("the body is not JSON: {e}")))?
    };
    let idempotency_key = headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .ok()
                .filter(|key| (1..=255).contains(&key.len()))
                .ok_or_else(|| {
                    ApiError::bad_request(Some("Idempotency-Key"), "1 to 255 visible characters")
                })
        })
        .transpose()?;
    let request = CreateTask {
        kind: &kind,
        args,
        run_at,
        timing_as_sent,
        priority: None,
        idempotency_key,
    };
    let (task, existed) = service::create(&api.db, &api.registry, &principal, request).await?;
    let location = format!("/tasks/{}/{}", task.kind, task.id);
    let mut response = (StatusCode::ACCEPTED, Json(json!({ "task": task }))).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    if existed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

fn task_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| AppError::NotFound(format!("no task {id}")).into())
}

/// One task: state, progress, result, last error, attempts, times.
#[utoipa::path(get, path = "/tasks/{kind}/{id}", tag = "tasks",
    params(("kind" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = super::task_schemas::TaskEnvelope),
              (status = 401, body = super::task_schemas::ErrorBody),
              (status = 403, body = super::task_schemas::ErrorBody),
              (status = 404, body = super::task_schemas::ErrorBody)))]
pub(crate) async fn show(
    State(api): State<TaskApi>,
    Path((kind, id)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult {
    let principal = caller(&api, &method, &headers).await?;
    let task = service::get(&api.db, &api.registry, &principal, &kind, task_id(&id)?).await?;
    Ok(Json(json!({ "task": task })).into_response())
}

/// Tasks of a kind: `field=value` (repeat for OR), `field[min]`/`field[max]`,
/// `sort[field]=asc|desc`, `limit` (≤ 100), `cursor`. Fields: id, state, queue, priority,
/// attempt, max_attempts, created_by, group_key, dedupe_key, concurrency_key, created_at,
/// run_at, started_at, finished_at, args.NAME; `key` (any of the three keys), `error` (text in
/// the last error).
#[utoipa::path(get, path = "/tasks/{kind}", tag = "tasks",
    params(("kind" = String, Path),
           ("state" = Option<String>, Query), ("limit" = Option<u32>, Query, minimum = 1, maximum = 100),
           ("cursor" = Option<String>, Query)),
    responses((status = 200, body = crate::tasks::service::TaskPage),
              (status = 400, body = super::task_schemas::ErrorBody),
              (status = 401, body = super::task_schemas::ErrorBody),
              (status = 403, body = super::task_schemas::ErrorBody),
              (status = 404, body = super::task_schemas::ErrorBody)))]
pub(crate) async fn search(
    State(api): State<TaskApi>,
    Path(kind): Path<String>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> ApiResult {
    let principal = caller(&api, &method, &headers).await?;
    let pairs = query_pairs(query.as_deref());
    let page = service::search(&api.db, &api.registry, &principal, &kind, &pairs)
        .await
        .map_err(|e| ApiError::from(e).malformed())?;
    Ok(Json(page).into_response())
}

/// Cancels: a waiting task at once, a running one by asking its worker; 409 once finished.
#[utoipa::path(delete, path = "/tasks/{kind}/{id}", tag = "tasks",
    params(("kind" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = super::task_schemas::TaskEnvelope),
              (status = 401, body = super::task_schemas::ErrorBody),
              (status = 403, body = super::task_schemas::ErrorBody),
              (status = 404, body = super::task_schemas::ErrorBody),
              (status = 409, body = super::task_schemas::ErrorBody)))]
pub(crate) async fn cancel(
    State(api): State<TaskApi>,
    Path((kind, id)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult {
    let principal = caller(&api, &method, &headers).await?;
    let task = service::cancel(&api.db, &api.registry, &principal, &kind, task_id(&id)?).await?;
    Ok(Json(json!({ "task": task })).into_response())
}
