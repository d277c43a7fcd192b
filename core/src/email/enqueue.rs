//! Putting emails on the queue, for the jobs that follow a meet's changes (`email::effects`).
//! Each function runs in its job's transaction and can run again without queueing twice.

use std::collections::HashSet;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect, Set, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    delivery::{self, NewDelivery, Status},
    schedule::{self, Kind, TemplateName},
    scheduled_email,
};
use crate::{
    config::EmailConfig,
    error::{AppError, AppResult},
    meets::{entity as meets, entity::Model as Meet, registration},
    users::entity as users,
};

fn reminder_names() -> Vec<String> {
    TemplateName::all()
        .into_iter()
        .filter(|t| t.kind.is_reminder())
        .map(|t| t.to_string())
        .collect()
}

async fn queue(
    db: &impl ConnectionTrait,
    id: Uuid,
    template: TemplateName,
    meet: &Meet,
    user_recipient: Option<Uuid>,
    send_at: chrono::DateTime<Utc>,
) -> AppResult<()> {
    let now = Utc::now();
    scheduled_email::ActiveModel {
        id: Set(id),
        template_name: Set(template.to_string()),
        user_recipient_id: Set(user_recipient),
        meet_recipient_id: Set(user_recipient.is_none().then_some(meet.id)),
        meet_id: Set(Some(meet.id)),
        send_at: Set(send_at),
        retries_left: Set(delivery::RETRY_BUDGET),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Brings a meet's pending reminders in line with its schedule: they are replaced by the
/// reminders its start, end, zone and type call for now. Reminders already sent are not sent
/// again unless their new time is still ahead. With `DISABLE_NEW_MEET_REMINDERS` only reminders
/// that were pending are re-timed (a new meet gets none). A deleted meet's emails are cancelled.
/// Running it twice changes nothing more; the meet's row lock serialises concurrent runs.
pub async fn sync_reminders(
    db: &impl ConnectionTrait,
    meet_id: Uuid,
    config: &EmailConfig,
) -> AppResult<usize> {
    let Some(meet) = meets::Entity::find_by_id(meet_id)
        .lock_exclusive()
        .one(db)
        .await?
    else {
        return Ok(0);
    };
    if meet.deleted {
        on_meet_deleted(db, meet_id).await?;
        return Ok(0);
    }
    let reminders = reminder_names();
    let pending = scheduled_email::Entity::find()
        .filter(scheduled_email::Column::MeetRecipientId.eq(meet.id))
        .filter(scheduled_email::Column::TemplateName.is_in(reminders.clone()))
        .lock_exclusive()
        .all(db)
        .await?;
    let pending_kinds: HashSet<Kind> = pending
        .iter()
        .filter_map(|row| TemplateName::parse(&row.template_name).map(|t| t.kind))
        .collect();
    scheduled_email::Entity::delete_many()
        .filter(scheduled_email::Column::Id.is_in(pending.iter().map(|row| row.id)))
        .exec(db)
        .await?;
    let sent_kinds = sent_reminder_kinds(db, meet.id, reminders).await?;
    let planned = schedule::reminders(
        meet.kind(),
        meet.start_instant(),
        meet.end_instant(),
        Utc::now(),
        &|kind| sent_kinds.contains(&kind),
    );
    let mut queued = 0;
    for reminder in planned {
        if config.disable_new_meet_reminders && !pending_kinds.contains(&reminder.template.kind) {
            continue;
        }
        queue(
            db,
            Uuid::new_v4(),
            reminder.template,
            &meet,
            None,
            reminder.send_at,
        )
        .await?;
        queued += 1;
    }
    Ok(queued)
}

/// The reminder kinds of a meet that have gone out.
async fn sent_reminder_kinds(
    db: &impl ConnectionTrait,
    meet_id: Uuid,
    reminders: Vec<String>,
) -> AppResult<HashSet<Kind>> {
    Ok(delivery::Entity::find()
        .select_only()
        .column(delivery::Column::TemplateName)
        .distinct()
        .filter(delivery::Column::MeetId.eq(meet_id))
        .filter(delivery::Column::ScheduledEmailId.is_not_null())
        .filter(delivery::Column::TemplateName.is_in(reminders))
        .into_tuple::<String>()
        .all(db)
        .await?
        .iter()
        .filter_map(|name| TemplateName::parse(name).map(|t| t.kind))
        .collect())
}

/// A deleted meet's queued emails are dropped, and deliveries not yet sent are cancelled.
pub async fn on_meet_deleted(db: &impl ConnectionTrait, meet_id: Uuid) -> AppResult<()> {
    scheduled_email::Entity::delete_many()
        .filter(
            Condition::any()
                .add(scheduled_email::Column::MeetId.eq(meet_id))
                .add(scheduled_email::Column::MeetRecipientId.eq(meet_id)),
        )
        .exec(db)
        .await?;
    delivery::Entity::update_many()
        .col_expr(
            delivery::Column::Status,
            Expr::value(Status::Cancelled.as_str()),
        )
        .col_expr(
            delivery::Column::LastError,
            Expr::value("the meet was deleted"),
        )
        .col_expr(delivery::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(delivery::Column::MeetId.eq(meet_id))
        .filter(delivery::Column::Status.eq(Status::Pending.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

/// An immediate confirmation (with a calendar invite) for a registration that is still live,
/// unless `DISABLE_REGISTRATION_EMAILS`: its delivery and send job, straight away (it has no
/// time to wait for, so no queue row). `email_id` makes it once: a retry finds the delivery.
pub async fn confirm_registration(
    db: &impl ConnectionTrait,
    email_id: Uuid,
    user_id: Uuid,
    meet_id: Uuid,
    config: &EmailConfig,
) -> AppResult<bool> {
    if config.disable_registration_emails {
        return Ok(false);
    }
    let registered = registration::Entity::live()
        .filter(registration::Column::UserId.eq(user_id))
        .filter(registration::Column::MeetId.eq(meet_id))
        .one(db)
        .await?
        .is_some();
    let meet = meets::Entity::live()
        .filter(meets::Column::Id.eq(meet_id))
        .one(db)
        .await?;
    let (true, Some(meet)) = (registered, meet) else {
        return Ok(false);
    };
    let Some(user) = users::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .filter(|u| !u.deleted)
    else {
        return Ok(false);
    };
    let domain = config
        .sender_domain()
        .ok_or_else(|| AppError::internal("SENDER_EMAIL is not an address"))?;
    let blank = user.email.trim().is_empty();
    let row = NewDelivery {
        scheduled_email_id: None,
        contact_message_id: None,
        template_name: TemplateName::for_meet(meet.kind(), Kind::RegistrationConfirmation)
            .to_string(),
        meet_id: Some(meet.id),
        recipient_user_id: Some(user.id),
        recipient_email: user.email,
        status: if blank {
            Status::Failed
        } else {
            Status::Pending
        },
        reason: blank.then(|| "the recipient has no email address".to_owned()),
        retries_left: delivery::RETRY_BUDGET,
        context: None,
        dedupe_key: Some(format!("confirmation:{email_id}")),
    }
    .into_row(&domain, Utc::now());
    Ok(!delivery::store(db, vec![row]).await?.is_empty())
}
