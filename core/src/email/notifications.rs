//! Notifications: one delivery of a template per recipient, each under `<key>:<user>` (the key
//! is fixed by the job that asks), so that a retry stores none twice.

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use super::delivery::{self, NewDelivery, Status};
use crate::{
    badges::entity as badges,
    config::EmailConfig,
    error::{AppError, AppResult},
    meets::entity as meets,
    projects::entity as projects,
    users::entity as users,
};

/// Where a notification comes from: the key its deliveries carry, and the sender's domain
/// (their Message-IDs are made in it).
pub struct Origin<'a> {
    pub key: &'a str,
    pub domain: &'a str,
}

/// Stores one delivery of `template` per live recipient. Returns how many were new.
async fn notify(
    db: &impl ConnectionTrait,
    origin: &Origin<'_>,
    template: &str,
    recipients: &[users::Model],
    data: Value,
) -> AppResult<u64> {
    let now = Utc::now();
    let rows: Vec<delivery::ActiveModel> = recipients
        .iter()
        .filter(|u| !u.deleted)
        .map(|user| {
            NewDelivery {
                scheduled_email_id: None,
                contact_message_id: None,
                template_name: template.to_owned(),
                meet_id: None,
                recipient_user_id: Some(user.id),
                recipient_email: user.email.clone(),
                status: Status::Pending,
                reason: None,
                retries_left: delivery::RETRY_BUDGET,
                context: Some(data.clone()),
                dedupe_key: Some(format!("{}:{}", origin.key, user.id)),
            }
            .into_row(origin.domain, now)
        })
        .collect();
    // One statement for every recipient, and their send jobs.
    Ok(delivery::store(db, rows).await?.len() as u64)
}

fn missing(what: &str, id: Uuid) -> AppError {
    AppError::NotFound(format!("{what} {id} does not exist"))
}

/// A new account's welcome.
pub async fn welcome(
    db: &impl ConnectionTrait,
    origin: &Origin<'_>,
    user_id: Uuid,
) -> AppResult<Value> {
    let user = users::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or_else(|| missing("user", user_id))?;
    let stored = notify(db, origin, "notifications/welcome", &[user], json!({})).await?;
    Ok(json!({ "queued": stored }))
}

fn project_view(project: &projects::Model, frontend_url: &str) -> Value {
    json!({
        "id": project.id,
        "title": project.title,
        "url": format!("{frontend_url}/projects/{}", project.id),
        "source_code_url": project.source_code_url,
        "live_url": project.live_url,
    })
}

async fn live_project(db: &impl ConnectionTrait, id: Uuid) -> AppResult<projects::Model> {
    projects::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|p| !p.deleted)
        .ok_or_else(|| missing("project", id))
}

/// The admins hear of a new project.
pub async fn project_submitted(
    db: &impl ConnectionTrait,
    origin: &Origin<'_>,
    config: &EmailConfig,
    project_id: Uuid,
) -> AppResult<Value> {
    let project = live_project(db, project_id).await?;
    let author = users::Entity::find_by_id(project.user_id).one(db).await?;
    let meet = match project.meet_id {
        Some(id) => meets::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    let admins = users::Entity::find()
        .filter(users::Column::IsAdmin.eq(true))
        .filter(users::Column::Deleted.eq(false))
        .all(db)
        .await?;
    let data = json!({
        "project": project_view(&project, &config.frontend_url),
        "author": { "name": author.map(|a| format!("{} {}", a.first_name, a.last_name))
                        .unwrap_or_else(|| "Someone".into()) },
        "meet": { "title": meet.map(|m| m.title).unwrap_or_else(|| "no meet".into()) },
    });
    let stored = notify(db, origin, "notifications/project-submitted", &admins, data).await?;
    Ok(json!({ "queued": stored, "admins": admins.len() }))
}

/// A project's owner hears of its badge.
pub async fn badge_awarded(
    db: &impl ConnectionTrait,
    origin: &Origin<'_>,
    config: &EmailConfig,
    project_id: Uuid,
    badge_id: Uuid,
) -> AppResult<Value> {
    let project = live_project(db, project_id).await?;
    let badge = badges::Entity::find_by_id(badge_id)
        .one(db)
        .await?
        .ok_or_else(|| missing("badge", badge_id))?;
    let owner = users::Entity::find_by_id(project.user_id)
        .one(db)
        .await?
        .ok_or_else(|| missing("user", project.user_id))?;
    let data = json!({
        "project": project_view(&project, &config.frontend_url),
        "badge": { "title": badge.title, "description": badge.description },
    });
    let stored = notify(db, origin, "notifications/badge-awarded", &[owner], data).await?;
    Ok(json!({ "queued": stored }))
}
