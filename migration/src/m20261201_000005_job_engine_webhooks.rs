//! The job engine's second version: webhook endpoints and their outbox, idempotency keys, and
//! notifications of job changes (see `engine::schema::UP_V2`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = engine::schema::UP_V2;
const DOWN: &[&str] = engine::schema::DOWN_V2;

sql_migration!();
