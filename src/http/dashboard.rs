//! `/admin`: the operations dashboard (queues, jobs, schedules, events, webhooks, email). A page
//! of our own with a little JavaScript over the GraphQL API (and its subscription for live
//! progress); every file is built into the binary. Admins get the dashboard; anyone else the
//! login form (the data itself is refused by GraphQL to non-admins either way).

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
    routing::get,
};

use crate::AppState;
use crate::http::session::{CookieSettings, Session};

const PAGE: &str = include_str!("../../assets/admin/index.html");

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/admin", get(page))
        .route("/admin/", get(page))
        .route("/admin/app.js", get(script))
        .route("/admin/app.css", get(style))
        .with_state(state)
}

/// Which view the page opens with, and why.
fn view_for(user: Option<&mintbean_core::users::entity::Model>) -> (&'static str, &'static str) {
    match user {
        Some(user) if user.is_admin => ("dashboard", ""),
        Some(_) => ("login", "This account is not an admin. Log in as an admin."),
        None => ("login", ""),
    }
}

async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = Session::from_headers(
        &headers,
        // Uncached: the dashboard's page is no hot path.
        CookieSettings::new(&state.config, None),
    );
    let user = match session.current_user(&state.db).await {
        Ok(user) => user,
        Err(error) => {
            return crate::http::errors::json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                format!("the dashboard cannot check the session: {error}"),
            );
        }
    };
    let (view, message) = view_for(user.as_ref());
    let html = PAGE
        .replace("{{VIEW}}", view)
        .replace("{{MESSAGE}}", message);
    let mut response = crate::http::assets::html_page(
        html,
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    let headers = response.headers_mut();
    if let Some(cookie) = session.outgoing_cookie()
        && let Ok(value) = HeaderValue::from_str(&cookie)
    {
        headers.insert(header::SET_COOKIE, value);
    }
    response
}

async fn script() -> Response {
    super::assets::static_asset(
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/admin/app.js"),
    )
}

async fn style() -> Response {
    super::assets::static_asset(
        "text/css; charset=utf-8",
        include_bytes!("../../assets/admin/app.css"),
    )
}
