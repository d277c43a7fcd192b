//! API tokens: `mbt_` + 256 random bits (base64url), shown once and stored as SHA-256; scoped
//! to `kind:action` pairs (`*` for every kind; actions create, read, cancel, admin — admin
//! implies the others), with an optional expiry, revocable.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as BASE64};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use mintbean_core::error::{AppError, AppResult};

pub const PREFIX: &str = "mbt_";
pub const ACTIONS: &[&str] = &["create", "read", "cancel", "admin"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Read,
    Cancel,
    Admin,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Read => "read",
            Action::Cancel => "cancel",
            Action::Admin => "admin",
        }
    }
}

/// A `kind:action` scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub kind: String,
    pub action: String,
}

impl Scope {
    pub fn parse(text: &str) -> AppResult<Scope> {
        let (kind, action) = text
            .trim()
            .rsplit_once(':')
            .ok_or_else(|| AppError::bad_input("scope", format!("`{text}` is not kind:action")))?;
        if kind.is_empty() || !ACTIONS.contains(&action) {
            return Err(AppError::bad_input(
                "scope",
                format!(
                    "`{text}`: a scope is KIND:ACTION (KIND or *; ACTION one of {})",
                    ACTIONS.join(", ")
                ),
            ));
        }
        Ok(Scope {
            kind: kind.to_owned(),
            action: action.to_owned(),
        })
    }

    fn allows(&self, kind: &str, action: Action) -> bool {
        (self.kind == "*" || self.kind == kind)
            && (self.action == action.name() || self.action == "admin")
    }
}

/// Whether `scopes` (as stored) allow `action` on `kind`.
pub fn allows(scopes: &[String], kind: &str, action: Action) -> bool {
    scopes
        .iter()
        .filter_map(|s| Scope::parse(s).ok())
        .any(|s| s.allows(kind, action))
}

#[derive(Clone, Debug, Serialize, FromQueryResult)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, name, prefix, scopes, created_by, created_at, expires_at, revoked_at, last_used_at";

fn statement(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Creates a token; the answer's `String` is the token itself, which is not stored.
pub async fn create(
    db: &impl ConnectionTrait,
    name: &str,
    scopes: &[String],
    expires_at: Option<DateTime<Utc>>,
    created_by: Option<String>,
) -> AppResult<(ApiToken, String)> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(AppError::bad_input("name", "a name is 1 to 200 characters"));
    }
    if scopes.is_empty() {
        return Err(AppError::bad_input("scope", "give at least one scope"));
    }
    let scopes: Vec<String> = scopes
        .iter()
        .map(|s| Scope::parse(s).map(|s| format!("{}:{}", s.kind, s.action)))
        .collect::<AppResult<_>>()?;
    if expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(AppError::bad_input("expires", "the expiry is in the past"));
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{PREFIX}{}", BASE64.encode(bytes));
    let sql = format!(
        "INSERT INTO api_tokens (name, prefix, token_sha256, scopes, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    );
    let row = db
        .query_one_raw(statement(
            &sql,
            vec![
                name.into(),
                token[..PREFIX.len() + 8].to_owned().into(),
                digest(&token).into(),
                scopes.into(),
                created_by.into(),
                expires_at.into(),
            ],
        ))
        .await?
        .ok_or_else(|| AppError::internal("creating a token returned nothing"))?;
    Ok((ApiToken::from_query_result(&row, "")?, token))
}

pub async fn list(db: &impl ConnectionTrait) -> AppResult<Vec<ApiToken>> {
    let sql = format!("SELECT {COLUMNS} FROM api_tokens ORDER BY created_at");
    let rows = db.query_all_raw(statement(&sql, vec![])).await?;
    Ok(rows
        .iter()
        .map(|row| ApiToken::from_query_result(row, ""))
        .collect::<Result<_, _>>()?)
}

/// Revokes a token at once (its next request is refused).
pub async fn revoke(db: &impl ConnectionTrait, id: Uuid) -> AppResult<ApiToken> {
    let sql = format!(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING {COLUMNS}"
    );
    let row = db
        .query_one_raw(statement(&sql, vec![id.into()]))
        .await?
        .ok_or_else(|| AppError::not_found("Token"))?;
    Ok(ApiToken::from_query_result(&row, "")?)
}

/// Why a presented token is not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    Unknown,
    Revoked,
    Expired,
}

/// The live token `presented` is, found by its hash (and its last use recorded, at most once a
/// minute).
pub async fn verify(
    db: &impl ConnectionTrait,
    presented: &str,
) -> AppResult<Result<ApiToken, Rejected>> {
    if !presented.starts_with(PREFIX) || presented.len() > 100 {
        return Ok(Err(Rejected::Unknown));
    }
    // One statement: the lookup, and the last use recorded at most once a minute.
    let sql = format!(
        "WITH found AS (SELECT {COLUMNS} FROM api_tokens WHERE token_sha256 = $1),
              touched AS (
                  UPDATE api_tokens SET last_used_at = now()
                   WHERE id IN (SELECT id FROM found)
                     AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute'))
         SELECT * FROM found"
    );
    let row = db
        .query_one_raw(statement(&sql, vec![digest(presented).into()]))
        .await?;
    let Some(row) = row else {
        return Ok(Err(Rejected::Unknown));
    };
    let token = ApiToken::from_query_result(&row, "")?;
    if token.revoked_at.is_some() {
        return Ok(Err(Rejected::Revoked));
    }
    if token.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Ok(Err(Rejected::Expired));
    }
    Ok(Ok(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_allow_their_kind_and_action_and_admin_allows_all() {
        let scopes = vec!["link_check:create".to_owned(), "*:read".to_owned()];
        assert!(allows(&scopes, "link_check", Action::Create));
        assert!(!allows(&scopes, "link_check", Action::Cancel));
        assert!(allows(&scopes, "other", Action::Read));
        assert!(!allows(&scopes, "other", Action::Create));
        let admin = vec!["link_check:admin".to_owned()];
        assert!(allows(&admin, "link_check", Action::Cancel));
        assert!(!allows(&admin, "other", Action::Read));
    }

    #[test]
    fn malformed_scopes_are_refused() {
        for bad in ["link_check", ":read", "link_check:write", "*:"] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
    }
}
