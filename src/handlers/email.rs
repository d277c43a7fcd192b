//! The email kinds' handlers: the queue's expansion, sending one delivery, and the emails that
//! follow from changes.

use std::sync::Arc;

use chrono::Utc;
use sea_orm::{DatabaseTransaction, TransactionTrait};
use serde_json::{Value, json};

use engine::{Handler, JobContext, JobError};

use super::job_error;
use mintbean_core::{
    config::EmailConfig,
    email::{
        drain::{Delivered, Drainer},
        enqueue,
        jobs::{
            BadgeAwarded, CancelMeetEmails, ConfirmRegistration, DrainEmails, ProjectSubmitted,
            SendEmail, SyncMeetReminders, Welcome,
        },
        notifications::{self, Origin},
    },
    error::AppError,
};

/// Expands the due queue rows ([`DrainEmails`]) and sends deliveries ([`SendEmail`]).
#[derive(Clone)]
pub struct Drain {
    pub drainer: Arc<Drainer>,
}

impl Handler<DrainEmails> for Drain {
    async fn run(&self, _args: DrainEmails, _ctx: JobContext) -> Result<Value, JobError> {
        let summary = self
            .drainer
            .expand_due()
            .await
            .map_err(JobError::retryable)?;
        Ok(json!({
            "failed": summary.failed,
            "skipped": summary.skipped,
            "elapsedMs": summary.elapsed.as_millis() as u64,
        }))
    }
}

/// How long a delivery another worker holds waits before it is looked at again.
const BUSY_WAIT: chrono::Duration = chrono::Duration::seconds(5);
/// Why a send job snoozed while another worker held its delivery.
pub const BUSY: &str = "another worker is sending it";

/// The outcome `status` of a sent or settled delivery (`jobs email` counts `sent`).
impl Handler<SendEmail> for Drain {
    async fn run(&self, args: SendEmail, ctx: JobContext) -> Result<Value, JobError> {
        let last = ctx.attempt >= ctx.max_attempts;
        match self
            .drainer
            .deliver(args.delivery_id, last)
            .await
            .map_err(JobError::retryable)?
        {
            Delivered::Sent => Ok(json!({ "status": "sent" })),
            Delivered::Settled(status) => Ok(json!({ "status": status })),
            Delivered::Busy => Err(JobError::snooze(Utc::now() + BUSY_WAIT, BUSY)),
            Delivered::Retry { reason, at } => Err(JobError::retry_at(at, reason)),
            Delivered::Deferred { reason, at } => Err(JobError::snooze(at, reason)),
            Delivered::Failed { reason, .. } => Err(JobError::permanent(reason)),
        }
    }
}

/// The emails that follow from changes: each in one transaction of the job's database.
#[derive(Clone)]
pub struct Effects {
    pub config: Arc<EmailConfig>,
    /// The sender's domain, for the Message-IDs of notifications.
    pub domain: Arc<str>,
}

impl Effects {
    /// Runs `work` in a transaction of the job's database and commits it.
    async fn in_transaction<F>(&self, ctx: &JobContext, work: F) -> Result<Value, JobError>
    where
        F: AsyncFnOnce(&DatabaseTransaction, Origin<'_>) -> Result<Value, AppError>,
    {
        let key = format!("job:{}", ctx.job_id);
        let origin = Origin {
            key: &key,
            domain: &self.domain,
        };
        let txn = ctx.db().begin().await.map_err(JobError::retryable)?;
        let value = work(&txn, origin).await.map_err(job_error)?;
        txn.commit().await.map_err(JobError::retryable)?;
        Ok(value)
    }
}

impl Handler<SyncMeetReminders> for Effects {
    async fn run(&self, args: SyncMeetReminders, ctx: JobContext) -> Result<Value, JobError> {
        self.in_transaction(&ctx, async |txn, _| {
            let queued = enqueue::sync_reminders(txn, args.meet_id, &self.config).await?;
            Ok(json!({ "queued": queued }))
        })
        .await
    }
}

impl Handler<CancelMeetEmails> for Effects {
    async fn run(&self, args: CancelMeetEmails, ctx: JobContext) -> Result<Value, JobError> {
        self.in_transaction(&ctx, async |txn, _| {
            enqueue::on_meet_deleted(txn, args.meet_id).await?;
            Ok(json!({ "cancelled": true }))
        })
        .await
    }
}

impl Handler<ConfirmRegistration> for Effects {
    async fn run(&self, args: ConfirmRegistration, ctx: JobContext) -> Result<Value, JobError> {
        self.in_transaction(&ctx, async |txn, _| {
            let queued = enqueue::confirm_registration(
                txn,
                args.email_id,
                args.user_id,
                args.meet_id,
                &self.config,
            )
            .await?;
            Ok(json!({ "queued": queued }))
        })
        .await
    }
}

impl Handler<Welcome> for Effects {
    async fn run(&self, args: Welcome, ctx: JobContext) -> Result<Value, JobError> {
        self.in_transaction(&ctx, async |txn, origin| {
            notifications::welcome(txn, &origin, args.user_id).await
        })
        .await
    }
}

impl Handler<ProjectSubmitted> for Effects {
    async fn run(&self, args: ProjectSubmitted, ctx: JobContext) -> Result<Value, JobError> {
        self.in_transaction(&ctx, async |txn, origin| {
            notifications::project_submitted(txn, &origin, &self.config, args.project_id).await
        })
        .await
    }
}

impl Handler<BadgeAwarded> for Effects {
    async fn run(&self, args: BadgeAwarded, ctx: JobContext) -> Result<Value, JobError> {
        self.in_transaction(&ctx, async |txn, origin| {
            notifications::badge_awarded(txn, &origin, &self.config, args.project_id, args.badge_id)
                .await
        })
        .await
    }
}
