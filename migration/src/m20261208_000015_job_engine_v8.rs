//! The job engine's eighth version: no time index of waiting jobs, which the claim could be
//! planned on (see `engine::schema::UP_V8`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = engine::schema::UP_V8;
const DOWN: &[&str] = engine::schema::DOWN_V8;

sql_migration!();
