//! The answer cache: anonymous GraphQL queries answered from memory.
//!
//! Only requests without a `Cookie` or `Authorization` header, for a query whose root fields are
//! all public reads ([`CACHEABLE_ROOTS`]), answered without errors, are kept, keyed by the
//! normalised document, the operation name and the variables. Every write that could change an
//! answer empties the cache: the tables those answers read carry a trigger that notifies
//! [`CHANNEL`] when a transaction that changed them commits (from any process: servers, `jobs`,
//! the Node backend, `psql`), and this process also empties it itself after every mutation it
//! runs, before answering it. Answers that depend on the clock (a meet's register link) expire at
//! the next moment they would change. The cache is only used while its listener is connected;
//! losing the connection empties and bypasses it until it is back. `ANSWER_CACHE=false` turns it
//! off.
//!
//! A write through another process is seen once its notification arrives, typically well under a
//! millisecond after its commit; a write through this process before its own answer is sent.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use async_graphql::{
    Request,
    parser::types::{OperationType, Selection},
};
use axum::body::Bytes;
use chrono::{DateTime, Utc};
use sea_orm::sqlx::{PgPool, postgres::PgListener};

/// The channel the answer tables' trigger notifies (migration `m20261201_000009_answer_cache`).
pub const CHANNEL: &str = "mintbean_answers_changed";

/// Root fields whose answers are the same for every anonymous caller and read only tables that
/// notify [`CHANNEL`].
pub const CACHEABLE_ROOTS: &[&str] = &[
    "meets",
    "meet",
    "projects",
    "project",
    "badges",
    "badge",
    "kanbanCanon",
    "kanbanCanons",
    "kanbanCanonCard",
    "kanbanCanonCards",
    "posts",
    "post",
    "user",
    "__typename",
];

struct Entry {
    body: Bytes,
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, Entry>,
    bytes: usize,
}

pub struct AnswerCache {
    max_bytes: usize,
    entries: Mutex<Entries>,
    /// Moves on at every invalidation; an answer computed across one is not kept.
    generation: AtomicU64,
    listening: AtomicBool,
}

/// A cacheable request's key and the generation it started in.
pub struct Ticket {
    key: String,
    generation: u64,
}

impl AnswerCache {
    pub fn new(max_bytes: usize) -> Self {
        AnswerCache {
            max_bytes,
            entries: Mutex::default(),
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kept answer for `key`, unless it has expired.
    pub fn lookup(&self, key: &str) -> Option<Bytes> {
        if !self.listening.load(Ordering::SeqCst) {
            return None;
        }
        let entries = self.lock();
        let entry = entries.map.get(key)?;
        match entry.expires_at {
            Some(at) if at <= Utc::now() => None,
            _ => Some(entry.body.clone()),
        }
    }

    /// Taken before a cacheable request runs; `None` while the cache cannot be trusted.
    pub fn ticket(&self, key: String) -> Option<Ticket> {
        self.listening.load(Ordering::SeqCst).then(|| Ticket {
            key,
            generation: self.generation.load(Ordering::SeqCst),
        })
    }

    /// Keeps `body` unless the cache was invalidated since `ticket` was taken (checked under the
    /// lock invalidation takes, so an invalidation either comes first or empties this entry).
    pub fn store(&self, ticket: Ticket, body: Bytes, valid_until: Option<DateTime<Utc>>) {
        if body.len() > self.max_bytes / 8 || valid_until.is_some_and(|at| at <= Utc::now()) {
            return;
        }
        let mut entries = self.lock();
        if !self.listening.load(Ordering::SeqCst)
            || self.generation.load(Ordering::SeqCst) != ticket.generation
        {
            return;
        }
        if entries.bytes + body.len() > self.max_bytes {
            *entries = Entries::default();
        }
        entries.bytes += body.len();
        let entry = Entry {
            body,
            expires_at: valid_until,
        };
        if let Some(old) = entries.map.insert(ticket.key, entry) {
            entries.bytes -= old.body.len();
        }
    }

    /// Forgets every answer.
    pub fn invalidate(&self) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::SeqCst);
        *entries = Entries::default();
    }

    fn set_listening(&self, listening: bool) {
        let mut entries = self.lock();
        self.listening.store(listening, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        *entries = Entries::default();
    }

    /// Listens for [`CHANNEL`] until the process ends, reconnecting after a lost connection.
    pub fn start_listening(self: &Arc<Self>, pool: PgPool) {
        let cache = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(err) = cache.listen(&pool).await {
                    tracing::warn!(error = %err, "answer cache listener lost; cache bypassed");
                }
                cache.set_listening(false);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    async fn listen(&self, pool: &PgPool) -> sea_orm::sqlx::Result<()> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        // Anything kept before was kept without a listener: start empty.
        self.set_listening(true);
        loop {
            match listener.try_recv().await? {
                Some(_) => self.invalidate(),
                // The connection was lost: notifications may have been missed.
                None => return Ok(()),
            }
        }
    }
}

/// The cache key of a request the cache may answer: anonymous, one query of public root
/// fields. `None` for anything else.
pub fn cache_key(request: &mut Request, anonymous: bool) -> Option<String> {
    if !anonymous {
        return None;
    }
    let operation_name = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    let operation = match &operation_name {
        Some(name) => document
            .operations
            .iter()
            .find(|(n, _)| n.map(|n| n.as_str()) == Some(name))?,
        None => {
            let mut operations = document.operations.iter();
            let only = operations.next()?;
            operations.next().is_none().then_some(only)?
        }
    }
    .1;
    if operation.node.ty != OperationType::Query {
        return None;
    }
    let public = operation
        .node
        .selection_set
        .node
        .items
        .iter()
        .all(|item| match &item.node {
            Selection::Field(field) => CACHEABLE_ROOTS.contains(&field.node.name.node.as_str()),
            _ => false,
        });
    if !public {
        return None;
    }
    let variables = serde_json::to_string(&request.variables).ok()?;
    let mut key = normalise(&request.query);
    key.push('\n');
    key.push_str(operation_name.as_deref().unwrap_or(""));
    key.push('\n');
    key.push_str(&variables);
    Some(key)
}

/// The document without the characters GraphQL ignores (white space, commas, comments, a byte
/// order mark), keeping one space only where two names or numbers would otherwise merge, and
/// strings exactly as written: two documents with the same result have the same tokens.
pub fn normalise(document: &str) -> String {
    let mut out = String::with_capacity(document.len());
    let mut rest = document;
    let mut separated = false;
    while let Some(c) = rest.chars().next() {
        if c == '"' {
            let length = string_length(rest);
            out.push_str(&rest[..length]);
            rest = &rest[length..];
            separated = false;
            continue;
        }
        rest = &rest[c.len_utf8()..];
        match c {
            '#' => {
                rest = rest.find(['\n', '\r']).map_or("", |end| &rest[end..]);
                separated = true;
            }
            ' ' | '\t' | '\n' | '\r' | ',' | '\u{feff}' => separated = true,
            _ => {
                let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
                if separated && word(c) && out.chars().next_back().is_some_and(word) {
                    out.push(' ');
                }
                separated = false;
                out.push(c);
            }
        }
    }
    out
}

/// The length in bytes of the string literal (plain or block) at the start of `text`; the rest
/// of the text when it is not closed.
fn string_length(text: &str) -> usize {
    if let Some(body) = text.strip_prefix("\"\"\"") {
        let mut offset = 0;
        while let Some(found) = body[offset..].find("\"\"\"") {
            let end = offset + found;
            if !body[..end].ends_with('\\') {
                return 3 + end + 3;
            }
            offset = end + 3;
        }
        return text.len();
    }
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return i + 1,
            '\n' | '\r' => return i,
            _ => escaped = false,
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_removes_only_ignored_tokens() {
        assert_eq!(
            normalise("query  me {\n  me { id, email } # who\n}"),
            normalise("query me{me{id email}}")
        );
        assert_eq!(normalise("{ a(x: 1 y: 2) }"), "{a(x:1 y:2)}");
        assert_eq!(normalise("{ a ... on B { c } }"), "{a...on B{c}}");
        assert_ne!(normalise("{ meets { id } }"), normalise("{ meetsid }"));
        // Strings keep their spaces, commas, escapes and hashes.
        assert_eq!(
            normalise(r#"{ a(s: "x,  \" # y") b }"#),
            r#"{a(s:"x,  \" # y")b}"#
        );
        assert_eq!(
            normalise("{ a(s: \"\"\"  one,\n \\\"\"\" two \"\"\") }"),
            "{a(s:\"\"\"  one,\n \\\"\"\" two \"\"\")}"
        );
        assert_ne!(
            normalise(r#"{ a(s: "x y") }"#),
            normalise(r#"{ a(s: "x  y") }"#)
        );
    }

    #[test]
    fn only_anonymous_public_queries_have_keys() {
        let key = |query: &str, anonymous: bool| cache_key(&mut Request::new(query), anonymous);
        assert!(key("{ meets { id } }", true).is_some());
        assert!(key("{ meets { id } }", false).is_none());
        assert!(key("{ me { id } }", true).is_none());
        assert!(key("{ meets { id } me { id } }", true).is_none());
        assert!(key("mutation { logout }", true).is_none());
        assert!(key("{ ... on Query { meets { id } } }", true).is_none());
        assert!(key("query a { meets { id } } query b { me { id } }", true).is_none());
        let mut named = Request::new("query a { meets { id } } query b { me { id } }");
        named.operation_name = Some("a".into());
        assert!(cache_key(&mut named, true).is_some());
        named.operation_name = Some("b".into());
        assert!(cache_key(&mut named, true).is_none());
    }

    #[test]
    fn an_answer_computed_across_an_invalidation_is_not_kept() {
        let cache = AnswerCache::new(1 << 20);
        cache.set_listening(true);
        let ticket = cache.ticket("k".into()).unwrap();
        cache.invalidate();
        cache.store(ticket, Bytes::from_static(b"old"), None);
        assert!(cache.lookup("k").is_none());
        let ticket = cache.ticket("k".into()).unwrap();
        cache.store(ticket, Bytes::from_static(b"new"), None);
        assert_eq!(cache.lookup("k").unwrap(), Bytes::from_static(b"new"));
        cache.set_listening(false);
        assert!(cache.lookup("k").is_none());
        assert!(cache.ticket("k".into()).is_none());
    }

    #[test]
    fn answers_expire_when_the_clock_changes_them() {
        let cache = AnswerCache::new(1 << 20);
        cache.set_listening(true);
        let soon = Utc::now() + chrono::Duration::milliseconds(50);
        cache.store(
            cache.ticket("k".into()).unwrap(),
            Bytes::from_static(b"a"),
            Some(soon),
        );
        assert!(cache.lookup("k").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.lookup("k").is_none());
    }
}
