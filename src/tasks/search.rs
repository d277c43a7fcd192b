//! Finding jobs with AWSuper's query language, fixed: `field=value` (exact, whitelisted fields;
//! `args.NAME=value` on a top-level argument), `field[min]` / `field[max]` (numbers, times),
//! repeated keys OR-ed, `sort[field]=asc|desc` (one field; `id` breaks ties), `limit` (default
//! 10, at most 100) and a keyset `cursor` from the previous page; `key` (dedupe, concurrency or
//! group key) and `error` (text in the last error). Everything else is refused, naming the
//! parameter.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as BASE64};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, Value as SqlValue};
use serde::Serialize;
use serde_json::json;

use engine::{ArgsError, EngineError, admin::JobRow};

pub const DEFAULT_LIMIT: u64 = 10;
pub const MAX_LIMIT: u64 = 100;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Type {
    Text,
    Int,
    Time,
}

/// Fields that can be filtered on, with their type. (Indexes cover `state`, `queue`,
/// `group_key`, `dedupe_key`; the rest narrow what those find.)
const FIELDS: &[(&str, Type)] = &[
    ("id", Type::Int),
    ("state", Type::Text),
    ("queue", Type::Text),
    ("priority", Type::Int),
    ("attempt", Type::Int),
    ("max_attempts", Type::Int),
    ("created_by", Type::Text),
    ("group_key", Type::Text),
    ("dedupe_key", Type::Text),
    ("concurrency_key", Type::Text),
    ("created_at", Type::Time),
    ("run_at", Type::Time),
    ("started_at", Type::Time),
    ("finished_at", Type::Time),
];

/// Sortable fields: never NULL, so a keyset cursor is exact.
const SORTABLE: &[&str] = &["id", "priority", "attempt", "created_at", "run_at"];

/// A parsed query.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// Per field (or `args.NAME`), the values any of which may match.
    exact: Vec<(String, Type, Vec<String>)>,
    ranges: Vec<(String, Type, &'static str, String)>,
    sort: Option<(String, bool)>,
    pub limit: u64,
    cursor: Option<Cursor>,
    /// `page=N` (1 for the first): pages by offset, as AWSuper clients do; cursors page by key.
    page: Option<u64>,
    /// `key`: any of the dedupe, concurrency or group keys.
    key: Option<String>,
    /// `error`: text the last error contains (case-insensitive).
    error: Option<String>,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
struct Cursor {
    /// The last row's sort value (as text) and id.
    v: String,
    id: i64,
}

fn refuse(field: &str, message: impl Into<String>) -> ArgsError {
    ArgsError::field(field, message)
}

/// Whether `name` is one of the job's own fields (not an argument).
pub fn is_field(name: &str) -> bool {
    FIELDS.iter().any(|(f, _)| *f == name)
        || matches!(name, "limit" | "cursor" | "page" | "key" | "error")
        || name.starts_with("sort")
}

fn field_type(name: &str) -> Option<Type> {
    if let Some(arg) = name.strip_prefix("args.") {
        let valid = !arg.is_empty()
            && arg.len() <= 64
            && arg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        return valid.then_some(Type::Text);
    }
    FIELDS.iter().find(|(f, _)| *f == name).map(|(_, t)| *t)
}

impl Query {
    /// Parses query-string pairs (in order; repeated keys allowed).
    pub fn parse(pairs: &[(String, String)]) -> Result<Query, ArgsError> {
        let mut query = Query {
            limit: DEFAULT_LIMIT,
            ..Query::default()
        };
        for (key, value) in pairs {
            query.add(key, value)?;
        }
        query.check_cursor()?;
        Ok(query)
    }

    /// A cursor's value must be of the sort field's type (it is cast to it in the statement):
    /// a crafted one is a bad request, not a failed statement.
    fn check_cursor(&self) -> Result<(), ArgsError> {
        if self.page.is_some() && self.cursor.is_some() {
            return Err(refuse("page", "give a page or a cursor, not both"));
        }
        let Some(cursor) = &self.cursor else {
            return Ok(());
        };
        let sort = self.sort.as_ref().map_or("id", |(field, _)| field.as_str());
        let fits = match sort {
            "created_at" | "run_at" => {
                DateTime::parse_from_str(&cursor.v, "%Y-%m-%d %H:%M:%S%.f%#z").is_ok()
            }
            "priority" => cursor.v.parse::<i16>().is_ok(),
            "attempt" => cursor.v.parse::<i32>().is_ok(),
            _ => cursor.v.parse::<i64>().is_ok(),
        };
        if fits {
            Ok(())
        } else {
            Err(refuse("cursor", "not a cursor this API gave for this sort"))
        }
    }

    fn add(&mut self, key: &str, value: &str) -> Result<(), ArgsError> {
        match key {
            "limit" => {
                self.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| refuse(key, format!("a number from 1 to {MAX_LIMIT}")))?;
                return Ok(());
            }
            "key" | "error" => {
                if value.is_empty() || value.len() > 200 || value.contains('\0') {
                    return Err(refuse(key, "1 to 200 characters"));
                }
                let slot = if key == "key" {
                    &mut self.key
                } else {
                    &mut self.error
                };
                *slot = Some(value.to_owned());
                return Ok(());
            }
            "page" => {
                let page = value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| refuse(key, "a page number from 1 to 10000"))?;
                self.page = Some(page);
                return Ok(());
            }
            "cursor" => {
                let cursor = BASE64
                    .decode(value)
                    .ok()
                    .and_then(|bytes| serde_json::from_slice::<Cursor>(&bytes).ok())
                    .filter(|cursor| !cursor.v.contains('\0') && cursor.v.len() <= 100)
                    .ok_or_else(|| refuse(key, "not a cursor this API gave"))?;
                self.cursor = Some(cursor);
                return Ok(());
            }
            _ => {}
        }
        if let Some(field) = key.strip_prefix("sort[").and_then(|k| k.strip_suffix(']')) {
            if !SORTABLE.contains(&field) {
                return Err(refuse(
                    key,
                    format!("sortable fields: {}", SORTABLE.join(", ")),
                ));
            }
            let descending = match value {
                "asc" => false,
                "desc" => true,
                _ => return Err(refuse(key, "asc or desc")),
            };
            if self.sort.is_some() {
                return Err(refuse(key, "one sort field at a time"));
            }
            self.sort = Some((field.to_owned(), descending));
            return Ok(());
        }
        if let Some((field, bound)) = key.strip_suffix(']').and_then(|k| k.split_once('[')) {
            let bound = match bound {
                "min" => ">=",
                "max" => "<=",
                _ => return Err(refuse(key, "ranges are field[min] and field[max]")),
            };
            let kind = field_type(field)
                .filter(|t| *t != Type::Text)
                .ok_or_else(|| refuse(key, "ranges apply to numeric and time fields"))?;
            check_value(key, kind, value)?;
            self.ranges
                .push((field.to_owned(), kind, bound, value.to_owned()));
            return Ok(());
        }
        let kind = field_type(key).ok_or_else(|| refuse(key, "not a field you can filter on"))?;
        check_value(key, kind, value)?;
        match self.exact.iter_mut().find(|(f, ..)| f == key) {
            Some((.., values)) => values.push(value.to_owned()),
            None => self
                .exact
                .push((key.to_owned(), kind, vec![value.to_owned()])),
        }
        Ok(())
    }
}

fn check_value(key: &str, kind: Type, value: &str) -> Result<(), ArgsError> {
    if value.contains('\0') {
        return Err(refuse(key, "may not contain NUL characters"));
    }
    match kind {
        Type::Text if value.len() > 1000 => Err(refuse(key, "at most 1000 characters")),
        Type::Int if value.parse::<i64>().is_err() => Err(refuse(key, "a whole number")),
        Type::Time if time_bounds(value).is_none() => Err(refuse(
            key,
            "a date (2026-12-01) or a time with offset (2026-12-01T10:00:00Z)",
        )),
        _ => Ok(()),
    }
}

/// The instants a time value covers: a date is its whole (UTC) day, a time is itself.
fn time_bounds(value: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        let at = at.with_timezone(&Utc);
        return Some((at, at));
    }
    let day = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
    let start = day.and_hms_opt(0, 0, 0)?.and_utc();
    Some((
        start,
        start + chrono::Duration::days(1) - chrono::Duration::microseconds(1),
    ))
}

/// A page of jobs: how many match in all, this page, and the cursor of the next one.
#[derive(Clone, Debug, Serialize)]
pub struct Page {
    /// Matches, counted up to [`COUNT_CAP`]: a count never reads more than that many rows.
    pub num_found: i64,
    /// False when there are more than [`COUNT_CAP`] matches (`num_found` is then the cap).
    pub num_found_exact: bool,
    pub data: Vec<JobRow>,
    pub next_cursor: Option<String>,
}

/// SQL text and its parameters, built together so the numbers always match.
#[derive(Default)]
struct Sql {
    conditions: Vec<String>,
    values: Vec<SqlValue>,
}

impl Sql {
    fn param(&mut self, value: impl Into<SqlValue>) -> String {
        self.values.push(value.into());
        format!("${}", self.values.len())
    }

    /// A whitelisted column, or a top-level argument's text. The argument's name is written
    /// into the SQL (it was checked to be `[A-Za-z0-9_]+`), so that `args->>'url'` is the
    /// expression of the `engine_jobs_url` index.
    fn column(&mut self, field: &str) -> String {
        match field.strip_prefix("args.") {
            Some(arg) => format!("(args->>'{arg}')"),
            None => field.to_owned(),
        }
    }

    fn typed(&mut self, kind: Type, value: &str) -> String {
        match kind {
            Type::Text => self.param(value.to_owned()),
            Type::Int => format!("{}::bigint", self.param(value.parse::<i64>().unwrap_or(0))),
            Type::Time => {
                let (start, _) = time_bounds(value).unwrap_or_default();
                self.param(start)
            }
        }
    }
}

/// Matches counted at most: past it a list says "10 000 or more" instead of counting millions.
pub const COUNT_CAP: i64 = 10_000;

/// The jobs matching `query`, of `kind` when given, and (when given) created by `owner`.
pub async fn search(
    db: &impl ConnectionTrait,
    kind: Option<&str>,
    owner: Option<&str>,
    query: &Query,
) -> Result<Page, EngineError> {
    let mut sql = Sql::default();
    if let Some(kind) = kind {
        let p = sql.param(kind.to_owned());
        sql.conditions.push(format!("kind = {p}"));
    }
    if let Some(owner) = owner {
        let p = sql.param(owner.to_owned());
        sql.conditions.push(format!("created_by = {p}"));
    }
    filters(query, &mut sql);
    // Filtered only by state, kind and queue: the kept counts answer exactly, without a scan.
    let by_counts = owner.is_none()
        && query.ranges.is_empty()
        && query.key.is_none()
        && query.error.is_none()
        && query
            .exact
            .iter()
            .all(|(field, ..)| matches!(field.as_str(), "state" | "kind" | "queue"));
    let count_sql = if by_counts {
        format!(
            "SELECT coalesce(sum(jobs), 0)::bigint AS n FROM engine_job_counts WHERE {}",
            where_clause(&sql.conditions)
        )
    } else {
        format!(
            "SELECT count(*)::bigint AS n FROM (SELECT 1 FROM engine_jobs WHERE {} LIMIT {}) AS matches",
            where_clause(&sql.conditions),
            COUNT_CAP + 1
        )
    };
    let (sort, descending) = query
        .sort
        .clone()
        .unwrap_or_else(|| ("id".to_owned(), true));
    let counted = count(db, &count_sql, sql.values.clone()).await?;
    let (num_found, num_found_exact) = if by_counts {
        (counted, true)
    } else {
        (counted.min(COUNT_CAP), counted <= COUNT_CAP)
    };
    if let Some(cursor) = &query.cursor {
        keyset(&sort, descending, cursor, &mut sql);
    }
    let direction = if descending { "DESC" } else { "ASC" };
    let limit = sql.param(query.limit as i64 + 1);
    let offset = sql.param((query.page.unwrap_or(1) as i64 - 1) * query.limit as i64);
    let page_sql = format!(
        "SELECT {columns}, {sort}::text AS sort_value FROM engine_jobs WHERE {conditions}
          ORDER BY {sort} {direction}, id {direction} LIMIT {limit} OFFSET {offset}",
        columns = engine::admin::JOB_COLUMNS,
        conditions = where_clause(&sql.conditions),
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            &page_sql,
            sql.values,
        ))
        .await?;
    let more = rows.len() as u64 > query.limit;
    let mut data = Vec::with_capacity(rows.len());
    let mut last = None;
    for row in rows.iter().take(query.limit as usize) {
        let job = JobRow::from_query_result(row, "")?;
        last = Some(Cursor {
            v: row.try_get::<String>("", "sort_value")?,
            id: job.id,
        });
        data.push(job);
    }
    let next_cursor = last
        .filter(|_| more)
        .map(|c| BASE64.encode(json!(c).to_string()));
    Ok(Page {
        num_found,
        num_found_exact,
        data,
        next_cursor,
    })
}

fn filters(query: &Query, sql: &mut Sql) {
    if let Some(key) = &query.key {
        let p = sql.param(key.clone());
        sql.conditions.push(format!(
            "(dedupe_key = {p} OR concurrency_key = {p} OR group_key = {p})"
        ));
    }
    if let Some(text) = &query.error {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let p = sql.param(format!("%{escaped}%"));
        sql.conditions.push(format!("last_error ILIKE {p}"));
    }
    for (field, kind, values) in &query.exact {
        if let Some(arg) = field.strip_prefix("args.") {
            // Implied by any match; it lets an index on the argument (`WHERE args ? 'url'`) serve.
            sql.conditions.push(format!("args ? '{arg}'"));
        }
        let column = sql.column(field);
        let alternatives: Vec<String> = values
            .iter()
            .map(|value| match kind {
                // A time value covers a span (a whole day for a date).
                Type::Time => {
                    let (start, end) = time_bounds(value).unwrap_or_default();
                    let (a, b) = (sql.param(start), sql.param(end));
                    format!("{column} BETWEEN {a} AND {b}")
                }
                _ => format!("{column} = {}", sql.typed(*kind, value)),
            })
            .collect();
        sql.conditions
            .push(format!("({})", alternatives.join(" OR ")));
    }
    for (field, kind, bound, value) in &query.ranges {
        let column = sql.column(field);
        let value = match (kind, *bound) {
            (Type::Time, "<=") => sql.param(time_bounds(value).unwrap_or_default().1),
            _ => sql.typed(*kind, value),
        };
        sql.conditions.push(format!("{column} {bound} {value}"));
    }
}

/// Rows after the cursor's in the sort order.
fn keyset(sort: &str, descending: bool, cursor: &Cursor, sql: &mut Sql) {
    let cast = match sort {
        "created_at" | "run_at" => "timestamptz",
        "priority" => "smallint",
        "attempt" => "int",
        _ => "bigint",
    };
    let op = if descending { "<" } else { ">" };
    let value = sql.param(cursor.v.clone());
    let id = sql.param(cursor.id);
    sql.conditions
        .push(format!("({sort}, id) {op} ({value}::{cast}, {id})"));
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        "true".to_owned()
    } else {
        conditions.join(" AND ")
    }
}

async fn count(
    db: &impl ConnectionTrait,
    sql: &str,
    values: Vec<SqlValue>,
) -> Result<i64, EngineError> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn refuses_unknown_fields_bad_values_and_limits() {
        for (query, field) in [
            ("password=x", "password"),
            ("priority=high", "priority"),
            ("created_at[min]=yesterday", "created_at[min]"),
            ("state[min]=a", "state[min]"),
            ("sort[args]=asc", "sort[args]"),
            ("sort[id]=up", "sort[id]"),
            ("limit=101", "limit"),
            ("limit=0", "limit"),
            ("cursor=abc", "cursor"),
            ("args.a;drop=1", "args.a;drop"),
            ("state=a%00b", "state"),
        ] {
            let error = Query::parse(&pairs(query)).unwrap_err();
            assert_eq!(error.field.as_deref(), Some(field), "{query}");
        }
    }

    #[test]
    fn repeated_keys_become_alternatives() {
        let query = Query::parse(&pairs("state=completed&state=failed&priority[min]=2")).unwrap();
        assert_eq!(query.exact.len(), 1);
        assert_eq!(query.exact[0].2, vec!["completed", "failed"]);
        assert_eq!(query.ranges.len(), 1);
        assert_eq!(query.limit, DEFAULT_LIMIT);
    }

    #[test]
    fn a_date_covers_its_day() {
        let (start, end) = time_bounds("2026-12-01").unwrap();
        assert_eq!(start.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert!(end > start && (end - start) < chrono::Duration::days(1));
    }
}
