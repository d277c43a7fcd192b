//! The job engine's sixth version: queue settings have an owner, configuration or operator (see
//! `engine::schema::UP_V6`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = engine::schema::UP_V6;
const DOWN: &[&str] = engine::schema::DOWN_V6;

sql_migration!();
