//! Hasura's event-trigger envelope, and the typed event detectors read.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// `event.op`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Op {
    Insert,
    Update,
    Delete,
    Manual,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Insert => "INSERT",
            Op::Update => "UPDATE",
            Op::Delete => "DELETE",
            Op::Manual => "MANUAL",
        }
    }

    pub fn parse(value: &str) -> Option<Op> {
        [Op::Insert, Op::Update, Op::Delete, Op::Manual]
            .into_iter()
            .find(|op| op.as_str() == value)
    }
}

/// Who produced the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `POST /hooks/hasura`.
    Hasura,
    /// The capture trigger.
    Native,
    /// An admin's `invokeEvent`.
    Manual,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Hasura => "hasura",
            Source::Native => "native",
            Source::Manual => "manual",
        }
    }

    pub fn parse(value: &str) -> Option<Source> {
        [Source::Hasura, Source::Native, Source::Manual]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TriggerRef {
    pub name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TableRef {
    pub schema: String,
    pub name: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ChangeData {
    #[serde(default)]
    pub old: Option<Value>,
    #[serde(default)]
    pub new: Option<Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Change {
    pub op: Op,
    #[serde(default)]
    pub data: ChangeData,
    #[serde(default)]
    pub session_variables: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_context: Option<Value>,
}

/// The body Hasura posts for an event trigger (and what the capture trigger writes).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    pub trigger: TriggerRef,
    pub table: TableRef,
    pub event: Change,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_info: Option<Value>,
}

/// Why an envelope is not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct EnvelopeError {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> EnvelopeError {
    EnvelopeError {
        field,
        message: message.into(),
    }
}

/// PostgreSQL's identifier limit: longer names cannot be a table.
const MAX_NAME: usize = 63;

impl Envelope {
    /// The event it describes. The id is Hasura's (`id`, a UUID); without one, a hash of the
    /// trigger, table, operation, rows and time, so a re-delivery still maps to one event.
    pub fn into_event(self, source: Source) -> Result<Event, EnvelopeError> {
        let created_at = match self.created_at.as_deref() {
            Some(text) => parse_time(text).ok_or_else(|| {
                invalid("created_at", "a timestamp, e.g. 2026-12-01T10:00:00.123Z")
            })?,
            None => Utc::now(),
        };
        for (field, name) in [
            ("trigger.name", &self.trigger.name),
            ("table.schema", &self.table.schema),
            ("table.name", &self.table.name),
        ] {
            if name.trim().is_empty() || name.len() > MAX_NAME || name.contains('\0') {
                return Err(invalid(field, "1 to 63 characters"));
            }
        }
        let op = self.event.op;
        let old = row("event.data.old", self.event.data.old)?;
        let new = row("event.data.new", self.event.data.new)?;
        match (op, old.is_some(), new.is_some()) {
            (Op::Insert | Op::Manual, false, true)
            | (Op::Update, true, true)
            | (Op::Delete, true, false) => {}
            _ => return Err(invalid("event.data", rows_expected(op))),
        }
        let id = match self.id.as_deref() {
            Some(text) => Uuid::parse_str(text).map_err(|_| invalid("id", "a UUID"))?,
            None => fallback_id(&self.trigger.name, &self.table, op, &old, &new, created_at),
        };
        Ok(Event {
            id,
            source,
            trigger_name: self.trigger.name,
            table_schema: self.table.schema,
            table_name: self.table.name,
            op,
            old,
            new,
            session_variables: self.event.session_variables.filter(|v| !v.is_null()),
            trace_context: self.event.trace_context.filter(|v| !v.is_null()),
            delivery_info: self.delivery_info,
            created_at,
        })
    }
}

fn rows_expected(op: Op) -> &'static str {
    match op {
        Op::Insert | Op::Manual => "old is null and new is the row",
        Op::Update => "old and new are both rows",
        Op::Delete => "old is the row and new is null",
    }
}

fn row(
    field: &'static str,
    value: Option<Value>,
) -> Result<Option<Map<String, Value>>, EnvelopeError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(invalid(field, "an object or null")),
    }
}

/// Hasura writes `2026-12-01T10:00:00.123456` (UTC, no offset) or RFC 3339.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

fn fallback_id(
    trigger: &str,
    table: &TableRef,
    op: Op,
    old: &Option<Map<String, Value>>,
    new: &Option<Map<String, Value>>,
    created_at: DateTime<Utc>,
) -> Uuid {
    let material = json!([trigger, table.schema, table.name, op, old, new, created_at]);
    let digest = Sha256::digest(material.to_string().as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// One change, as detectors see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub id: Uuid,
    pub source: Source,
    pub trigger_name: String,
    pub table_schema: String,
    pub table_name: String,
    pub op: Op,
    pub old: Option<Map<String, Value>>,
    pub new: Option<Map<String, Value>>,
    pub session_variables: Option<Value>,
    pub trace_context: Option<Value>,
    pub delivery_info: Option<Value>,
    pub created_at: DateTime<Utc>,
}

impl Event {
    pub fn op(&self) -> Op {
        self.op
    }

    /// The table, without its schema.
    pub fn table(&self) -> &str {
        &self.table_name
    }

    pub fn inserted(&self) -> bool {
        self.op == Op::Insert
    }

    pub fn updated(&self) -> bool {
        self.op == Op::Update
    }

    pub fn deleted(&self) -> bool {
        self.op == Op::Delete
    }

    pub fn manual(&self) -> bool {
        self.op == Op::Manual
    }

    pub fn old(&self) -> Option<&Map<String, Value>> {
        self.old.as_ref()
    }

    // Hasura's name for the row after the change.
    #[allow(clippy::new_ret_no_self, clippy::wrong_self_convention)]
    pub fn new(&self) -> Option<&Map<String, Value>> {
        self.new.as_ref()
    }

    /// The row before, typed (an error when there is none or it does not fit `T`).
    pub fn old_as<T: DeserializeOwned>(&self) -> Result<T, String> {
        typed("old", self.old.as_ref())
    }

    /// The row after, typed.
    pub fn new_as<T: DeserializeOwned>(&self) -> Result<T, String> {
        typed("new", self.new.as_ref())
    }

    /// The row as it is now: `new`, or `old` for a deletion.
    pub fn row_as<T: DeserializeOwned>(&self) -> Result<T, String> {
        match self.new {
            Some(_) => self.new_as(),
            None => self.old_as(),
        }
    }

    pub fn old_value(&self, column: &str) -> Option<&Value> {
        self.old.as_ref().and_then(|row| row.get(column))
    }

    pub fn new_value(&self, column: &str) -> Option<&Value> {
        self.new.as_ref().and_then(|row| row.get(column))
    }

    /// An UPDATE that changed `column` (JSON compared by value, so a `json` column rewritten
    /// with the same content is unchanged). False for other operations, and when either row
    /// lacks the column (Hasura may send only some columns).
    pub fn changed(&self, column: &str) -> bool {
        if self.op != Op::Update {
            return false;
        }
        match (self.old_value(column), self.new_value(column)) {
            (Some(old), Some(new)) => !json_equal(old, new),
            _ => false,
        }
    }

    /// An UPDATE that changed `column` to `value`.
    pub fn changed_to(&self, column: &str, value: &Value) -> bool {
        self.changed(column) && self.new_value(column).is_some_and(|v| json_equal(v, value))
    }

    /// `column` is now `value` and was not before: an INSERT with it, or an UPDATE to it.
    pub fn became(&self, column: &str, value: &Value) -> bool {
        match self.op {
            Op::Insert => self.new_value(column).is_some_and(|v| json_equal(v, value)),
            Op::Update => self.changed_to(column, value),
            Op::Delete | Op::Manual => false,
        }
    }

    /// A session variable (`x-hasura-…`), compared case-insensitively as Hasura does.
    pub fn session_variable(&self, name: &str) -> Option<&str> {
        self.session_variables
            .as_ref()?
            .as_object()?
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_str())
    }

    /// The acting user's id (`x-hasura-user-id`), if a user acted.
    pub fn actor(&self) -> Option<&str> {
        self.session_variable("x-hasura-user-id")
    }

    /// The acting role (`x-hasura-role`); Hasura's `admin` is the system itself.
    pub fn role(&self) -> Option<&str> {
        self.session_variable("x-hasura-role")
    }

    /// The event as Hasura's envelope.
    pub fn envelope(&self) -> Value {
        json!({
            "id": self.id,
            "created_at": self.created_at,
            "trigger": { "name": self.trigger_name },
            "table": { "schema": self.table_schema, "name": self.table_name },
            "event": {
                "op": self.op,
                "data": { "old": self.old, "new": self.new },
                "session_variables": self.session_variables,
                "trace_context": self.trace_context,
            },
            "delivery_info": self.delivery_info,
        })
    }
}

fn typed<T: DeserializeOwned>(which: &str, row: Option<&Map<String, Value>>) -> Result<T, String> {
    let row = row.ok_or_else(|| format!("the event has no {which} row"))?;
    serde_json::from_value(Value::Object(row.clone()))
        .map_err(|e| format!("the {which} row does not fit: {e}"))
}

/// JSON equality by value: objects regardless of key order, numbers by value (`1` = `1.0`).
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, value)| y.get(key).is_some_and(|other| json_equal(value, other)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(old: Value, new: Value) -> Event {
        let envelope: Envelope = serde_json::from_value(json!({
            "id": "85558393-c75d-4d2f-9c31-e7f6ac7b8a44",
            "created_at": "2026-12-01T10:00:00.123456",
            "trigger": { "name": "meets" },
            "table": { "schema": "public", "name": "meets" },
            "event": { "op": "UPDATE", "data": { "old": old, "new": new },
                       "session_variables": { "X-Hasura-Role": "user", "x-hasura-user-id": "7" } },
            "delivery_info": { "current_retry": 0, "max_retries": 0 }
        }))
        .unwrap();
        envelope.into_event(Source::Hasura).unwrap()
    }

    #[test]
    fn json_columns_compare_by_value() {
        let event = update(
            json!({ "meta": { "a": 1, "b": [1, 2] }, "n": 1, "title": "x" }),
            json!({ "meta": { "b": [1, 2], "a": 1.0 }, "n": 1.0, "title": "y" }),
        );
        assert!(!event.changed("meta"));
        assert!(!event.changed("n"));
        assert!(event.changed("title"));
        assert!(event.changed_to("title", &json!("y")));
        assert!(!event.changed_to("title", &json!("x")));
        assert!(event.became("title", &json!("y")));
        assert!(!event.changed("missing"));
        assert_eq!(event.role(), Some("user"));
        assert_eq!(event.actor(), Some("7"));
    }

    #[test]
    fn hasura_times_and_missing_ids_are_understood() {
        let event = update(json!({ "a": 1 }), json!({ "a": 2 }));
        assert_eq!(
            event.created_at.to_rfc3339(),
            "2026-12-01T10:00:00.123456+00:00"
        );
        let body = json!({
            "trigger": { "name": "t" }, "table": { "schema": "public", "name": "users" },
            "created_at": "2026-12-01T10:00:00Z",
            "event": { "op": "INSERT", "data": { "old": null, "new": { "id": 1 } } }
        });
        let first = serde_json::from_value::<Envelope>(body.clone()).unwrap();
        let second = serde_json::from_value::<Envelope>(body).unwrap();
        assert_eq!(
            first.into_event(Source::Hasura).unwrap().id,
            second.into_event(Source::Hasura).unwrap().id
        );
    }

    #[test]
    fn rows_must_fit_the_operation() {
        let body = json!({
            "id": "85558393-c75d-4d2f-9c31-e7f6ac7b8a44",
            "trigger": { "name": "t" }, "table": { "schema": "public", "name": "users" },
            "event": { "op": "DELETE", "data": { "old": null, "new": { "id": 1 } } }
        });
        let error = serde_json::from_value::<Envelope>(body)
            .unwrap()
            .into_event(Source::Hasura)
            .unwrap_err();
        assert_eq!(error.field, "event.data");
    }
}
