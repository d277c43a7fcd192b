//! Shared application state, cloned cheaply into every request. Built by `crate::app`.

use std::sync::{Arc, OnceLock};

use sea_orm::DatabaseConnection;

use engine::{Catalog, events::Detectors, updates::Updates};

use crate::quota::Quota;
use mintbean_core::{auth::PasswordHasher, config::Config};

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub passwords: PasswordHasher,
    /// The job kinds, for building jobs that arrive as JSON (task API, GraphQL).
    pub jobs: Arc<Catalog>,
    /// Every detector (`mintbean_core::events`), for events that arrive over HTTP or GraphQL.
    pub detectors: Arc<Detectors>,
    /// The queues a worker process serves, with its concurrency for each (time estimates).
    pub queues: Arc<Vec<(String, usize)>>,
    /// This process's listener for job changes, started by the first subscription.
    updates: Arc<OnceLock<Updates>>,
    /// Open WebSockets and subscriptions per caller (`HttpConfig::max_*_per_caller`).
    pub sockets: Quota,
    pub subscriptions: Quota,
}

impl AppState {
    pub fn from_parts(
        db: DatabaseConnection,
        config: Arc<Config>,
        passwords: PasswordHasher,
        jobs: Arc<Catalog>,
        detectors: Arc<Detectors>,
        queues: Arc<Vec<(String, usize)>>,
    ) -> Self {
        AppState {
            db,
            config,
            passwords,
            jobs,
            detectors,
            queues,
            updates: Arc::default(),
            sockets: Quota::default(),
            subscriptions: Quota::default(),
        }
    }

    pub fn updates(&self) -> &Updates {
        self.updates
            .get_or_init(|| Updates::start(self.db.get_postgres_connection_pool().clone()))
    }
}
