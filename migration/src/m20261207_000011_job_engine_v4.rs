//! The job engine's fourth version: one way in for jobs (`engine_add_jobs`, with the kinds'
//! defaults in `engine_kinds`), snoozed attempts, and webhook formats left to the application
//! (see `engine::schema::UP_V4`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = engine::schema::UP_V4;
const DOWN: &[&str] = engine::schema::DOWN_V4;

sql_migration!();
