//! The emails that follow from changes, as the jobs detectors create (`crate::events`). Each
//! job writes in one transaction and can run again (a retry, a crash before it was recorded)
//! without queueing an email twice: reminders converge on the meet's schedule, and every other
//! email carries a key fixed by its job.

use chrono::Utc;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait, sea_query::OnConflict,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use engine::{Job, JobContext, JobError, KindSettings};

use super::{
    delivery::{self, NewDelivery, Status},
    enqueue,
};
use crate::{
    badges::entity as badges, error::AppError, meets::entity as meets,
    projects::entity as projects, state::JobState, users::entity as users,
};

fn settings() -> KindSettings {
    KindSettings {
        max_attempts: 10,
        timeout: Some(std::time::Duration::from_secs(60)),
        ..KindSettings::default()
    }
}

/// A job kind of this module: its settings, and `run` as the type's `handle`.
macro_rules! email_job {
    ($job:ty, $kind:literal) => {
        impl Job for $job {
            const KIND: &'static str = $kind;
            type State = JobState;

            fn settings() -> KindSettings {
                settings()
            }

            async fn run(self, ctx: JobContext<JobState>) -> Result<Value, JobError> {
                self.handle(ctx).await
            }
        }
    };
}

fn failed(error: AppError) -> JobError {
    JobError::retryable(error)
}

/// Runs `work` in a transaction of the job's database and commits it.
async fn in_transaction<T, F>(ctx: &JobContext<JobState>, work: F) -> Result<T, JobError>
where
    F: AsyncFnOnce(&sea_orm::DatabaseTransaction) -> Result<T, AppError>,
{
    let txn = ctx.db().begin().await.map_err(JobError::retryable)?;
    let value = work(&txn).await.map_err(failed)?;
    txn.commit().await.map_err(JobError::retryable)?;
    Ok(value)
}

/// `email.meet_reminders`: a meet's reminders follow its schedule (new meet, new time).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncMeetReminders {
    pub meet_id: Uuid,
}

email_job!(SyncMeetReminders, "email.meet_reminders");

impl SyncMeetReminders {
    async fn handle(self, ctx: JobContext<JobState>) -> Result<Value, JobError> {
        let config = ctx.state.config.email.clone();
        let queued = in_transaction(&ctx, async |txn| {
            enqueue::sync_reminders(txn, self.meet_id, &config).await
        })
        .await?;
        Ok(json!({ "queued": queued }))
    }
}

/// `email.meet_cancelled`: a deleted meet's emails that have not gone out are cancelled.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelMeetEmails {
    pub meet_id: Uuid,
}

email_job!(CancelMeetEmails, "email.meet_cancelled");

impl CancelMeetEmails {
    async fn handle(self, ctx: JobContext<JobState>) -> Result<Value, JobError> {
        in_transaction(&ctx, async |txn| {
            enqueue::on_meet_deleted(txn, self.meet_id).await
        })
        .await?;
        Ok(json!({ "cancelled": true }))
    }
}

/// `email.registration_confirmation`: the confirmation, with its calendar invite.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmRegistration {
    pub user_id: Uuid,
    pub meet_id: Uuid,
    /// The queue row's id, fixed when the job was created, so the email is queued once.
    pub email_id: Uuid,
}

email_job!(ConfirmRegistration, "email.registration_confirmation");

impl ConfirmRegistration {
    async fn handle(self, ctx: JobContext<JobState>) -> Result<Value, JobError> {
        let config = ctx.state.config.email.clone();
        let queued = in_transaction(&ctx, async |txn| {
            enqueue::confirm_registration(txn, self.email_id, self.user_id, self.meet_id, &config)
                .await
        })
        .await?;
        Ok(json!({ "queued": queued }))
    }
}

/// Stores one delivery of `template` per recipient, each under `<key>:<user>` so that a retry
/// stores none twice. Returns how many were new.
async fn notify(
    db: &impl ConnectionTrait,
    ctx: &JobContext<JobState>,
    template: &str,
    recipients: &[users::Model],
    data: Value,
) -> Result<u64, AppError> {
    let domain = ctx.state.drainer.sender_domain().to_owned();
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
                dedupe_key: Some(format!("job:{}:{}", ctx.job_id, user.id)),
            }
            .into_row(&domain, now)
        })
        .collect();
    if rows.is_empty() {
        return Ok(0);
    }
    // One statement for every recipient.
    let stored = delivery::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(delivery::Column::DedupeKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(stored)
}

fn permanent(what: &str, id: Uuid) -> JobError {
    JobError::permanent(format!("{what} {id} does not exist"))
}

/// `email.welcome`: a new account gets a welcome (unless `WELCOME_EMAILS=false`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Welcome {
    pub user_id: Uuid,
}

email_job!(Welcome, "email.welcome");

impl Welcome {
    async fn handle(self, ctx: JobContext<JobState>) -> Result<Value, JobError> {
        let user = users::Entity::find_by_id(self.user_id)
            .one(ctx.db())
            .await
            .map_err(JobError::retryable)?
            .ok_or_else(|| permanent("user", self.user_id))?;
        let stored = notify(ctx.db(), &ctx, "notifications/welcome", &[user], json!({}))
            .await
            .map_err(failed)?;
        Ok(json!({ "queued": stored }))
    }
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

async fn live_project(ctx: &JobContext<JobState>, id: Uuid) -> Result<projects::Model, JobError> {
    projects::Entity::find_by_id(id)
        .one(ctx.db())
        .await
        .map_err(JobError::retryable)?
        .filter(|p| !p.deleted)
        .ok_or_else(|| permanent("project", id))
}

/// `email.project_submitted`: the admins hear of a new project.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSubmitted {
    pub project_id: Uuid,
}

email_job!(ProjectSubmitted, "email.project_submitted");

impl ProjectSubmitted {
    async fn handle(self, ctx: JobContext<JobState>) -> Result<Value, JobError> {
        let db = ctx.db();
        let project = live_project(&ctx, self.project_id).await?;
        let author = users::Entity::find_by_id(project.user_id)
            .one(db)
            .await
            .map_err(JobError::retryable)?;
        let meet = match project.meet_id {
            Some(id) => meets::Entity::find_by_id(id)
                .one(db)
                .await
                .map_err(JobError::retryable)?,
            None => None,
        };
        let admins = users::Entity::find()
            .filter(users::Column::IsAdmin.eq(true))
            .filter(users::Column::Deleted.eq(false))
            .all(db)
            .await
            .map_err(JobError::retryable)?;
        let frontend = &ctx.state.config.email.frontend_url;
        let data = json!({
            "project": project_view(&project, frontend),
            "author": { "name": author.map(|a| format!("{} {}", a.first_name, a.last_name))
                            .unwrap_or_else(|| "Someone".into()) },
            "meet": { "title": meet.map(|m| m.title).unwrap_or_else(|| "no meet".into()) },
        });
        let stored = notify(db, &ctx, "notifications/project-submitted", &admins, data)
            .await
            .map_err(failed)?;
        Ok(json!({ "queued": stored, "admins": admins.len() }))
    }
}

/// `email.badge_awarded`: a project's owner hears of its badge.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BadgeAwarded {
    pub project_id: Uuid,
    pub badge_id: Uuid,
}

email_job!(BadgeAwarded, "email.badge_awarded");

impl BadgeAwarded {
    async fn handle(self, ctx: JobContext<JobState>) -> Result<Value, JobError> {
        let db = ctx.db();
        let project = live_project(&ctx, self.project_id).await?;
        let badge = badges::Entity::find_by_id(self.badge_id)
            .one(db)
            .await
            .map_err(JobError::retryable)?
            .ok_or_else(|| permanent("badge", self.badge_id))?;
        let Some(owner) = users::Entity::find_by_id(project.user_id)
            .one(db)
            .await
            .map_err(JobError::retryable)?
        else {
            return Err(permanent("user", project.user_id));
        };
        let data = json!({
            "project": project_view(&project, &ctx.state.config.email.frontend_url),
            "badge": { "title": badge.title, "description": badge.description },
        });
        let stored = notify(db, &ctx, "notifications/badge-awarded", &[owner], data)
            .await
            .map_err(failed)?;
        Ok(json!({ "queued": stored }))
    }
}
