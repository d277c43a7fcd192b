//! Server-side revocation of session tokens (`revoked_sessions`): a token ended by `logout` stops
//! working even where it was copied. Tokens are identified by their SHA-256, so Node-issued
//! tokens (which carry no id of their own) are revocable too.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, QueryFilter, Statement, sea_query::Expr};
use uuid::Uuid;

use crate::{
    error::AppResult,
    users::entity::{Column, Entity as Users, Model as User},
};

/// The active user a token names, unless the token was revoked: one statement, so a session
/// costs no more than the user lookup it always needed.
pub async fn find_session_user(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    token_sha256: &[u8],
) -> AppResult<Option<User>> {
    Ok(Users::live()
        .filter(Column::Id.eq(user_id))
        .filter(Expr::cust_with_values(
            "NOT EXISTS (SELECT 1 FROM revoked_sessions WHERE token_sha256 = $1)",
            [token_sha256.to_vec()],
        ))
        .one(db)
        .await?)
}

/// Revokes a token until it expires; tokens past their expiry are pruned on the way.
pub async fn revoke(
    db: &impl ConnectionTrait,
    token_sha256: &[u8],
    user_id: Uuid,
    expires_at: DateTime<Utc>,
) -> AppResult<()> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "WITH pruned AS (DELETE FROM revoked_sessions WHERE expires_at < now())
         INSERT INTO revoked_sessions (token_sha256, user_id, expires_at)
         SELECT $1, id, $3 FROM users WHERE id = $2
         ON CONFLICT (token_sha256) DO NOTHING",
        [
            token_sha256.to_vec().into(),
            user_id.into(),
            expires_at.into(),
        ],
    ))
    .await?;
    Ok(())
}
