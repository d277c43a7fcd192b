//! The job engine's seventh version: job counts kept current, not scanned (see
//! `engine::schema::UP_V7`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = engine::schema::UP_V7;
const DOWN: &[&str] = engine::schema::DOWN_V7;

sql_migration!();
