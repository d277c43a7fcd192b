//! Limits on what one GraphQL document may ask for, checked on the parsed document before
//! async-graphql validates or runs it, so that no hostile document costs more than its parse.
//!
//! - depth as the Node backend counted it (graphql-depth-limit: the root field is depth 0,
//!   introspection fields are not counted), so every document of the frontend fits in 3;
//! - selected fields with fragments expanded (a "fragment bomb" expands exponentially), which can
//!   never exceed the complexity limit, since each field costs at least 1;
//! - aliases and directives, fragments expanded;
//! - at most one `login` and one `register` per operation, so one request cannot run hundreds of
//!   password checks.
//!
//! The complexity itself is async-graphql's, with every list field multiplying the cost of what
//! it selects by [`LIST_SIZE_ESTIMATE`] (see [`list_complexity`]).

use std::collections::{HashMap, HashSet};

use async_graphql::Name;
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};

/// At most this many operations in one batched (JSON array) request, when batching is enabled.
pub const MAX_BATCH: usize = 10;

/// The number of items a list field is assumed to hold when the cost of a query is estimated.
pub const LIST_SIZE_ESTIMATE: usize = 10;

/// Fields that run a password hash: at most one of each per operation.
const PASSWORD_FIELDS: [&str; 2] = ["login", "register"];

/// The complexity of a list field selecting children of cost `child_complexity`, for
/// `#[graphql(complexity = "...")]`.
pub fn list_complexity(child_complexity: usize) -> usize {
    LIST_SIZE_ESTIMATE
        .saturating_mul(child_complexity)
        .saturating_add(1)
}

pub use mintbean_core::config::Limits;

/// What an operation selects, fragments expanded; sums saturate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    depth: usize,
    fields: usize,
    aliases: usize,
    directives: usize,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.depth = self.depth.max(other.depth);
        self.fields = self.fields.saturating_add(other.fields);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.directives = self.directives.saturating_add(other.directives);
    }
}

/// Walks selection sets, computing each fragment once: a fragment's tally does not depend on
/// where it is spread, so a document is walked in time linear in its size.
struct Walker<'a> {
    document: &'a ExecutableDocument,
    fragments: HashMap<&'a Name, Tally>,
    /// Fragments being walked: a spread of one of them is a cycle, which validation rejects.
    walking: HashSet<&'a Name>,
}

impl<'a> Walker<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> Tally {
        let mut tally = Tally::default();
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let children = self.selection_set(&field.selection_set.node);
                    let introspection = field.name.node.starts_with("__");
                    tally.add(Tally {
                        depth: if introspection || field.selection_set.node.items.is_empty() {
                            0
                        } else {
                            children.depth + 1
                        },
                        fields: children.fields.saturating_add(1),
                        aliases: children.aliases + usize::from(field.alias.is_some()),
                        directives: children.directives.saturating_add(field.directives.len()),
                    });
                }
                Selection::FragmentSpread(spread) => {
                    tally.directives = tally
                        .directives
                        .saturating_add(spread.node.directives.len());
                    let fragment = self.fragment(&spread.node.fragment_name.node);
                    tally.add(fragment);
                }
                Selection::InlineFragment(inline) => {
                    tally.directives = tally
                        .directives
                        .saturating_add(inline.node.directives.len());
                    let inner = self.selection_set(&inline.node.selection_set.node);
                    tally.add(inner);
                }
            }
        }
        tally
    }

    fn fragment(&mut self, name: &'a Name) -> Tally {
        if let Some(tally) = self.fragments.get(name) {
            return *tally;
        }
        let Some(definition) = self.document.fragments.get(name) else {
            return Tally::default(); // unknown fragment: validation reports it
        };
        if !self.walking.insert(name) {
            return Tally::default();
        }
        let mut tally = self.selection_set(&definition.node.selection_set.node);
        tally.directives = tally
            .directives
            .saturating_add(definition.node.directives.len());
        self.walking.remove(name);
        self.fragments.insert(name, tally);
        tally
    }
}

/// The response keys of root fields named `field`, through fragments: fields with the same key
/// are merged and run once, so only distinct keys count.
fn root_keys<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    field: &str,
    keys: &mut HashSet<&'a str>,
    visited: &mut HashSet<&'a Name>,
) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(f) if f.node.name.node == field => {
                keys.insert(f.node.response_key().node.as_str());
            }
            Selection::Field(_) => {}
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                if visited.insert(name)
                    && let Some(definition) = document.fragments.get(name)
                {
                    root_keys(
                        document,
                        &definition.node.selection_set.node,
                        field,
                        keys,
                        visited,
                    );
                }
            }
            Selection::InlineFragment(inline) => {
                root_keys(
                    document,
                    &inline.node.selection_set.node,
                    field,
                    keys,
                    visited,
                );
            }
        }
    }
}

/// Checks every operation of `document`; the message says which limit was hit.
pub fn check(document: &ExecutableDocument, limits: &Limits) -> Result<(), String> {
    let mut walker = Walker {
        document,
        fragments: HashMap::new(),
        walking: HashSet::new(),
    };
    for (_, operation) in document.operations.iter() {
        let operation = &operation.node;
        let mut tally = walker.selection_set(&operation.selection_set.node);
        tally.directives = tally.directives.saturating_add(operation.directives.len());
        check_tally(tally, limits)?;
        if operation.ty == OperationType::Mutation {
            for field in PASSWORD_FIELDS {
                let mut keys = HashSet::new();
                root_keys(
                    document,
                    &operation.selection_set.node,
                    field,
                    &mut keys,
                    &mut HashSet::new(),
                );
                if keys.len() > 1 {
                    return Err(format!(
                        "At most one `{field}` field is allowed per request ({} found)",
                        keys.len()
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check_tally(tally: Tally, limits: &Limits) -> Result<(), String> {
    if tally.depth > limits.max_depth {
        return Err(format!(
            "Query is nested too deep: depth {} where at most {} is allowed",
            tally.depth, limits.max_depth
        ));
    }
    if tally.fields > limits.max_complexity {
        return Err(format!(
            "Query is too complex: it selects {} fields (fragments expanded) where at most {} \
             are allowed",
            tally.fields, limits.max_complexity
        ));
    }
    if tally.aliases > limits.max_aliases {
        return Err(format!(
            "Query uses {} aliases where at most {} are allowed",
            tally.aliases, limits.max_aliases
        ));
    }
    if tally.directives > limits.max_directives {
        return Err(format!(
            "Query uses {} directives where at most {} are allowed",
            tally.directives, limits.max_directives
        ));
    }
    Ok(())
}

/// Whether any operation of the document is a mutation.
pub fn has_mutation(document: &ExecutableDocument) -> bool {
    document
        .operations
        .iter()
        .any(|(_, op)| op.node.ty == OperationType::Mutation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn check_str(query: &str) -> Result<(), String> {
        check(&parse_query(query).unwrap(), &Limits::default())
    }

    fn tally(query: &str) -> Tally {
        let document = parse_query(query).unwrap();
        let mut walker = Walker {
            document: &document,
            fragments: HashMap::new(),
            walking: HashSet::new(),
        };
        let (_, op) = document.operations.iter().next().unwrap();
        walker.selection_set(&op.node.selection_set.node)
    }

    #[test]
    fn depth_is_counted_like_graphql_depth_limit() {
        assert_eq!(tally("{ meets { id } }").depth, 1);
        assert_eq!(tally("{ me { id } }").depth, 1);
        assert_eq!(
            tally("{ meet(id: 1) { projects { user { firstName } } } }").depth,
            3
        );
        assert_eq!(
            tally("{ meets { projects { user { projects { meet { id } } } } } }").depth,
            5
        );
        // Fragments add no depth of their own; introspection fields are not counted.
        assert_eq!(
            tally("{ meets { ...F } } fragment F on Meet { projects { id } }").depth,
            2
        );
        assert_eq!(
            tally("{ __schema { types { fields { type { ofType { name } } } } } }").depth,
            0
        );
    }

    #[test]
    fn fragment_bombs_are_counted_expanded_in_linear_time() {
        // F0 spreads F1 twice, F1 spreads F2 twice, ...: 2^40 fields once expanded.
        let mut query = String::from("{ meets { ...F0 } }");
        for level in 0..40 {
            query.push_str(&format!(
                " fragment F{level} on Meet {{ ...F{next} ...F{next} }}",
                next = level + 1
            ));
        }
        query.push_str(" fragment F40 on Meet { id }");
        let counted = tally(&query);
        assert_eq!(counted.fields, (1usize << 40) + 1);
        let error = check_str(&query).unwrap_err();
        assert!(error.contains("too complex"), "{error}");
    }

    #[test]
    fn cycles_terminate_and_are_left_to_validation() {
        let query = "{ meets { ...A } } fragment A on Meet { id ...B } fragment B on Meet { ...A }";
        assert_eq!(tally(query).fields, 2);
    }

    #[test]
    fn password_fields_count_distinct_response_keys() {
        let one = "mutation { login(email: \"a\", password: \"b\") { id } }";
        assert!(check_str(one).is_ok());
        let merged = "mutation { ...L ...L } fragment L on Mutation { login(email: \"a\", password: \"b\") { id } }";
        assert!(check_str(merged).is_ok());
        let two = "mutation { a: login(email: \"a\", password: \"b\") { id } ...L } fragment L on Mutation { b: login(email: \"a\", password: \"c\") { id } }";
        let error = check_str(two).unwrap_err();
        assert!(error.contains("`login`"), "{error}");
        let inline = "mutation { ... on Mutation { a: register(input: {}) { id } } register(input: {}) { id } }";
        assert!(check_str(inline).unwrap_err().contains("`register`"));
    }

    #[test]
    fn aliases_and_directives_are_limited() {
        let aliases = format!(
            "{{ {} }}",
            (0..16)
                .map(|i| format!("a{i}: meets {{ id }}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert!(check_str(&aliases).unwrap_err().contains("aliases"));
        let directives = format!("{{ meets {{ id {} }} }}", "@include(if: true) ".repeat(51));
        assert!(check_str(&directives).unwrap_err().contains("directives"));
    }

    #[test]
    fn list_fields_multiply_their_children() {
        assert_eq!(list_complexity(0), 1);
        assert_eq!(list_complexity(3), 31);
        assert_eq!(list_complexity(usize::MAX), usize::MAX);
    }
}
