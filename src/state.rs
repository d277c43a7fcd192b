//! Shared application state, cloned cheaply into every request.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{auth::PasswordHasher, config::Config};

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
