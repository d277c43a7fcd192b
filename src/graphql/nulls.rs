//! GraphQL's rule that an errored nullable field is `null` in `data` (the key present), which
//! async-graphql leaves out: client caches (Apollo's among them) break on the missing key.
//!
//! An error is absorbed by its nearest nullable ancestor, which async-graphql omits; so the
//! first key of an error's path missing from `data` is that field, and becomes `null`. When no
//! root field survived, `data` is `null`; it becomes an object only if every errored root field
//! is nullable (a non-null root field's error must leave `data` null).

use std::collections::HashSet;

use async_graphql::{Name, PathSegment, Response, Value};

/// The root fields (of Query and Mutation) that may be null.
#[derive(Clone, Debug, Default)]
pub struct NullableRoots(HashSet<String>);

impl NullableRoots {
    pub fn from_sdl(sdl: &str) -> Self {
        use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
        let mut names = HashSet::new();
        let Ok(document) = async_graphql::parser::parse_schema(sdl) else {
            return NullableRoots(names);
        };
        for definition in document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let ty = ty.node;
            if !matches!(ty.name.node.as_str(), "Query" | "Mutation") {
                continue;
            }
            if let TypeKind::Object(object) = ty.kind {
                for field in object.fields {
                    let field = field.node;
                    if field.ty.node.nullable {
                        names.insert(field.name.node.to_string());
                    }
                }
            }
        }
        NullableRoots(names)
    }
}

/// Puts `null` where `response`'s errors removed a nullable field.
pub fn fill_errored_fields(response: &mut Response, roots: &NullableRoots) {
    let paths: Vec<&[PathSegment]> = response
        .errors
        .iter()
        .filter(|e| !e.path.is_empty())
        .map(|e| e.path.as_slice())
        .collect();
    if paths.is_empty() {
        return;
    }
    if response.data == Value::Null {
        let all_nullable = paths.iter().all(|path| match &path[0] {
            PathSegment::Field(name) => roots.0.contains(name),
            PathSegment::Index(_) => false,
        });
        if !all_nullable {
            return;
        }
        response.data = Value::Object(Default::default());
    }
    for path in paths {
        insert_null(&mut response.data, path);
    }
}

fn insert_null(value: &mut Value, path: &[PathSegment]) {
    match (value, path.first()) {
        (Value::Object(map), Some(PathSegment::Field(name))) => match map.get_mut(name.as_str()) {
            Some(child) => insert_null(child, &path[1..]),
            None => {
                map.insert(Name::new(name), Value::Null);
            }
        },
        (Value::List(items), Some(PathSegment::Index(index))) => {
            if let Some(child) = items.get_mut(*index) {
                insert_null(child, &path[1..]);
            }
        }
        _ => {}
    }
}
