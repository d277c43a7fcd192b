//! Following jobs as they change: the process's one `engine_updates` listener reads the changed
//! jobs once; each follower keeps those it may see and passes on real changes (state, attempt or
//! progress). Subscribing happens before the first read, so no change falls in between; after a
//! lost listener (or falling behind) a follower re-reads what it follows, so a progress bar never
//! freezes on a missed notification.

use std::collections::{HashMap, VecDeque};

use engine::{
    admin::{self, JobRow},
    updates::Update,
};
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
    receiver: Receiver<Update>,
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

    /// Whether `row` is one this follower follows and may see.
    fn follows(&self, row: &JobRow) -> bool {
        let target = match &self.target {
            Target::Job(id) => row.id == *id,
            Target::Kind(kind) => row.kind == *kind,
        };
        target && (self.owner.is_none() || row.created_by == self.owner)
    }

    /// What to read again after changes may have been missed: the followed job, or the jobs of
    /// the kind seen so far that have not finished (the newest, at most `RESYNC_MAX`).
    fn to_reread(&self) -> Vec<i64> {
        match &self.target {
            Target::Job(id) => vec![*id],
            Target::Kind(_) => {
                let mut live: Vec<i64> = self
                    .seen
                    .iter()
                    .filter(|(_, (state, _, _))| !FINISHED.contains(&state.as_str()))
                    .map(|(id, _)| *id)
                    .collect();
                live.sort_unstable_by(|a, b| b.cmp(a));
                live.truncate(RESYNC_MAX);
                live
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
            match self.receiver.recv().await {
                Ok(Update::Changed(rows)) => {
                    let mine: Vec<JobRow> = rows
                        .iter()
                        .filter(|row| self.follows(row))
                        .cloned()
                        .collect();
                    self.take(mine);
                }
                Ok(Update::Resync) | Err(RecvError::Lagged(_)) => {
                    let ids = self.to_reread();
                    if !ids.is_empty() {
                        let rows = self.read(&ids).await;
                        self.take(rows);
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// Jobs a kind's follower reads again after a lost listener, at most.
const RESYNC_MAX: usize = 500;

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
