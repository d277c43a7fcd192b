//! Native capture: a trigger per table writes each change as an event in the changing
//! transaction; the application names the actor with [`set_session`].

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::Value;
use uuid::Uuid;

use super::envelope::{Event, Op, Source};
use crate::EngineError;

/// Run in a transaction, its changes produce no events (bulk loads, seeding).
pub const CAPTURE_OFF: &str = "SELECT set_config('engine.capture_events', 'off', true)";

/// Names the actor of the current transaction's changes, as Hasura's session variables
/// (`{"x-hasura-role": "user", "x-hasura-user-id": "…"}`). Transaction-local: it ends with
/// the transaction, so a pooled connection never carries it to the next request.
pub async fn set_session(db: &impl ConnectionTrait, variables: &Value) -> Result<(), EngineError> {
    db.execute_raw(checked!(
        "SELECT set_config('engine.session_variables', $1, true)",
        variables.to_string()
    ))
    .await?;
    Ok(())
}

fn identifier(part: &str) -> Result<String, EngineError> {
    let mut chars = part.chars();
    let valid = part.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(format!("\"{part}\""))
    } else {
        Err(EngineError::Invalid(format!(
            "`{part}` is not a table name (letters, digits and _)"
        )))
    }
}

/// Captures `table` (`name` or `schema.name`): every INSERT, UPDATE and DELETE on it becomes an
/// event, without the `excluded` columns. Idempotent. (DDL names its table and columns, which
/// cannot be parameters: the text is built from checked identifiers, not checked by `query!`.)
pub async fn capture_table(
    db: &impl ConnectionTrait,
    table: &str,
    excluded: &[&str],
) -> Result<(), EngineError> {
    let (schema, name) = table.split_once('.').unwrap_or(("public", table));
    let qualified = format!("{}.{}", identifier(schema)?, identifier(name)?);
    let trigger = identifier(&trigger_name(name))?;
    let arguments = excluded
        .iter()
        .map(|column| identifier(column).map(|_| format!("'{column}'")))
        .collect::<Result<Vec<_>, _>>()?
        .join(", ");
    let sql = format!(
        "CREATE OR REPLACE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE ON {qualified}
             FOR EACH ROW EXECUTE FUNCTION engine_capture_event({arguments})"
    );
    db.execute_unprepared(&sql).await?;
    Ok(())
}

/// Stops capturing `table` (its events come from elsewhere, e.g. Hasura). Idempotent.
pub async fn uncapture_table(db: &impl ConnectionTrait, table: &str) -> Result<(), EngineError> {
    let (schema, name) = table.split_once('.').unwrap_or(("public", table));
    let qualified = format!("{}.{}", identifier(schema)?, identifier(name)?);
    let trigger = identifier(&trigger_name(name))?;
    db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {trigger} ON {qualified}"))
        .await?;
    Ok(())
}

fn trigger_name(table: &str) -> String {
    let mut name = format!("engine_capture_{table}");
    name.truncate(63);
    name
}

/// The captured tables, as `schema.name`.
pub async fn captured_tables(db: &impl ConnectionTrait) -> Result<Vec<String>, EngineError> {
    let rows = db
        .query_all_raw(checked!(
            "SELECT n.nspname || '.' || c.relname AS name
               FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_proc p ON p.oid = t.tgfoid
              WHERE p.proname = 'engine_capture_event' AND NOT t.tgisinternal
              ORDER BY 1"
        ))
        .await?;
    rows.iter()
        .map(|row| row.try_get::<String>("", "name").map_err(Into::into))
        .collect()
}

/// A MANUAL event for the row of `table` whose `id` is `id` (Hasura's "invoke trigger"): the
/// current row as `new`. `None` when there is no such row. (The table is any captured one, so
/// the statement is built from checked identifiers, not checked by `query!`.)
pub async fn manual_event(
    db: &impl ConnectionTrait,
    table: &str,
    id: &str,
    excluded: &[&str],
    session_variables: Option<Value>,
) -> Result<Option<Event>, EngineError> {
    let (schema, name) = table.split_once('.').unwrap_or(("public", table));
    let sql = format!(
        "SELECT to_jsonb(t) - $2::text[] AS row FROM {}.{} t WHERE t.id::text = $1",
        identifier(schema)?,
        identifier(name)?
    );
    let excluded: Vec<String> = excluded.iter().map(|c| c.to_string()).collect();
    let row = match db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            &sql,
            [id.into(), excluded.into()],
        ))
        .await
    {
        Ok(row) => row,
        // 42P01: no such table.
        Err(e) if e.to_string().contains("does not exist") => {
            return Err(EngineError::NotFound(format!("no table {table}")));
        }
        Err(e) => return Err(e.into()),
    };
    let Some(row) = row else { return Ok(None) };
    let Value::Object(new) = row.try_get::<Value>("", "row")? else {
        return Ok(None);
    };
    Ok(Some(Event {
        id: Uuid::new_v4(),
        source: Source::Manual,
        trigger_name: "manual".into(),
        table_schema: schema.into(),
        table_name: name.into(),
        op: Op::Manual,
        old: None,
        new: Some(new),
        session_variables,
        trace_context: None,
        delivery_info: None,
        created_at: Utc::now(),
    }))
}
