//! The HTTP surface: `/graphql`, `/health`, `/metrics`, and the layers around them (limits, CORS, panics,
//! JSON error bodies, tracing).

pub mod admission;
pub mod answer_cache;
pub mod assets;
pub mod csrf;
pub mod dashboard;
pub mod documents;
pub mod errors;
pub mod graphiql;
pub mod graphql;
pub mod graphql_ws;
pub mod hasura;
pub mod koalati;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod principal;
pub mod server;
pub mod session;
pub mod session_cache;
pub mod task_schemas;
pub mod tasks;
pub mod writes;

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use tower_http::{
    catch_panic::CatchPanicLayer, cors::CorsLayer, set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

use crate::{
    graphql::{AppSchema, build_schema, loader::KeptRelations},
    state::AppState,
};
use session_cache::SessionCache;
use tasks::TaskApi;

#[derive(Clone)]
pub struct HttpState {
    pub state: AppState,
    pub schema: AppSchema,
    /// Which root fields may be null (for errored fields, `graphql::nulls`).
    pub nullable_roots: Arc<crate::graphql::nulls::NullableRoots>,
    /// Anonymous answers kept in memory; `None` when turned off.
    pub answers: Option<Arc<answer_cache::AnswerCache>>,
    /// Live sessions kept in memory; `None` when turned off.
    pub sessions: Option<Arc<SessionCache>>,
    /// Relations kept across requests (none when turned off).
    pub relations: KeptRelations,
    /// Parsed documents by their text.
    pub documents: Arc<documents::Documents>,
}

pub fn router(state: AppState) -> Router {
    let schema = build_schema(state.clone());
    let cors = cors_layer(&state.config.cors_allowed_origins);
    let admission = admission::Admission::new(&state.config);
    let metrics = metrics::routes(metrics::MetricsState {
        db: state.db.clone(),
        token: state.config.jobs.metrics_token.clone(),
        open_without_token: state.config.environment
            != mintbean_core::config::Environment::Production,
    });
    let tasks = TaskApi {
        db: state.db.clone(),
        config: state.config.clone(),
        registry: state.jobs.clone(),
        queues: state.queues.clone(),
    };
    let hooks = hasura::HookState {
        db: state.db.clone(),
        config: state.config.clone(),
        detectors: state.detectors.clone(),
    };
    let dashboard = dashboard::routes(state.clone());
    let answers = (state.config.graphql.answer_cache_bytes)
        .map(|bytes| Arc::new(answer_cache::AnswerCache::new(bytes)));
    let sessions = state
        .config
        .session_cache
        .then(|| Arc::new(SessionCache::default()));
    let relations = match state.config.relation_cache {
        true => crate::graphql::kept_relations(),
        false => Vec::new(),
    };
    crate::cache::start_listening(
        state.db.get_postgres_connection_pool().clone(),
        (answers.iter().map(|cache| cache.notified()))
            .chain(sessions.iter().map(|cache| cache.notified()))
            .chain(
                relations
                    .iter()
                    .map(|r| (answer_cache::CHANNEL, r.notified())),
            )
            .collect(),
    );
    let mut router = Router::new()
        .route("/graphql", get(graphql::handle).post(graphql::handle))
        .route("/graphql/ws", get(graphql_ws::handle))
        .route("/health", get(health))
        .with_state(HttpState {
            nullable_roots: Arc::new(crate::graphql::nulls::NullableRoots::from_sdl(
                &schema.sdl(),
            )),
            state,
            schema,
            answers,
            sessions,
            relations: KeptRelations::new(relations),
            documents: Arc::default(),
        })
        .merge(metrics)
        .merge(tasks::routes(tasks.clone()))
        .merge(koalati::routes(tasks.clone()))
        .merge(openapi::routes(tasks))
        .merge(hasura::routes(hooks))
        .merge(dashboard)
        .merge(graphiql::routes())
        .fallback(not_found)
        .layer(middleware::map_response(errors::json_error_bodies))
        .layer(middleware::from_fn_with_state(admission, admission::admit))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(observe::request_span)
                .on_request(())
                .on_response(observe::log_response)
                .on_failure(()),
        )
        .layer(middleware::from_fn(observe::request_id));
    if let Some(cors) = cors {
        router = router.layer(cors);
    }
    router
        .layer(CatchPanicLayer::custom(errors::panic_response))
        .layer(middleware::from_fn(koalati::koalati_error_shape))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    // Authorization and Idempotency-Key: the task API from a browser with an API token.
    let mut allowed_headers = vec![
        header::CONTENT_TYPE,
        header::AUTHORIZATION,
        HeaderName::from_static("idempotency-key"),
    ];
    allowed_headers.extend(
        csrf::PREFLIGHT_HEADERS
            .iter()
            .map(|h| HeaderName::from_static(h)),
    );
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
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

/// Serves until SIGTERM or Ctrl-C.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    serve_until(state, listener, crate::runtime::shutdown_signal()).await
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve_until(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let settings = state.config.http.clone();
    server::serve(router(state), listener, &settings, shutdown).await
}
