//! Following jobs as they change: the process's one `engine_updates` listener says which jobs
//! changed; each follower reads those it may see and passes on real changes (state, attempt or
//! progress). Subscribing happens before the first read, so no change falls in between.

use std::collections::{HashMap, VecDeque};

use engine::admin::{self, JobRow};
use futures_util::Stream;
use tokio::sync::broadcast::{Receiver, error::RecvError};

use super::principal::Principal;
use crate::state::AppState;
use mintbean_core::error::{AppError, AppResult};

pub enum Target {
    Job(i64),
    Kind(String),
}

const FINISHED: &[&str] = &["completed", "failed", "cancelled", "discarded"];

struct Follower {
    state: AppState,
    /// `None` for admins: they see every job.
    owner: Option<String>,
    target: Target,
    receiver: Receiver<std::sync::Arc<Vec<i64>>>,
    pending: VecDeque<JobRow>,
    seen: HashMap<i64, (String, i32, Option<serde_json::Value>)>,
    done: bool,
}

impl Follower {
    /// Queues `rows` that changed since last seen; a followed job's finish ends the stream.
    fn take(&mut self, rows: Vec<JobRow>) {
        for row in rows {
            let now = (row.state.clone(), row.attempt, row.progress.clone());
            if self.seen.get(&row.id) == Some(&now) {
                continue;
            }
            self.seen.insert(row.id, now);
            if matches!(self.target, Target::Job(_)) && FINISHED.contains(&row.state.as_str()) {
                self.done = true;
            }
            self.pending.push_back(row);
        }
    }

    async fn read(&self, ids: &[i64]) -> Vec<JobRow> {
        let kind = match &self.target {
            Target::Kind(kind) => Some(kind.as_str()),
            Target::Job(_) => None,
        };
        match admin::find_many(&self.state.db, ids, kind, self.owner.as_deref()).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(error = %err, "reading changed jobs for a subscription failed");
                Vec::new()
            }
        }
    }

    async fn next(mut self) -> Option<(JobRow, Follower)> {
        loop {
            if let Some(row) = self.pending.pop_front() {
                return Some((row, self));
            }
            if self.done {
                return None;
            }
            let ids: Vec<i64> = match self.receiver.recv().await {
                Ok(ids) => match &self.target {
                    Target::Job(id) if ids.contains(id) => vec![*id],
                    Target::Job(_) => continue,
                    Target::Kind(_) => ids.to_vec(),
                },
                // Fell behind: a followed job is read again; a kind's stream goes on.
                Err(RecvError::Lagged(_)) => match &self.target {
                    Target::Job(id) => vec![*id],
                    Target::Kind(_) => continue,
                },
                Err(RecvError::Closed) => return None,
            };
            let rows = self.read(&ids).await;
            self.take(rows);
        }
    }
}

/// A stream of the followed job (starting with its current state) or of a kind's jobs.
pub async fn follow(
    state: AppState,
    principal: Principal,
    target: Target,
) -> AppResult<impl Stream<Item = JobRow>> {
    let receiver = state.updates().subscribe();
    let owner = (!principal.is_admin()).then(|| principal.created_by());
    let mut follower = Follower {
        state,
        owner,
        target,
        receiver,
        pending: VecDeque::new(),
        seen: HashMap::new(),
        done: false,
    };
    if let Target::Job(id) = follower.target {
        let job = admin::find(&follower.state.db, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no job {id}")))?;
        if !principal.may_follow(job.created_by.as_deref()) {
            return Err(AppError::forbidden(
                "you may follow only the jobs you enqueued",
            ));
        }
        follower.take(vec![job]);
    }
    Ok(futures_util::stream::unfold(follower, Follower::next))
}
