//! Which jobs changed, as they change, in any process: every claim, progress report, finish,
//! cancel, retry, rescue and insert notifies `engine_updates` with the jobs' ids (in the same
//! transaction, so a listener never hears of a change that did not commit). [`Updates`] listens
//! once per process, reads the changed rows once, and fans them out to subscribers (e.g. GraphQL
//! subscriptions), which keep those they follow: a thousand followers cost one read, not a
//! thousand. When the listener was lost (`crate::listen`), subscribers are told to re-read.

use std::{sync::Arc, time::Duration};

use sqlx::PgPool;
use tokio::sync::{broadcast, mpsc};

use crate::admin::{self, JobRow};

pub const CHANNEL: &str = "engine_updates";

/// What subscribers hear.
#[derive(Clone, Debug)]
pub enum Update {
    /// These jobs changed; their rows as read right after (one read per process).
    Changed(Arc<Vec<JobRow>>),
    /// Changes may have been missed (the listener was lost, now back): re-read what you follow.
    Resync,
}

/// One process's listener.
#[derive(Clone)]
pub struct Updates {
    sender: broadcast::Sender<Update>,
}

enum Heard {
    Ids(Vec<i64>),
    Resync,
}

impl Updates {
    /// Starts listening on `pool`'s database (reconnecting as needed) until the process ends.
    pub fn start(pool: PgPool) -> Self {
        let (sender, _) = broadcast::channel(1024);
        let updates = Updates { sender };
        let (heard_tx, heard_rx) = mpsc::unbounded_channel();
        tokio::spawn(read_and_fan_out(
            pool.clone(),
            heard_rx,
            updates.sender.clone(),
        ));
        let mut lost = false;
        tokio::spawn(crate::listen::listen(
            pool,
            "job updates",
            vec![CHANNEL.to_owned()],
            move |heard| {
                let _ = match heard {
                    crate::listen::Heard::Notification { payload, .. } => {
                        let ids: Vec<i64> = payload
                            .split(',')
                            .filter_map(|id| id.trim().parse().ok())
                            .collect();
                        heard_tx.send(Heard::Ids(ids))
                    }
                    crate::listen::Heard::Lost => {
                        lost = true;
                        Ok(())
                    }
                    crate::listen::Heard::Listening if std::mem::take(&mut lost) => {
                        heard_tx.send(Heard::Resync)
                    }
                    crate::listen::Heard::Listening => Ok(()),
                };
            },
            std::future::pending(),
        ));
        updates
    }

    /// Changes from now on. A subscriber that falls far behind gets `Lagged` and should re-read
    /// what it follows, as on [`Update::Resync`].
    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.sender.subscribe()
    }
}

/// Reads the rows of the ids heard (those heard meanwhile together), then sends them on.
async fn read_and_fan_out(
    pool: PgPool,
    mut heard: mpsc::UnboundedReceiver<Heard>,
    fanout: broadcast::Sender<Update>,
) {
    while let Some(first) = heard.recv().await {
        let mut ids = Vec::new();
        let mut resync = false;
        let mut next = Some(first);
        while let Some(item) = next {
            match item {
                Heard::Ids(more) => ids.extend(more),
                Heard::Resync => resync = true,
            }
            next = heard.try_recv().ok();
        }
        if resync {
            let _ = fanout.send(Update::Resync);
        }
        if ids.is_empty() || fanout.receiver_count() == 0 {
            continue;
        }
        ids.sort_unstable();
        ids.dedup();
        let mut rows = None;
        for attempt in 1..=3 {
            crate::Metrics::global().update_read();
            match admin::find_many_in(&pool, &ids).await {
                Ok(read) => {
                    rows = Some(read);
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, attempt, "reading changed jobs failed");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
            }
        }
        let _ = fanout.send(match rows {
            Some(rows) => Update::Changed(Arc::new(rows)),
            None => Update::Resync,
        });
    }
}
