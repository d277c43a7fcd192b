//! Which caches a mutation empties in this process before its answer is sent (read-your-writes
//! for the writer; other processes hear of the write from PostgreSQL). Only a mutation that may
//! have written empties anything: a refused one, a failed login or a login cannot, so no client
//! can keep the caches empty by sending mutations that change nothing.

use async_graphql::{
    Request, Response,
    parser::types::{DocumentOperations, OperationType, Selection},
};

/// Error codes of a field refused before it wrote (services check, then write in a transaction).
const REFUSALS: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "CONFLICT",
    "TOO_MANY_REQUESTS",
];

/// What a root field of a mutation writes, by name.
fn writes(field: &str) -> Emptied {
    match field {
        // A new session token changes no answer and no kept session.
        "login" => Emptied::NOTHING,
        // A revoked token must stop working at once; answers do not change.
        "logout" => Emptied {
            answers: false,
            sessions: true,
        },
        _ => Emptied::ALL,
    }
}

/// The caches to empty.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Emptied {
    /// The answer cache and the kept relations.
    pub answers: bool,
    pub sessions: bool,
}

impl Emptied {
    pub const NOTHING: Emptied = Emptied {
        answers: false,
        sessions: false,
    };
    pub const ALL: Emptied = Emptied {
        answers: true,
        sessions: true,
    };

    fn or(self, other: Emptied) -> Emptied {
        Emptied {
            answers: self.answers || other.answers,
            sessions: self.sessions || other.sessions,
        }
    }
}

/// The root fields of the mutation a request runs, as (response key, field name); a fragment at
/// the root is written down as `None` (any field).
#[derive(Debug)]
pub struct MutationFields(Vec<(String, Option<String>)>);

impl MutationFields {
    /// `None` when the operation the request runs is not a mutation (or cannot be told: the
    /// request then fails validation anyway).
    pub fn of(request: &mut Request) -> Option<MutationFields> {
        let operation_name = request.operation_name.clone();
        let document = request.parsed_query().ok()?;
        let operation = match (&document.operations, operation_name.as_deref()) {
            (DocumentOperations::Single(op), _) => op,
            (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
            (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
            (DocumentOperations::Multiple(_), None) => return None,
        };
        if operation.node.ty != OperationType::Mutation {
            return None;
        }
        let fields = operation
            .node
            .selection_set
            .node
            .items
            .iter()
            .map(|selection| match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let key = field.alias.as_ref().unwrap_or(&field.name);
                    (key.node.to_string(), Some(field.name.node.to_string()))
                }
                Selection::FragmentSpread(_) | Selection::InlineFragment(_) => {
                    (String::new(), None)
                }
            })
            .collect();
        Some(MutationFields(fields))
    }

    /// The caches to empty after `response`; `None` means it is not known how the mutation
    /// ended (it timed out), so everything is emptied.
    pub fn emptied_after(&self, response: Option<&Response>) -> Emptied {
        let Some(response) = response else {
            return Emptied::ALL;
        };
        let refused = |key: &str| {
            response.errors.iter().any(|error| {
                let at_field = matches!(
                    error.path.first(),
                    Some(async_graphql::PathSegment::Field(name)) if name == key
                );
                // Errors without a path (validation, limits) mean nothing ran.
                let before_any_field = error.path.is_empty();
                let code = error
                    .extensions
                    .as_ref()
                    .and_then(|e| e.get("code"))
                    .and_then(|code| match code {
                        async_graphql::Value::String(code) => Some(code.as_str()),
                        _ => None,
                    });
                before_any_field || (at_field && code.is_some_and(|c| REFUSALS.contains(&c)))
            })
        };
        self.0
            .iter()
            .fold(Emptied::NOTHING, |emptied, (key, name)| match name {
                Some(_) if refused(key) => emptied,
                Some(name) => emptied.or(writes(name)),
                None if response.errors.iter().any(|e| e.path.is_empty()) => emptied,
                None => Emptied::ALL,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{ErrorExtensionValues, PathSegment, ServerError};

    fn fields(query: &str, operation: Option<&str>) -> Option<MutationFields> {
        let mut request = Request::new(query);
        request.operation_name = operation.map(str::to_owned);
        MutationFields::of(&mut request)
    }

    fn error(path: &[&str], code: &str) -> ServerError {
        let mut error = ServerError::new("no", None);
        error.path = path
            .iter()
            .map(|p| PathSegment::Field((*p).to_owned()))
            .collect();
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", code);
        error.extensions = Some(extensions);
        error
    }

    #[test]
    fn only_the_operation_that_runs_counts() {
        assert!(fields("{ meets { id } }", None).is_none());
        let mixed = "query Read { meets { id } } mutation Write { logout }";
        assert!(fields(mixed, Some("Read")).is_none());
        assert!(fields(mixed, Some("Write")).is_some());
        assert!(fields(mixed, None).is_none());
    }

    #[test]
    fn refused_fields_and_logins_empty_nothing() {
        let m = fields("mutation { gone: deleteMeet(id: \"x\") }", None).unwrap();
        let mut refused = Response::default();
        refused.errors.push(error(&["gone"], "FORBIDDEN"));
        assert_eq!(m.emptied_after(Some(&refused)), Emptied::NOTHING);
        let mut failed = Response::default();
        failed
            .errors
            .push(error(&["gone"], "INTERNAL_SERVER_ERROR"));
        assert_eq!(m.emptied_after(Some(&failed)), Emptied::ALL);
        assert_eq!(m.emptied_after(Some(&Response::default())), Emptied::ALL);
        assert_eq!(m.emptied_after(None), Emptied::ALL);

        let login = fields(
            "mutation { login(email: \"a\", password: \"b\") { id } }",
            None,
        );
        let login = login.unwrap();
        assert_eq!(
            login.emptied_after(Some(&Response::default())),
            Emptied::NOTHING
        );
        let logout = fields("mutation { logout }", None).unwrap();
        assert_eq!(
            logout.emptied_after(Some(&Response::default())),
            Emptied {
                answers: false,
                sessions: true
            }
        );
        let mut invalid = Response::default();
        invalid.errors.push(ServerError::new("unknown field", None));
        assert_eq!(
            fields("mutation { ...F }", None)
                .unwrap()
                .emptied_after(Some(&invalid)),
            Emptied::NOTHING
        );
    }
}
