//! Putting emails on the queue. Every function here runs inside the caller's transaction, so an
//! email is queued if and only if the change that causes it is committed.

use std::collections::HashSet;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect, Set, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    delivery::{self, Status},
    schedule::{self, Kind, TemplateName},
    scheduled_email,
};
use crate::{config::EmailConfig, error::AppResult, meets::entity::Model as Meet};

fn reminder_names() -> Vec<String> {
    TemplateName::all()
        .into_iter()
        .filter(|t| t.kind.is_reminder())
        .map(|t| t.to_string())
        .collect()
}

async fn queue(
    db: &impl ConnectionTrait,
    template: TemplateName,
    meet: &Meet,
    user_recipient: Option<Uuid>,
    send_at: chrono::DateTime<Utc>,
) -> AppResult<()> {
    let now = Utc::now();
    scheduled_email::ActiveModel {
        id: Set(Uuid::new_v4()),
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

/// Reminders for a new meet (unless `DISABLE_NEW_MEET_REMINDERS`).
pub async fn on_meet_created(
    db: &impl ConnectionTrait,
    meet: &Meet,
    config: &EmailConfig,
) -> AppResult<()> {
    if config.disable_new_meet_reminders {
        return Ok(());
    }
    let planned = schedule::reminders(
        meet.kind(),
        meet.start_instant(),
        meet.end_instant(),
        Utc::now(),
        &|_| false,
    );
    for reminder in planned {
        queue(db, reminder.template, meet, None, reminder.send_at).await?;
    }
    Ok(())
}

/// After a meet's start, end, region or type changed: its pending reminders are replaced by the
/// new schedule. Reminders already sent are not sent again unless their new time is still ahead.
/// With `DISABLE_NEW_MEET_REMINDERS`, only reminders that were pending are re-timed.
pub async fn on_meet_rescheduled(
    db: &impl ConnectionTrait,
    meet: &Meet,
    config: &EmailConfig,
) -> AppResult<()> {
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
    let sent_kinds: HashSet<Kind> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::TemplateName)
        .distinct()
        .filter(delivery::Column::MeetId.eq(meet.id))
        .filter(delivery::Column::ScheduledEmailId.is_not_null())
        .filter(delivery::Column::TemplateName.is_in(reminders))
        .into_tuple::<String>()
        .all(db)
        .await?
        .iter()
        .filter_map(|name| TemplateName::parse(name).map(|t| t.kind))
        .collect();
    let planned = schedule::reminders(
        meet.kind(),
        meet.start_instant(),
        meet.end_instant(),
        Utc::now(),
        &|kind| sent_kinds.contains(&kind),
    );
    for reminder in planned {
        if config.disable_new_meet_reminders && !pending_kinds.contains(&reminder.template.kind) {
            continue;
        }
        queue(db, reminder.template, meet, None, reminder.send_at).await?;
    }
    Ok(())
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

/// An immediate confirmation (with a calendar invite) for a new registration, unless
/// `DISABLE_REGISTRATION_EMAILS`.
pub async fn on_registration(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    meet: &Meet,
    config: &EmailConfig,
) -> AppResult<()> {
    if config.disable_registration_emails {
        return Ok(());
    }
    let template = TemplateName::for_meet(meet.kind(), Kind::RegistrationConfirmation);
    queue(db, template, meet, Some(user_id), Utc::now()).await
}
