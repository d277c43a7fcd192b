//! Answers in the order of the document, as GraphQL specifies and the Node backend answers:
//! async-graphql 7 puts an object's fields in the order they finish resolving, so an answer's
//! bytes depended on timing. Fields are ordered as `CollectFields` does (first occurrence,
//! fragments in place, duplicates merged).

use async_graphql::{
    Value,
    parser::types::{ExecutableDocument, OperationDefinition, Selection, SelectionSet},
};

/// Reorders every object of `data` like the selection of `operation` (the named one, or the
/// document's only operation).
pub fn order_like_document(
    data: &mut Value,
    document: &ExecutableDocument,
    operation: Option<&str>,
) {
    let operation: Option<&OperationDefinition> = match operation {
        Some(name) => document
            .operations
            .iter()
            .find(|(n, _)| n.map(|n| n.as_str()) == Some(name))
            .map(|(_, op)| &op.node),
        None => {
            let mut operations = document.operations.iter();
            match (operations.next(), operations.next()) {
                (Some((_, op)), None) => Some(&op.node),
                _ => None,
            }
        }
    };
    if let Some(operation) = operation {
        order(data, &[&operation.selection_set.node], document);
    }
}

/// The response keys of `sets`, in order, each with the selections of its fields.
fn collect<'a>(
    sets: &[&'a SelectionSet],
    document: &'a ExecutableDocument,
    keys: &mut Vec<(&'a str, Vec<&'a SelectionSet>)>,
    depth: usize,
) {
    // Valid documents have no fragment cycles; the bound only keeps a bug from recursing forever.
    if depth > 64 {
        return;
    }
    for set in sets {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let key = field.alias.as_ref().unwrap_or(&field.name).node.as_str();
                    let selection = &field.selection_set.node;
                    match keys.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, selections)) => selections.push(selection),
                        None => keys.push((key, vec![selection])),
                    }
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node)
                    {
                        collect(
                            &[&fragment.node.selection_set.node],
                            document,
                            keys,
                            depth + 1,
                        );
                    }
                }
                Selection::InlineFragment(inline) => {
                    collect(
                        &[&inline.node.selection_set.node],
                        document,
                        keys,
                        depth + 1,
                    );
                }
            }
        }
    }
}

fn order(value: &mut Value, sets: &[&SelectionSet], document: &ExecutableDocument) {
    match value {
        Value::List(items) => {
            for item in items {
                order(item, sets, document);
            }
        }
        Value::Object(map) => {
            let mut keys = Vec::new();
            collect(sets, document, &mut keys, 0);
            let mut unordered = std::mem::take(map);
            for (key, selections) in keys {
                if let Some((name, mut child)) = unordered.shift_remove_entry(key) {
                    order(&mut child, &selections, document);
                    map.insert(name, child);
                }
            }
            // Nothing else should be there; if it is, it keeps its place after the rest.
            map.extend(unordered);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;
    use serde_json::json;

    use super::*;

    #[test]
    fn objects_follow_the_document_with_fragments_and_aliases() {
        let document = parse_query(
            "query { b: meets { title ...F id } a: me { id } } fragment F on Meet { kind id title }",
        )
        .unwrap();
        let mut data = Value::from_json(json!({
            "a": { "id": 1 },
            "b": [{ "id": 1, "kind": "x", "title": "t" }, { "kind": "y", "title": "u", "id": 2 }],
        }))
        .unwrap();
        order_like_document(&mut data, &document, None);
        assert_eq!(
            serde_json::to_string(&data).unwrap(),
            r#"{"b":[{"title":"t","kind":"x","id":1},{"title":"u","kind":"y","id":2}],"a":{"id":1}}"#
        );
    }
}
