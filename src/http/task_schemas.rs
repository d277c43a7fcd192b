//! The OpenAPI schemas of the task API's bodies that are not types of their own elsewhere:
//! envelopes, errors, Koalati's form and answer (used by the handlers' annotations and by the
//! document, `http::openapi`).

use utoipa::ToSchema;

use crate::tasks::service;

#[derive(ToSchema)]
pub struct ErrorDetail {
    /// UNAUTHENTICATED, FORBIDDEN, BAD_USER_INPUT, NOT_FOUND, CONFLICT, …
    pub code: String,
    pub message: String,
    /// The failing input (a body field path, a query parameter).
    pub field: Option<String>,
}

#[derive(ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(ToSchema)]
pub struct TaskEnvelope {
    pub task: service::Task,
}

#[derive(ToSchema)]
pub struct KindList {
    pub kinds: Vec<service::KindInfo>,
}

/// Koalati's answer.
#[derive(ToSchema)]
pub struct KoalatiAnswer {
    pub success: bool,
    pub message: String,
}

/// Koalati's form: `url` and `tool` may repeat (`url[]` too).
#[derive(ToSchema)]
pub struct ToolRequestForm {
    pub url: Vec<String>,
    pub tool: Vec<String>,
    /// 0–100; missing or 0 means 1. Higher runs first.
    pub priority: Option<i16>,
}
