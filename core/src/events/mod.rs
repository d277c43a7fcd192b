//! Mintbean's events: the detectors of every domain, the tables they need captured, and what
//! admins do with events (`invokeEvent`, listing). The ways in over HTTP (Hasura's event
//! triggers) and GraphQL are the server's.

use engine::events::{self, Detectors};
use sea_orm::ConnectionTrait;

use crate::{
    config::Config,
    error::{AppError, AppResult},
};

/// Captured tables and the columns their events leave out. Mintbean's detectors need these
/// (the migration creates their triggers; start-up re-creates any that is missing).
pub const CAPTURED: [(&str, &[&str]); 5] = [
    ("users", &["passwordHash"]),
    ("meets", &[]),
    ("meetRegistrations", &[]),
    ("projects", &[]),
    ("badgesProjects", &[]),
];

/// Every detector, checked: names are unique and each watches a captured table.
pub fn detectors(config: &Config) -> Result<Detectors, String> {
    let detectors = [
        crate::users::events::detectors(&config.email),
        crate::meets::events::detectors(&config.email),
        crate::projects::events::detectors(),
        crate::badges::events::detectors(),
    ]
    .into_iter()
    .flatten()
    .fold(Detectors::new(), Detectors::with);
    detectors.validate()?;
    if let Some(table) = detectors
        .tables()
        .into_iter()
        .find(|table| !CAPTURED.iter().any(|(name, _)| name == table))
    {
        return Err(format!(
            "a detector watches `{table}`, which is not captured"
        ));
    }
    Ok(detectors)
}

/// The columns events of `table` leave out.
pub fn excluded_columns(table: &str) -> &'static [&'static str] {
    let name = table.rsplit('.').next().unwrap_or(table);
    CAPTURED
        .iter()
        .find(|(captured, _)| *captured == name)
        .map(|(_, excluded)| *excluded)
        .unwrap_or(&[])
}

fn qualified(table: &str) -> String {
    if table.contains('.') {
        table.to_owned()
    } else {
        format!("public.{table}")
    }
}

/// Makes sure Mintbean's tables and `EVENTS_CAPTURE_TABLES` are captured, except those of
/// `EVENTS_HASURA_TABLES`, whose native capture is removed (idempotent).
pub async fn ensure_capture(db: &impl ConnectionTrait, config: &Config) -> anyhow::Result<()> {
    let settings = &config.jobs.events;
    let from_hasura: Vec<String> = settings
        .hasura_tables
        .iter()
        .map(|t| qualified(t))
        .collect();
    let captured = events::captured_tables(db).await?;
    for table in &settings.hasura_tables {
        if captured.contains(&qualified(table)) {
            events::uncapture_table(db, table).await?;
            tracing::info!(
                table,
                "events of this table come from Hasura: native capture removed"
            );
        }
    }
    let wanted = CAPTURED
        .iter()
        .map(|(table, _)| table.to_string())
        .chain(settings.capture_tables.iter().cloned());
    for table in wanted {
        let name = qualified(&table);
        if !captured.contains(&name) && !from_hasura.contains(&name) {
            events::capture_table(db, &table, excluded_columns(&table)).await?;
            tracing::info!(table, "capturing changes as events");
        }
    }
    Ok(())
}

/// Admins. A MANUAL event for a captured table's row, detected at once.
pub async fn invoke(
    db: &sea_orm::DatabaseConnection,
    caller: &crate::auth::Caller,
    config: &Config,
    detectors: &Detectors,
    table: &str,
    id: uuid::Uuid,
) -> AppResult<events::EventSummary> {
    caller.require_admin()?;
    let captured = CAPTURED
        .iter()
        .map(|(name, _)| name.to_string())
        .chain(config.jobs.events.capture_tables.iter().cloned());
    let table = captured.into_iter().find(|t| t == table).ok_or_else(|| {
        AppError::bad_input("table", format!("`{table}` is not a captured table"))
    })?;
    let event = events::manual_event(
        db,
        &table,
        &id.to_string(),
        excluded_columns(&table),
        Some(caller.session_variables()),
    )
    .await?
    .ok_or_else(|| AppError::not_found("Row"))?;
    Ok(events::ingest(db, detectors, &event).await?.summary)
}

/// Admins. Events newest first.
pub async fn list(
    db: &sea_orm::DatabaseConnection,
    caller: &crate::auth::Caller,
    since: Option<chrono::DateTime<chrono::Utc>>,
    first: u64,
) -> AppResult<Vec<events::EventRow>> {
    caller.require_admin()?;
    Ok(events::list(db, since, first.clamp(1, 200)).await?)
}

/// Admins. One event's bookkeeping.
pub async fn find(
    db: &sea_orm::DatabaseConnection,
    caller: &crate::auth::Caller,
    id: uuid::Uuid,
) -> AppResult<Option<events::EventRow>> {
    caller.require_admin()?;
    Ok(events::list_ids(db, &[id]).await?.pop())
}
