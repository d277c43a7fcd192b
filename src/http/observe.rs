//! Following a request: a request id (accepted from `x-request-id` or generated, and echoed), a
//! span per request carrying it with the method, path, GraphQL operation and user id, and one
//! INFO line per request with its status and duration.

use std::time::Duration;

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};
use tracing::{Span, field::Empty};
use uuid::Uuid;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being handled.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// A client's id is kept when it is short and plain (it ends up in logs); otherwise a new one.
fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

pub async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| acceptable(id))
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    response
}

/// The span of one request; the GraphQL handler fills in `operation` and `user_id`.
pub fn request_span(request: &Request<Body>) -> Span {
    let id = request
        .extensions()
        .get::<RequestId>()
        .map_or("-", |id| id.0.as_str());
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
        operation = Empty,
        user_id = Empty,
    )
}

/// The one line logged per request, inside its span.
pub fn log_response(response: &Response, latency: Duration, _span: &Span) {
    tracing::info!(
        status = response.status().as_u16(),
        duration_ms = (latency.as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
        "request"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_client_ids_are_kept() {
        assert!(acceptable("3f2a-01:req.7_x"));
        assert!(!acceptable(""));
        assert!(!acceptable("has space"));
        assert!(!acceptable(&"a".repeat(129)));
        assert!(!acceptable("line\u{2028}break"));
    }
}
