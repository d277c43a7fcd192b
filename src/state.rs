//! Shared application state, cloned cheaply into every request.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{
    auth::PasswordHasher, config::Config, email::drain::Drainer, projects::links::LinkChecker,
};

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub passwords: PasswordHasher,
}

impl AppState {
    pub fn new(db: DatabaseConnection, config: Config) -> Self {
        let passwords = PasswordHasher::new(config.password_hash_concurrency);
        AppState {
            db,
            config: Arc::new(config),
            passwords,
        }
    }
}

/// What Mintbean's job handlers share (the engine hands it to every kind).
#[derive(Clone)]
pub struct JobState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub drainer: Arc<Drainer>,
    pub links: LinkChecker,
}

impl JobState {
    pub fn new(db: DatabaseConnection, config: Arc<Config>) -> Result<Self, String> {
        let drainer = Drainer::new(db.clone(), config.email.clone())?;
        let links = LinkChecker::new(&config.jobs.link_check)?;
        Ok(JobState {
            db,
            config,
            drainer: Arc::new(drainer),
            links,
        })
    }
}
