//! The job engine's fifth version: completions lock their jobs in id order, as heartbeats do
//! (see `engine::schema::UP_V5`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = engine::schema::UP_V5;
const DOWN: &[&str] = engine::schema::DOWN_V5;

sql_migration!();
