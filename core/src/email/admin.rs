//! What admins see and do about email (the dashboard; `jobs email status` is the CLI twin).

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::drain::{self, EmailStatus};
use crate::{auth::Caller, error::AppResult};

/// Admins. The queue, deliveries by status and the latest `failures` failed ones.
pub async fn status(
    db: &impl ConnectionTrait,
    caller: &Caller,
    failures: u64,
) -> AppResult<EmailStatus> {
    caller.require_admin()?;
    Ok(drain::status(db, failures.clamp(1, 100)).await?)
}

/// Admins. Failed deliveries (or one) pending again; how many.
pub async fn retry_failed(
    db: &impl ConnectionTrait,
    caller: &Caller,
    id: Option<Uuid>,
) -> AppResult<u64> {
    caller.require_admin()?;
    Ok(drain::retry_failed(db, id).await?)
}
