//! Link checks: a project's links (`project.link_check`), the task API's `link_check` tool, and
//! `project.recheck_links` (every live project's links again, with `{done, total}` progress).

use serde_json::{Value, json};

use engine::{Handler, JobContext, JobError};

use crate::tasks::tools::LinkCheckTool;
use mintbean_core::projects::{
    entity as projects,
    jobs::{CheckLink, RecheckAllLinks, jobs_for},
    links::LinkChecker,
};

/// Fetches links like a visitor (`projects::links`).
#[derive(Clone)]
pub struct Links {
    pub checker: LinkChecker,
}

impl Links {
    async fn check(&self, ctx: &JobContext, url: &str) -> Result<Value, JobError> {
        ctx.progress(json!({ "step": "requesting", "url": url }))
            .await?;
        let report = tokio::select! {
            report = self.checker.check(url) => report,
            _ = ctx.cancellation().cancelled() => return Err(JobError::Cancelled),
        };
        serde_json::to_value(report).map_err(JobError::permanent)
    }
}

impl Handler<CheckLink> for Links {
    async fn run(&self, args: CheckLink, ctx: JobContext) -> Result<Value, JobError> {
        self.check(&ctx, &args.url).await
    }
}

impl Handler<LinkCheckTool> for Links {
    async fn run(&self, args: LinkCheckTool, ctx: JobContext) -> Result<Value, JobError> {
        self.check(&ctx, &args.url).await
    }
}

/// Cancelling it stops the waiting (checks already queued still run).
impl Handler<RecheckAllLinks> for Links {
    async fn run(&self, _args: RecheckAllLinks, ctx: JobContext) -> Result<Value, JobError> {
        let projects = projects::Entity::live()
            .all(ctx.db())
            .await
            .map_err(JobError::retryable)?;
        let mut checks = Vec::new();
        for project in &projects {
            checks.extend(jobs_for(project, 1).map_err(JobError::permanent)?);
        }
        let ids: Vec<i64> = engine::enqueue_many(ctx.db(), checks)
            .await
            .map_err(JobError::retryable)?
            .iter()
            .map(|e| e.id)
            .collect();
        let total = ids.len();
        loop {
            ctx.checkpoint()?;
            let outcomes = engine::events::wait_for_jobs(
                ctx.db(),
                &ids,
                std::time::Duration::from_millis(500),
            )
            .await
            .map_err(JobError::retryable)?;
            let done = outcomes
                .iter()
                .filter(|o| !matches!(o.state.as_str(), "available" | "running"))
                .count();
            ctx.progress(json!({ "done": done, "total": total }))
                .await?;
            if done >= total {
                return Ok(json!({ "projects": projects.len(), "checked": total }));
            }
        }
    }
}
