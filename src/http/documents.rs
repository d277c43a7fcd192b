//! Parsed GraphQL documents by their text. A frontend sends the same few documents again and
//! again, and parsing one (async-graphql's pest parser) cost more than validating it: 8 % of the
//! CPU of the session page. Documents depend on nothing but their text, so nothing invalidates
//! them; the number and size kept are bounded (full, it starts over empty).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_graphql::{Request, parser::types::ExecutableDocument};

/// Documents kept at most, and the longest text kept: a parsed document takes several times its
/// text, so a client sending endless new documents can hold a few megabytes here at most. (The
/// Mintbean frontend has 32, none over 2 KiB.)
const MAX_DOCUMENTS: usize = 256;
const MAX_DOCUMENT_BYTES: usize = 8 * 1024;

#[derive(Default)]
pub struct Documents {
    parsed: Mutex<HashMap<String, Arc<ExecutableDocument>>>,
}

impl Documents {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ExecutableDocument>>> {
        self.parsed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives `request` its parsed document, from memory when this text was parsed before.
    /// `None` when it does not parse (execution then reports the syntax error).
    pub fn prepare(&self, request: &mut Request) -> Option<Arc<ExecutableDocument>> {
        let known = self.lock().get(&request.query).cloned();
        if let Some(document) = known {
            request.set_parsed_query((*document).clone());
            return Some(document);
        }
        let document = Arc::new(request.parsed_query().ok()?.clone());
        if request.query.len() <= MAX_DOCUMENT_BYTES {
            let mut parsed = self.lock();
            if parsed.len() >= MAX_DOCUMENTS {
                parsed.clear();
            }
            parsed.insert(request.query.clone(), document.clone());
        }
        Some(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_parsed_once_is_given_to_the_next_request_with_its_text() {
        let documents = Documents::default();
        let first = documents
            .prepare(&mut Request::new("{ me { id } }"))
            .unwrap();
        let mut again = Request::new("{ me { id } }");
        let second = documents.prepare(&mut again).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(again.parsed_query().unwrap().operations.iter().count(), 1);
        assert!(documents.prepare(&mut Request::new("{ me { ")).is_none());
        for n in 0..MAX_DOCUMENTS + 1 {
            documents.prepare(&mut Request::new(format!("{{ f{n} }}")));
        }
        assert!(documents.lock().len() <= MAX_DOCUMENTS);
        let long = format!("{{ {} }}", "a ".repeat(MAX_DOCUMENT_BYTES));
        documents.prepare(&mut Request::new(long.clone())).unwrap();
        assert!(!documents.lock().contains_key(&long));
    }
}
