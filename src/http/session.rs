//! The per-request session: who is calling, and which cookie to send back.
//!
//! The `jwt` cookie only says who the caller claims to be; the user row (and with it admin rights)
//! is read from the database (or the session cache, `http::session_cache`), at most once per
//! request.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, header};
use chrono::Utc;
use cookie::{Cookie, SameSite, time};
use sea_orm::DatabaseConnection;

use sha2::{Digest, Sha256};

use super::session_cache::{SessionCache, TokenDigest};
use mintbean_core::auth::{revocation, token};
use mintbean_core::config::{Config, Secret};
use mintbean_core::error::{AppError, AppResult};
use mintbean_core::users::entity::Model as User;

pub const COOKIE_NAME: &str = "jwt";

#[derive(Clone)]
pub struct CookieSettings {
    pub secret: Secret,
    pub secure: bool,
    /// Live sessions kept in memory (`http::session_cache`); `None` to always ask the database.
    pub cache: Option<Arc<SessionCache>>,
}

impl CookieSettings {
    pub fn new(config: &Config, cache: Option<Arc<SessionCache>>) -> Self {
        CookieSettings {
            secret: config.jwt_secret.clone(),
            secure: config.cookie_secure,
            cache,
        }
    }
}

/// The verified token a request came with.
struct PresentedToken {
    verified: token::Verified,
    /// SHA-256 of the token: what `logout` revokes and every lookup checks.
    sha256: TokenDigest,
}

pub struct Session {
    settings: CookieSettings,
    presented: Option<PresentedToken>,
    /// The (non-deleted) user the cookie names, looked up at most once. Concurrent resolvers wait
    /// for the same lookup and are all released together, which keeps their DataLoader calls in
    /// one batch.
    looked_up: tokio::sync::OnceCell<Option<User>>,
    /// Set by login/logout during this request; wins over the lookup.
    changed: Mutex<Option<Option<User>>>,
    /// A `Set-Cookie` value to send with the response.
    outgoing_cookie: Mutex<Option<String>>,
}

impl Session {
    /// Reads the `jwt` cookie. A present but invalid, expired or forged token is treated as
    /// logged out, and the response clears it so the browser stops sending it. Several `jwt`
    /// cookies (one may have been planted by a sibling subdomain) are treated the same way.
    pub fn from_headers(headers: &HeaderMap, settings: CookieSettings) -> Self {
        let tokens: Vec<String> = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .filter(|c| c.name() == COOKIE_NAME)
            .map(|c| c.value().to_owned())
            .collect();
        let presented = match tokens.as_slice() {
            [only] => {
                token::verify(only, settings.secret.expose()).map(|verified| PresentedToken {
                    verified,
                    sha256: Sha256::digest(only.as_bytes()).into(),
                })
            }
            _ => None,
        };
        let session = Session {
            settings,
            presented,
            looked_up: tokio::sync::OnceCell::new(),
            changed: Mutex::new(None),
            outgoing_cookie: Mutex::new(None),
        };
        if !tokens.is_empty() && session.presented.is_none() {
            session.clear_cookie();
        }
        session
    }

    /// Whether the request came with a valid session token (for response caching headers).
    pub fn presented_token(&self) -> bool {
        self.presented.is_some()
    }

    pub async fn current_user(&self, db: &DatabaseConnection) -> AppResult<Option<User>> {
        if let Some(changed) = lock(&self.changed).clone() {
            return Ok(changed);
        }
        let Some(presented) = &self.presented else {
            return Ok(None);
        };
        let user = self
            .looked_up
            .get_or_try_init(|| async {
                let cache = self.settings.cache.as_deref();
                if let Some(user) = cache.and_then(|cache| cache.lookup(&presented.sha256)) {
                    return Ok(Some(user));
                }
                let started = cache.and_then(SessionCache::generation);
                let user = revocation::find_session_user(
                    db,
                    presented.verified.user_id,
                    &presented.sha256,
                )
                .await?;
                match (&user, cache.zip(started)) {
                    (Some(user), Some((cache, started))) => {
                        cache.store(started, presented.sha256, user.clone());
                    }
                    // Signed for an account that no longer exists, or revoked: log the browser out.
                    (None, _) => self.clear_cookie(),
                    (Some(_), None) => {}
                }
                Ok::<_, AppError>(user)
            })
            .await?;
        Ok(user.clone())
    }

    /// Logs `user` in: issues a token, queues the cookie and returns the token.
    pub fn log_in(&self, user: &User) -> AppResult<String> {
        let token = token::issue(
            user.id,
            user.is_admin,
            self.settings.secret.expose(),
            Utc::now(),
        )?;
        let cookie = Cookie::build((COOKIE_NAME, token.clone()))
            .http_only(true)
            .same_site(SameSite::Strict)
            .path("/")
            .secure(self.settings.secure)
            .max_age(time::Duration::days(token::SESSION_DAYS))
            .expires(time::OffsetDateTime::now_utc() + time::Duration::days(token::SESSION_DAYS));
        self.set_outgoing(cookie.build().to_string());
        *lock(&self.changed) = Some(Some(user.clone()));
        Ok(token)
    }

    /// Logs out: the presented token is revoked on the server (a copy of it stops working too),
    /// and the cookie is cleared.
    pub async fn log_out(&self, db: &DatabaseConnection) -> AppResult<()> {
        if let Some(presented) = &self.presented {
            revocation::revoke(
                db,
                &presented.sha256,
                presented.verified.user_id,
                presented.verified.expires_at,
            )
            .await?;
        }
        self.clear_cookie();
        *lock(&self.changed) = Some(None);
        Ok(())
    }

    fn clear_cookie(&self) {
        let cookie = Cookie::build((COOKIE_NAME, ""))
            .http_only(true)
            .same_site(SameSite::Strict)
            .path("/")
            .secure(self.settings.secure)
            .max_age(time::Duration::ZERO)
            .expires(time::OffsetDateTime::UNIX_EPOCH);
        self.set_outgoing(cookie.build().to_string());
    }

    fn set_outgoing(&self, value: String) {
        *lock(&self.outgoing_cookie) = Some(value);
    }

    /// The `Set-Cookie` header value this request should answer with, if any.
    pub fn outgoing_cookie(&self) -> Option<String> {
        lock(&self.outgoing_cookie).clone()
    }
}

/// A poisoned lock only means another resolver panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
