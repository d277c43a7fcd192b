//! Database migrations for mintbean.
//!
//! The first migration is the Mintbean V3 (Node/knex) schema exactly as an existing production
//! database has it. On an empty database it creates every table; on an existing Mintbean database
//! (the tables and `knex_migrations` are present) it adopts what is there without touching a row
//! and only adds what is missing (extension, foreign-key indexes). Later migrations add our own
//! tables.
//!
//! Naming: the Mintbean tables keep their camelCase names (`"meetRegistrations"."userId"`); tables
//! of our own use snake_case (`email_deliveries.scheduled_email_id`), one convention per family.

pub use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::Statement;

/// Implements `MigrationTrait` for a `Migration` written as the SQL statement lists `UP` and
/// `DOWN` of its module.
macro_rules! sql_migration {
    () => {
        #[async_trait::async_trait]
        impl MigrationTrait for Migration {
            async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                crate::execute_all(manager, UP).await
            }

            async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                crate::execute_all(manager, DOWN).await
            }
        }
    };
}

mod m20200825_000001_mintbean_v3_baseline;
mod m20261122_000002_email_deliveries;
mod m20261201_000003_auth_security;
mod m20261201_000004_job_engine;
mod m20261201_000005_job_engine_webhooks;
mod m20261201_000006_api_tokens;
mod m20261201_000007_job_engine_events;
mod m20261201_000008_mintbean_events;
mod m20261201_000009_answer_cache;
mod m20261201_000010_session_cache;
mod m20261207_000011_job_engine_v4;
mod m20261207_000012_job_engine_v5;
mod m20261207_000013_job_engine_v6;
mod m20261207_000014_job_engine_v7;
mod m20261208_000015_job_engine_v8;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20200825_000001_mintbean_v3_baseline::Migration),
            Box::new(m20261122_000002_email_deliveries::Migration),
            Box::new(m20261201_000003_auth_security::Migration),
            Box::new(m20261201_000004_job_engine::Migration),
            Box::new(m20261201_000005_job_engine_webhooks::Migration),
            Box::new(m20261201_000006_api_tokens::Migration),
            Box::new(m20261201_000007_job_engine_events::Migration),
            Box::new(m20261201_000008_mintbean_events::Migration),
            Box::new(m20261201_000009_answer_cache::Migration),
            Box::new(m20261201_000010_session_cache::Migration),
            Box::new(m20261207_000011_job_engine_v4::Migration),
            Box::new(m20261207_000012_job_engine_v5::Migration),
            Box::new(m20261207_000013_job_engine_v6::Migration),
            Box::new(m20261207_000014_job_engine_v7::Migration),
            Box::new(m20261208_000015_job_engine_v8::Migration),
        ]
    }
}

/// Names of all migrations, in order. Tests key their migrated template database on this list.
pub fn migration_names() -> Vec<String> {
    Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}

/// Runs plain SQL statements in order: our own migrations are written as SQL.
pub(crate) async fn execute_all(
    manager: &SchemaManager<'_>,
    statements: &[&str],
) -> Result<(), DbErr> {
    for sql in statements {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}

/// True when the database was created by the Node backend's knex migrations.
pub async fn is_legacy_knex_database<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT to_regclass('public.knex_migrations') IS NOT NULL AS present",
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<bool>("", "present")?,
        None => false,
    })
}
