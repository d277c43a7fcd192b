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

use std::sync::Arc;

use async_graphql::{
    Request,
    parser::types::{OperationType, Selection},
};
use axum::body::Bytes;
use chrono::{DateTime, Utc};

use crate::cache::{Generation, Notified, NotifiedCache};

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

/// Answer bodies by cache key, within a memory budget.
pub struct AnswerCache {
    max_bytes: usize,
    answers: NotifiedCache<String, Bytes>,
}

/// A cacheable request's key and the generation it started in.
pub struct Ticket {
    key: String,
    started: Generation,
}

impl AnswerCache {
    pub fn new(max_bytes: usize) -> Self {
        AnswerCache {
            max_bytes,
            answers: NotifiedCache::new(max_bytes),
        }
    }

    /// The kept answer for `key`, unless it has expired.
    pub fn lookup(&self, key: &str) -> Option<Bytes> {
        self.answers.lookup(key)
    }

    /// Taken before a cacheable request runs; `None` while the cache cannot be trusted.
    pub fn ticket(&self, key: String) -> Option<Ticket> {
        let started = self.answers.generation()?;
        Some(Ticket { key, started })
    }

    /// Keeps `body` unless the cache was invalidated since `ticket` was taken. An answer larger
    /// than an eighth of the budget is not kept: it would push out everything else.
    pub fn store(&self, ticket: Ticket, body: Bytes, valid_until: Option<DateTime<Utc>>) {
        if body.len() > self.max_bytes / 8 {
            return;
        }
        let weight = body.len();
        self.answers
            .store(ticket.started, ticket.key, body, weight, valid_until);
    }

    /// What the listener (`cache::start_listening`) empties on [`CHANNEL`].
    pub fn notified(self: &Arc<Self>) -> (&'static str, Arc<dyn Notified>) {
        (CHANNEL, self.clone())
    }
}

impl Notified for AnswerCache {
    fn invalidate(&self) {
        self.answers.invalidate();
    }

    fn set_listening(&self, listening: bool) {
        self.answers.set_listening(listening);
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
    fn answers_are_kept_within_an_eighth_of_the_budget() {
        let cache = AnswerCache::new(80);
        cache.set_listening(true);
        cache.store(
            cache.ticket("small".into()).unwrap(),
            Bytes::from(vec![b'a'; 10]),
            None,
        );
        cache.store(
            cache.ticket("large".into()).unwrap(),
            Bytes::from(vec![b'a'; 11]),
            None,
        );
        assert!(cache.lookup("small").is_some());
        assert!(cache.lookup("large").is_none());
        cache.invalidate();
        assert!(cache.lookup("small").is_none());
    }
}
