//! `GET /metrics`: the job engine's counters of this process and the queue depths, in
//! Prometheus' text format. With `METRICS_TOKEN` set it asks for `Authorization: Bearer <token>`;
//! on the public server in production it is refused until a token is set (queue names, job
//! kinds and counts are not for everyone), while a worker's own `--metrics-addr` stays open.

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};

use super::errors::json_error;
use mintbean_core::config::Secret;

#[derive(Clone)]
pub struct MetricsState {
    pub db: DatabaseConnection,
    pub token: Option<Secret>,
    /// Answered without a token when none is set.
    pub open_without_token: bool,
}

/// The `/metrics` route (merged into the server's router).
pub fn routes(state: MetricsState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// A router answering `/metrics` only (for `jobs worker --metrics-addr`).
pub fn router(state: MetricsState) -> Router {
    routes(state)
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "NOT_FOUND", "No such endpoint") })
}

/// Serves `GET /metrics` alone on `address` until `shutdown` resolves.
pub async fn serve(
    address: std::net::SocketAddr,
    db: DatabaseConnection,
    config: &mintbean_core::config::Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(%address, "serving job metrics at /metrics");
    let router = router(MetricsState {
        db,
        token: config.jobs.metrics_token.clone(),
        // Its own listen address, chosen by the operator.
        open_without_token: true,
    });
    super::server::serve(router, listener, &config.http, shutdown).await
}

pub async fn metrics(State(state): State<MetricsState>, headers: HeaderMap) -> Response {
    if state.token.is_none() && !state.open_without_token {
        return json_error(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "GET /metrics is off on this server until METRICS_TOKEN is set (or serve it on its own address: jobs worker --metrics-addr)",
        );
    }
    if let Some(token) = &state.token
        && !bearer_matches(&headers, token)
    {
        let mut response = json_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let mut text = engine::Metrics::global().render();
    match engine::admin::queue_depths(&state.db).await {
        Ok(depths) => text.push_str(&engine::metrics::render_depths(&depths)),
        Err(err) => {
            tracing::warn!(error = %err, "metrics: queue depths unavailable");
            text.push_str("# queue depths unavailable: the database did not answer\n");
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// Compares digests, so the time taken says nothing about how much of the token matched.
fn bearer_matches(headers: &HeaderMap, token: &Secret) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    Sha256::digest(given.as_bytes()) == Sha256::digest(token.expose().as_bytes())
}
