//! The projects domain's job kinds (their handlers: `crate::handlers::links`).
//!
//! `project.link_check`: one job per project link (source code, live site), keyed by the URL's
//! host so one site gets at most three checks at once (the `links` queue's per-key cap), grouped
//! by project so the latest result per link is one indexed lookup. `project.recheck_links`:
//! every live project's links checked again.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use engine::{JobArgs, JobOptions, KindSettings, NewJob, admin::JobRow};

use super::{entity::Model as Project, links::LinkReport};
use crate::error::AppResult;

pub const QUEUE: &str = "links";
/// Checks for one host at once, across all workers (Koalati's per-website rule).
pub const PER_HOST_LIMIT: i32 = 3;
/// Priority of a check an admin asked for (a new project's check has the default, 1).
pub const ADMIN_PRIORITY: i16 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Link {
    SourceCode,
    Live,
}

impl Link {
    pub fn name(self) -> &'static str {
        match self {
            Link::SourceCode => "sourceCode",
            Link::Live => "live",
        }
    }
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckLink {
    pub project_id: Uuid,
    pub link: Link,
    pub url: String,
}

impl CheckLink {
    pub fn of(project: &Project) -> [CheckLink; 2] {
        Self::for_urls(project.id, &project.source_code_url, &project.live_url)
    }

    /// The checks of a project's two links.
    pub fn for_urls(project_id: Uuid, source_code_url: &str, live_url: &str) -> [CheckLink; 2] {
        [(Link::SourceCode, source_code_url), (Link::Live, live_url)].map(|(link, url)| CheckLink {
            project_id,
            link,
            url: url.to_owned(),
        })
    }
}

pub fn group_key(project_id: Uuid) -> String {
    format!("project:{project_id}")
}

impl JobArgs for CheckLink {
    const KIND: &'static str = "project.link_check";

    fn settings() -> KindSettings {
        KindSettings {
            queue: QUEUE,
            max_attempts: 3,
            warn_after: Some(std::time::Duration::from_secs(30)),
            timeout: Some(std::time::Duration::from_secs(60)),
            ..KindSettings::default()
        }
    }

    fn options(&self) -> JobOptions {
        JobOptions {
            concurrency_key: Some(host_key(&self.url)),
            group_key: Some(group_key(self.project_id)),
            dedupe_key: Some(format!("project:{}:{}", self.project_id, self.link.name())),
            ..JobOptions::default()
        }
    }
}

/// The host a URL's checks are capped by.
pub fn host_key(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_else(|| "invalid".into())
}

/// The jobs checking `project`'s links at `priority`.
pub fn jobs_for(project: &Project, priority: i16) -> AppResult<Vec<NewJob>> {
    CheckLink::of(project)
        .iter()
        .map(|check| Ok(NewJob::of(check)?.priority(priority)))
        .collect()
}

/// Where a link's latest check is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckState {
    Queued,
    Running,
    Done,
    /// The check itself could not run (not: the link is down).
    Failed,
}

/// The latest check of one link.
#[derive(Clone, Debug)]
pub struct LinkCheck {
    pub project_id: Uuid,
    pub link: Link,
    pub url: String,
    pub state: CheckState,
    pub checked_at: Option<chrono::DateTime<chrono::Utc>>,
    pub report: Option<LinkReport>,
    pub error: Option<String>,
}

impl LinkCheck {
    fn from_job(job: JobRow) -> Option<LinkCheck> {
        let args: CheckLink = serde_json::from_value(job.args).ok()?;
        let state = match job.state.as_str() {
            "available" => CheckState::Queued,
            "running" => CheckState::Running,
            "completed" => CheckState::Done,
            _ => CheckState::Failed,
        };
        Some(LinkCheck {
            project_id: args.project_id,
            link: args.link,
            url: args.url,
            state,
            checked_at: job.finished_at,
            report: job.result.and_then(|r| serde_json::from_value(r).ok()),
            error: job.last_error.filter(|_| state == CheckState::Failed),
        })
    }
}

/// `(projectId, latest check of each link)` for the given projects.
pub async fn latest(
    db: &sea_orm::DatabaseConnection,
    project_ids: &[Uuid],
) -> AppResult<Vec<(Uuid, LinkCheck)>> {
    let groups: Vec<String> = project_ids.iter().map(|id| group_key(*id)).collect();
    let jobs = engine::admin::latest_per_key(db, CheckLink::KIND, &groups).await?;
    Ok(jobs
        .into_iter()
        .filter_map(LinkCheck::from_job)
        .map(|check| (check.project_id, check))
        .collect())
}

/// `project.recheck_links`: every live project's links checked again (after an outage, or to
/// refresh the reports), as link-check jobs; its progress is `{done, total}` as they finish, and
/// cancelling it stops the waiting (checks already queued still run).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecheckAllLinks {}

impl JobArgs for RecheckAllLinks {
    const KIND: &'static str = "project.recheck_links";

    fn settings() -> KindSettings {
        KindSettings {
            // Not `links`: it waits for the checks it queued there.
            queue: "default",
            max_attempts: 1,
            timeout: Some(std::time::Duration::from_secs(2 * 3600)),
            ..KindSettings::default()
        }
    }
}
