//! `user.joined`: a new account gets a welcome email (`WELCOME_EMAILS`).

use engine::events::{Detector, PlannedJob};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::{config::EmailConfig, email::jobs::Welcome};

#[derive(Deserialize)]
struct UserRow {
    id: Uuid,
}

pub fn detectors(email: &EmailConfig) -> Vec<Detector> {
    let welcome = email.welcome_emails;
    vec![Detector::new(
        "user.joined",
        "users",
        move |e| {
            welcome
                && (e.inserted() || e.manual())
                && e.new_value("deleted") != Some(&Value::Bool(true))
        },
        |e| {
            let user: UserRow = e.new_as()?;
            Ok(vec![PlannedJob::of(
                "welcome",
                &Welcome { user_id: user.id },
            )?])
        },
    )]
}
