//! `badge.awarded`: a badge given to a project is an email to the project's owner.

use engine::events::{Detector, PlannedJob};
use serde::Deserialize;
use uuid::Uuid;

use crate::email::jobs::BadgeAwarded;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AwardRow {
    project_id: Uuid,
    badge_id: Uuid,
}

pub fn detectors() -> Vec<Detector> {
    vec![Detector::new(
        "badge.awarded",
        "badgesProjects",
        |e| e.inserted() || e.manual(),
        |e| {
            let award: AwardRow = e.new_as()?;
            let email = BadgeAwarded {
                project_id: award.project_id,
                badge_id: award.badge_id,
            };
            Ok(vec![PlannedJob::of("owner-email", &email)?])
        },
    )]
}
