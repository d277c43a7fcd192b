//! Who a task-API request is from: an `Authorization: Bearer` credential (an API token or a
//! Koalati JWT), or the `jwt` session cookie (with GraphQL's CSRF rule for writes).

use axum::http::{HeaderMap, Method, header};
use sea_orm::DatabaseConnection;

use super::{
    csrf,
    session::{CookieSettings, Session},
};
use crate::tasks::principal::{Principal, from_bearer};
use mintbean_core::{
    config::Config,
    error::{AppError, AppResult},
};

/// The bearer credential of `Authorization`, if it has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credential.trim())
}

/// Authenticates a task-API request. Errors: `UNAUTHENTICATED` (no or bad credentials, answered
/// 401 with `WWW-Authenticate`), `FORBIDDEN` (a non-admin session, a cross-site form).
pub async fn authenticate(
    db: &DatabaseConnection,
    config: &Config,
    method: &Method,
    headers: &HeaderMap,
) -> AppResult<Principal> {
    match identify(db, config, method, headers).await? {
        Principal::User(_) => Err(AppError::forbidden(
            "with a session, only admins may use the task API; other clients use an API token",
        )),
        principal => Ok(principal),
    }
}

/// Who the request is from, a non-admin session included (it may follow its own jobs).
pub async fn identify(
    db: &DatabaseConnection,
    config: &Config,
    method: &Method,
    headers: &HeaderMap,
) -> AppResult<Principal> {
    if headers.contains_key(header::AUTHORIZATION) {
        let credential = bearer(headers).ok_or_else(|| {
            AppError::Unauthenticated("Authorization must be `Bearer <token>`".into())
        })?;
        return from_bearer(db, config, credential).await;
    }
    let session = Session::from_headers(
        headers,
        // Uncached: a task request is no hot path.
        CookieSettings::new(config, None),
    );
    if !session.presented_token() {
        return Err(AppError::Unauthenticated(
            "send `Authorization: Bearer <token>`".into(),
        ));
    }
    if *method != Method::GET && !csrf::is_allowed(headers) {
        return Err(AppError::forbidden(
            "a cookie-authenticated request must carry a JSON content type or a CSRF header",
        ));
    }
    match session.current_user(db).await? {
        Some(user) if user.is_admin => Ok(Principal::Admin(user)),
        Some(user) => Ok(Principal::User(user)),
        None => Err(AppError::Unauthenticated(
            "the session has expired; log in again".into(),
        )),
    }
}
