//! What a meet's changes cause: `meet.created`, `meet.rescheduled`, `meet.deleted` (reminders,
//! cancellations) and `meet.registered` (the confirmation). They fire for every change to the
//! tables, whoever made it (this server, psql, Hasura). A MANUAL event (`invokeEvent`) runs
//! the detector of a new row again: a meet's reminders re-synced, a confirmation re-sent.

use engine::events::{Detector, Event, PlannedJob};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    config::EmailConfig,
    email::jobs::{CancelMeetEmails, ConfirmRegistration, SyncMeetReminders},
};

/// The columns a meet's reminders depend on.
const SCHEDULE_COLUMNS: [&str; 4] = ["startTime", "endTime", "region", "meetType"];

#[derive(Deserialize)]
struct MeetRow {
    id: Uuid,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistrationRow {
    user_id: Uuid,
    meet_id: Uuid,
}

fn live(event: &Event) -> bool {
    event.new_value("deleted") != Some(&Value::Bool(true))
}

fn sync_reminders(event: &Event) -> Result<Vec<PlannedJob>, String> {
    let meet: MeetRow = event.new_as()?;
    Ok(vec![PlannedJob::of(
        "reminders",
        &SyncMeetReminders { meet_id: meet.id },
    )?])
}

pub fn detectors(email: &EmailConfig) -> Vec<Detector> {
    let confirmations = !email.disable_registration_emails;
    vec![
        Detector::new(
            "meet.created",
            "meets",
            |e| (e.inserted() || e.manual()) && live(e),
            sync_reminders,
        ),
        Detector::new(
            "meet.rescheduled",
            "meets",
            |e| live(e) && SCHEDULE_COLUMNS.iter().any(|c| e.changed(c)),
            sync_reminders,
        ),
        Detector::new(
            "meet.deleted",
            "meets",
            |e| e.became("deleted", &json!(true)),
            |e| {
                let meet: MeetRow = e.new_as()?;
                Ok(vec![PlannedJob::of(
                    "cancel-emails",
                    &CancelMeetEmails { meet_id: meet.id },
                )?])
            },
        ),
        Detector::new(
            "meet.registered",
            "meetRegistrations",
            move |e| {
                confirmations
                    && (((e.inserted() || e.manual()) && live(e))
                        || e.became("deleted", &json!(false)))
            },
            |e| {
                let row: RegistrationRow = e.new_as()?;
                let confirm = ConfirmRegistration {
                    user_id: row.user_id,
                    meet_id: row.meet_id,
                    email_id: Uuid::new_v4(),
                };
                Ok(vec![PlannedJob::of("confirmation", &confirm)?])
            },
        ),
    ]
}
