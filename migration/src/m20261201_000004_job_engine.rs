//! The job engine's tables and functions (`engine_*`), as the engine crate defines them: jobs,
//! attempts, queues, schedules, workers, and the claim functions.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = engine::schema::UP;
const DOWN: &[&str] = engine::schema::DOWN;

sql_migration!();
