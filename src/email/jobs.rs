//! `email.drain`: the drainer as an engine job. Inside `jobs worker` a schedule runs it every
//! `EMAIL_POLL_INTERVAL_SECS` (overlap: skip), so several workers never drain twice at once and
//! a slow drain is not stacked on. Each email is still claimed and recorded by the drainer
//! itself (`email_deliveries`), so it goes out once whoever runs the drain.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;

use engine::{Job, JobContext, JobError, KindSettings, Overlap, Schedule};

use crate::state::JobState;

pub const QUEUE: &str = "email";

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct DrainEmails {}

impl Job for DrainEmails {
    const KIND: &'static str = "email.drain";
    type State = JobState;

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

    async fn run(self, ctx: JobContext<JobState>) -> Result<Value, JobError> {
        let (stop_tx, stop) = watch::channel(false);
        let drain = ctx.state.drainer.drain(&stop);
        tokio::pin!(drain);
        let summary = tokio::select! {
            summary = &mut drain => summary,
            _ = ctx.cancellation().cancelled() => {
                let _ = stop_tx.send(true);
                drain.await
            }
        }
        .map_err(JobError::retryable)?;
        if summary.sent + summary.retried + summary.failed + summary.skipped > 0 {
            tracing::info!(summary = %summary, "email drain");
        }
        Ok(json!({
            "sent": summary.sent,
            "retried": summary.retried,
            "failed": summary.failed,
            "skipped": summary.skipped,
            "elapsedMs": summary.elapsed.as_millis() as u64,
            "aborted": summary.aborted,
        }))
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
