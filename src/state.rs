//! Shared application state, cloned cheaply into every request.

use std::sync::{Arc, OnceLock};

use sea_orm::DatabaseConnection;

use engine::{
    Registry,
    events::{Detectors, EventState},
    net::AllowedHosts,
    updates::Updates,
    webhooks::{WebhookSender, WebhookState},
};

use crate::{
    auth::PasswordHasher, config::Config, email::drain::Drainer, projects::links::LinkChecker,
};

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub passwords: PasswordHasher,
    /// The job kinds, for building jobs that arrive as JSON (task API, GraphQL).
    pub jobs: Arc<Registry<JobState>>,
    /// Every detector (`crate::events`), shared with the job state.
    pub detectors: Arc<Detectors>,
    /// This process's listener for job changes, started by the first subscription.
    updates: Arc<OnceLock<Updates>>,
}

impl AppState {
    pub fn new(db: DatabaseConnection, config: Config) -> anyhow::Result<Self> {
        let passwords = PasswordHasher::new(config.password_hash_concurrency)
            .rehash_legacy(config.rehash_legacy_passwords);
        let config = Arc::new(config);
        let jobs = JobState::new(db.clone(), config.clone()).map_err(anyhow::Error::msg)?;
        let detectors = jobs.detectors.clone();
        Ok(AppState {
            db,
            config,
            passwords,
            detectors,
            jobs: Arc::new(crate::background::registry(jobs)),
            updates: Arc::default(),
        })
    }

    pub fn updates(&self) -> &Updates {
        self.updates
            .get_or_init(|| Updates::start(self.db.get_postgres_connection_pool().clone()))
    }
}

/// What Mintbean's job handlers share (the engine hands it to every kind).
#[derive(Clone)]
pub struct JobState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub drainer: Arc<Drainer>,
    pub links: LinkChecker,
    pub webhooks: WebhookSender,
    pub detectors: Arc<Detectors>,
}

impl EventState for JobState {
    fn detectors(&self) -> &Detectors {
        &self.detectors
    }
}

impl WebhookState for JobState {
    fn webhooks(&self) -> &WebhookSender {
        &self.webhooks
    }
}

impl JobState {
    pub fn new(db: DatabaseConnection, config: Arc<Config>) -> Result<Self, String> {
        let drainer = Drainer::new(db.clone(), config.email.clone())?;
        let links = LinkChecker::new(&config.jobs.link_check)?;
        let tasks = &config.jobs.tasks;
        let webhooks = WebhookSender::new(
            AllowedHosts::new(&tasks.webhook_allow_hosts),
            tasks.webhook_timeout,
        )?;
        let detectors = Arc::new(crate::events::detectors(&config)?);
        Ok(JobState {
            db,
            config,
            detectors,
            drainer: Arc::new(drainer),
            links,
            webhooks,
        })
    }
}
