//! Which jobs changed, as they change, in any process: every claim, progress report, finish,
//! cancel, retry, rescue and insert notifies `engine_updates` with the jobs' ids (in the same
//! transaction, so a listener never hears of a change that did not commit). [`Updates`] listens
//! once per process and fans the ids out to subscribers (e.g. GraphQL subscriptions), which read
//! the rows they care about.

use std::{sync::Arc, time::Duration};

use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::broadcast;

pub const CHANNEL: &str = "engine_updates";

/// One process's listener.
#[derive(Clone)]
pub struct Updates {
    sender: broadcast::Sender<Arc<Vec<i64>>>,
}

impl Updates {
    /// Starts listening on `pool`'s database (reconnecting after errors) until the process ends.
    pub fn start(pool: PgPool) -> Self {
        let (sender, _) = broadcast::channel(1024);
        let updates = Updates { sender };
        let fanout = updates.sender.clone();
        tokio::spawn(async move {
            loop {
                if let Err(err) = listen(&pool, &fanout).await {
                    tracing::warn!(error = %err, "listening for job updates failed; retrying");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        updates
    }

    /// Changed job ids from now on. A subscriber that falls far behind gets `Lagged` and should
    /// re-read what it follows.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Vec<i64>>> {
        self.sender.subscribe()
    }
}

async fn listen(pool: &PgPool, fanout: &broadcast::Sender<Arc<Vec<i64>>>) -> sqlx::Result<()> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    loop {
        let notification = listener.recv().await?;
        let ids: Vec<i64> = notification
            .payload()
            .split(',')
            .filter_map(|id| id.trim().parse().ok())
            .collect();
        if !ids.is_empty() {
            // No subscribers is fine.
            let _ = fanout.send(Arc::new(ids));
        }
    }
}
