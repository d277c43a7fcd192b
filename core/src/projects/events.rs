//! `project.submitted`: a new project gets its links checked and the admins an email.

use engine::events::{Detector, PlannedJob};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::jobs::CheckLink;
use crate::email::jobs::ProjectSubmitted;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectRow {
    id: Uuid,
    source_code_url: String,
    live_url: String,
}

pub fn detectors() -> Vec<Detector> {
    vec![Detector::new(
        "project.submitted",
        "projects",
        |e| (e.inserted() || e.manual()) && e.new_value("deleted") != Some(&Value::Bool(true)),
        |e| {
            let project: ProjectRow = e.new_as()?;
            let mut jobs = Vec::new();
            for check in
                CheckLink::for_urls(project.id, &project.source_code_url, &project.live_url)
            {
                jobs.push(PlannedJob::of(
                    format!("check-{}", check.link.name()),
                    &check,
                )?);
            }
            let email = ProjectSubmitted {
                project_id: project.id,
            };
            jobs.push(PlannedJob::of("admin-email", &email)?);
            Ok(jobs)
        },
    )]
}
