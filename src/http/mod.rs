//! The HTTP surface: `/graphql`, `/health`, and the layers around them (limits, CORS, panics,
//! JSON error bodies, tracing).

pub mod csrf;
pub mod errors;
pub mod graphql;

use std::{net::SocketAddr, time::Duration};

use axum::{
    Json, Router,
    extract::{State, connect_info::IntoMakeServiceWithConnectInfo},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use tower_http::{catch_panic::CatchPanicLayer, cors::CorsLayer, trace::TraceLayer};

use crate::{
    graphql::{AppSchema, build_schema},
    state::AppState,
};

#[derive(Clone)]
pub struct HttpState {
    pub state: AppState,
    pub schema: AppSchema,
}

pub fn router(state: AppState) -> Router {
    let schema = build_schema(state.clone());
    let cors = cors_layer(&state.config.cors_allowed_origins);
    let mut router = Router::new()
        .route("/graphql", get(graphql::handle).post(graphql::handle))
        .route("/health", get(health))
        .fallback(not_found)
        .with_state(HttpState { state, schema })
        .layer(middleware::map_response(errors::json_error_bodies))
        .layer(TraceLayer::new_for_http());
    if let Some(cors) = cors {
        router = router.layer(cors);
    }
    router.layer(CatchPanicLayer::custom(errors::panic_response))
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let mut allowed_headers = vec![header::CONTENT_TYPE];
    allowed_headers.extend(
        csrf::PREFLIGHT_HEADERS
            .iter()
            .map(|h| HeaderName::from_static(h)),
    );
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers(allowed_headers)
            .max_age(Duration::from_secs(600)),
    )
}

async fn health(State(http): State<HttpState>) -> Response {
    match http.state.db.ping().await {
        Ok(()) => Json(json!({ "status": "ok", "database": "ok" })).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "error", "database": "unreachable" })),
            )
                .into_response()
        }
    }
}

async fn not_found() -> Response {
    errors::json_error(StatusCode::NOT_FOUND, "NOT_FOUND", "No such endpoint")
}

/// Resolves when the process gets SIGTERM or Ctrl-C; in-flight requests then finish.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

/// The router as a service that records each connection's peer address (for rate limits).
pub fn service(state: AppState) -> IntoMakeServiceWithConnectInfo<Router, SocketAddr> {
    router(state).into_make_service_with_connect_info::<SocketAddr>()
}

pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, service(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
}
