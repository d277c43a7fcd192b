//! The job engine's third version: events from database changes, their detections and jobs,
//! and the capture trigger function (see `engine::schema::UP_V3`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = engine::schema::UP_V3;
const DOWN: &[&str] = engine::schema::DOWN_V3;

sql_migration!();
