//! The email domain's job kinds, as arguments a detector or service enqueues; their handlers are
//! registered at the root (`crate::handlers::email`).
//!
//! - `email.drain` runs the drainer; a schedule runs it every `EMAIL_POLL_INTERVAL_SECS`
//!   (overlap: skip), so several workers never drain twice at once and a slow drain is not
//!   stacked on. Each email is still claimed and recorded by the drainer itself
//!   (`email_deliveries`), so it goes out once whoever runs the drain.
//! - The rest follow from changes (`crate::events`): each writes in one transaction and can run
//!   again (a retry, a crash before it was recorded) without queueing an email twice: reminders
//!   converge on the meet's schedule, and every other email carries a key fixed by its job.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use engine::{JobArgs, KindSettings, Overlap, Schedule};

pub const QUEUE: &str = "email";

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct DrainEmails {}

impl JobArgs for DrainEmails {
    const KIND: &'static str = "email.drain";

    fn settings() -> KindSettings {
        KindSettings {
            queue: QUEUE,
            // The next slot is the retry.
            max_attempts: 1,
            warn_after: Some(std::time::Duration::from_secs(600)),
            // In-flight emails are finished and recorded after the token fires.
            cancel_grace: std::time::Duration::from_secs(60),
            ..KindSettings::default()
        }
    }
}

/// The drain's schedule: every `interval`, rounded down to a period that divides a minute (or
/// an hour), since cron slots are clock-aligned.
pub fn schedule(interval: std::time::Duration) -> Schedule {
    Schedule::of("email.drain", every(interval), &DrainEmails {})
        .overlap(Overlap::Skip)
        .run_on_start(true)
}

fn every(interval: std::time::Duration) -> String {
    const DIVISORS: [u64; 12] = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60];
    let largest_at_most = |n: u64| {
        DIVISORS
            .iter()
            .rev()
            .find(|d| **d <= n)
            .copied()
            .unwrap_or(1)
    };
    let secs = interval.as_secs().max(1);
    if secs < 60 {
        format!("*/{} * * * * *", largest_at_most(secs))
    } else {
        format!("0 */{} * * * *", largest_at_most(secs / 60))
    }
}

/// `email.send`: one delivery (`email_deliveries`) sent, with the delivery's own retry budget.
/// Queued with its row by [`super::delivery::store`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendEmail {
    pub delivery_id: Uuid,
}

impl JobArgs for SendEmail {
    const KIND: &'static str = "email.send";

    fn settings() -> KindSettings {
        KindSettings {
            queue: QUEUE,
            max_attempts: 1 + super::delivery::RETRY_BUDGET,
            // The SMTP exchange has its own timeout (EMAIL_SEND_TIMEOUT_SECS); this bounds a
            // stuck one. An email being sent when the token fires is finished and recorded.
            timeout: Some(std::time::Duration::from_secs(300)),
            cancel_grace: std::time::Duration::from_secs(60),
            ..KindSettings::default()
        }
    }

    fn options(&self) -> engine::JobOptions {
        engine::JobOptions {
            dedupe_key: Some(self.delivery_id.to_string()),
            ..engine::JobOptions::default()
        }
    }
}

impl SendEmail {
    /// The job sending `delivery`, with the delivery's attempts (its first and its retries).
    pub fn job(delivery: &super::delivery::Model) -> Result<engine::NewJob, engine::EngineError> {
        let job = engine::NewJob::of(&SendEmail {
            delivery_id: delivery.id,
        })?;
        Ok(job
            .max_attempts(1 + delivery.retries_left.max(0))
            .run_at(delivery.send_after))
    }
}

/// The settings of the kinds that follow from changes.
fn effect_settings() -> KindSettings {
    KindSettings {
        max_attempts: 10,
        timeout: Some(std::time::Duration::from_secs(60)),
        ..KindSettings::default()
    }
}

/// An email kind that follows from a change: its name, with [`effect_settings`].
macro_rules! effect {
    ($args:ty, $kind:literal) => {
        impl JobArgs for $args {
            const KIND: &'static str = $kind;

            fn settings() -> KindSettings {
                effect_settings()
            }
        }
    };
}

/// `email.meet_reminders`: a meet's reminders follow its schedule (new meet, new time).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncMeetReminders {
    pub meet_id: Uuid,
}

effect!(SyncMeetReminders, "email.meet_reminders");

/// `email.meet_cancelled`: a deleted meet's emails that have not gone out are cancelled.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelMeetEmails {
    pub meet_id: Uuid,
}

effect!(CancelMeetEmails, "email.meet_cancelled");

/// `email.registration_confirmation`: the confirmation, with its calendar invite.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmRegistration {
    pub user_id: Uuid,
    pub meet_id: Uuid,
    /// The queue row's id, fixed when the job was created, so the email is queued once.
    pub email_id: Uuid,
}

effect!(ConfirmRegistration, "email.registration_confirmation");

/// `email.welcome`: a new account gets a welcome (unless `WELCOME_EMAILS=false`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Welcome {
    pub user_id: Uuid,
}

effect!(Welcome, "email.welcome");

/// `email.project_submitted`: the admins hear of a new project.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSubmitted {
    pub project_id: Uuid,
}

effect!(ProjectSubmitted, "email.project_submitted");

/// `email.badge_awarded`: a project's owner hears of its badge.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BadgeAwarded {
    pub project_id: Uuid,
    pub badge_id: Uuid,
}

effect!(BadgeAwarded, "email.badge_awarded");

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn intervals_become_clock_aligned_cron_patterns() {
        assert_eq!(every(Duration::from_secs(5)), "*/5 * * * * *");
        assert_eq!(every(Duration::from_millis(500)), "*/1 * * * * *");
        assert_eq!(every(Duration::from_secs(7)), "*/6 * * * * *");
        assert_eq!(every(Duration::from_secs(90)), "0 */1 * * * *");
        assert_eq!(every(Duration::from_secs(3600 * 5)), "0 */60 * * * *");
    }
}
