//! `email_deliveries`: one email to one recipient, sent, retried and recorded on its own. Each
//! pending delivery is sent by an `email.send` job ([`super::jobs::SendEmail`]), stored in the
//! same transaction as the row ([`store`]): the engine claims, retries and records it.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Set, entity::prelude::*, sea_query::OnConflict};

use super::jobs::SendEmail;
use crate::error::AppResult;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub scheduled_email_id: Option<Uuid>,
    pub contact_message_id: Option<Uuid>,
    pub template_name: String,
    pub meet_id: Option<Uuid>,
    pub recipient_user_id: Option<Uuid>,
    pub recipient_email: String,
    pub message_id: String,
    pub status: String,
    pub attempts: i32,
    pub retries_left: i32,
    pub send_after: DateTimeUtc,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The template's data, for emails not about a meet (e.g. a badge awarded).
    pub context: Option<Json>,
    /// Makes the delivery once: a job retried after it stored this delivery stores nothing new.
    pub dedupe_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Retries after the first attempt that a new email gets (the Node queue's `retriesLeft` default).
pub const RETRY_BUDGET: i32 = 3;

/// `email_deliveries.status`; the table's CHECK constraint lists the same values (tested).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pending,
    Sent,
    /// Given up: a permanent SMTP refusal, retries exhausted, or bad data (the reason is in
    /// `last_error`). Kept for operators.
    Failed,
    /// Deliberately not sent (the meet is over, nobody is registered, the account is gone).
    Skipped,
    /// The meet was deleted before the email went out.
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Sent,
        Status::Failed,
        Status::Skipped,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Cancelled => "cancelled",
        }
    }
}

/// Stores `rows` in `db`'s transaction, and for each new pending one the job that sends it. A
/// row that is there already (the same dedupe key, or the same queue row and recipient) is not
/// stored again, so a step that runs twice stores nothing twice. Returns the rows stored.
pub async fn store(db: &impl ConnectionTrait, rows: Vec<ActiveModel>) -> AppResult<Vec<Model>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let stored = match Entity::insert_many(rows)
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_with_returning(db)
        .await
    {
        Ok(stored) => stored,
        // Every row was there already.
        Err(DbErr::RecordNotInserted) => return Ok(Vec::new()),
        Err(err) => return Err(err.into()),
    };
    send(db, &stored).await?;
    Ok(stored)
}

/// Queues the `email.send` job of each pending delivery among `deliveries`.
pub async fn send(db: &impl ConnectionTrait, deliveries: &[Model]) -> AppResult<()> {
    let jobs = deliveries
        .iter()
        .filter(|d| d.status == Status::Pending.as_str())
        .map(SendEmail::job)
        .collect::<Result<Vec<_>, _>>()?;
    engine::enqueue_many(db, jobs).await?;
    Ok(())
}

/// A delivery to create: what it is and to whom. The id, the Message-ID (fixed now, so a re-send
/// is recognisable), the counters and the times are filled in by [`NewDelivery::into_row`].
pub struct NewDelivery {
    pub scheduled_email_id: Option<Uuid>,
    pub contact_message_id: Option<Uuid>,
    pub template_name: String,
    pub meet_id: Option<Uuid>,
    pub recipient_user_id: Option<Uuid>,
    pub recipient_email: String,
    pub status: Status,
    /// Why the delivery is not pending, when it is not.
    pub reason: Option<String>,
    pub retries_left: i32,
    pub context: Option<serde_json::Value>,
    pub dedupe_key: Option<String>,
}

impl NewDelivery {
    /// The row, with a Message-ID in the sender's `domain`.
    pub fn into_row(self, domain: &str, now: DateTime<Utc>) -> ActiveModel {
        let id = Uuid::new_v4();
        ActiveModel {
            id: Set(id),
            scheduled_email_id: Set(self.scheduled_email_id),
            contact_message_id: Set(self.contact_message_id),
            template_name: Set(self.template_name),
            meet_id: Set(self.meet_id),
            recipient_user_id: Set(self.recipient_user_id),
            recipient_email: Set(self.recipient_email),
            message_id: Set(format!("<{id}@{domain}>")),
            status: Set(self.status.as_str().to_owned()),
            attempts: Set(0),
            retries_left: Set(self.retries_left),
            send_after: Set(now),
            last_error: Set(self.reason),
            sent_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            context: Set(self.context),
            dedupe_key: Set(self.dedupe_key),
        }
    }
}
