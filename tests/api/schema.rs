//! Every type, field, argument, input field and enum value of the Node schema
//! (tests/fixtures/mintbean-schema.graphql, copied from shared/spec) is served with the same type
//! and nullability, as seen through introspection.

use std::collections::BTreeMap;

use async_graphql::parser::{
    parse_schema,
    types::{BaseType, Type, TypeKind, TypeSystemDefinition},
};
use serde_json::{Value, json};

use crate::helpers::{TestApp, data};

const INTROSPECTION: &str = "{ __schema { types {
    name kind
    fields { name type { ...Ref } args { name type { ...Ref } } }
    inputFields { name type { ...Ref } }
    enumValues { name }
} } }
fragment Ref on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

fn render(ty: &Type) -> String {
    let base = match &ty.base {
        BaseType::Named(name) => name.to_string(),
        BaseType::List(inner) => format!("[{}]", render(inner)),
    };
    if ty.nullable {
        base
    } else {
        format!("{base}!")
    }
}

fn render_ref(ty: &Value) -> String {
    match ty["kind"].as_str().unwrap() {
        "NON_NULL" => format!("{}!", render_ref(&ty["ofType"])),
        "LIST" => format!("[{}]", render_ref(&ty["ofType"])),
        _ => ty["name"].as_str().unwrap().to_owned(),
    }
}

/// "Type.field" → type, "Type.field(arg)" → type, "Enum::VALUE" → "", "Type" → kind.
fn spec_entries() -> BTreeMap<String, String> {
    let document =
        parse_schema(include_str!("../fixtures/mintbean-schema.graphql")).expect("spec parses");
    let mut entries = BTreeMap::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let ty = ty.node;
        let name = ty.name.node.to_string();
        match ty.kind {
            TypeKind::Scalar => {
                entries.insert(name, "SCALAR".into());
            }
            TypeKind::Object(object) => {
                entries.insert(name.clone(), "OBJECT".into());
                for field in object.fields {
                    let field = field.node;
                    entries.insert(
                        format!("{name}.{}", field.name.node),
                        render(&field.ty.node),
                    );
                    for arg in field.arguments {
                        entries.insert(
                            format!("{name}.{}({})", field.name.node, arg.node.name.node),
                            render(&arg.node.ty.node),
                        );
                    }
                }
            }
            TypeKind::InputObject(input) => {
                entries.insert(name.clone(), "INPUT_OBJECT".into());
                for field in input.fields {
                    entries.insert(
                        format!("{name}.{}", field.node.name.node),
                        render(&field.node.ty.node),
                    );
                }
            }
            TypeKind::Enum(e) => {
                entries.insert(name.clone(), "ENUM".into());
                for value in e.values {
                    entries.insert(format!("{name}::{}", value.node.value.node), String::new());
                }
            }
            other => panic!("unexpected kind in the spec: {other:?}"),
        }
    }
    entries
}

fn served_entries(schema: &Value) -> BTreeMap<String, String> {
    let mut entries = BTreeMap::new();
    for ty in schema["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap().to_owned();
        entries.insert(name.clone(), ty["kind"].as_str().unwrap().to_owned());
        for field in ty["fields"].as_array().into_iter().flatten() {
            let field_name = field["name"].as_str().unwrap();
            entries.insert(format!("{name}.{field_name}"), render_ref(&field["type"]));
            for arg in field["args"].as_array().into_iter().flatten() {
                entries.insert(
                    format!("{name}.{field_name}({})", arg["name"].as_str().unwrap()),
                    render_ref(&arg["type"]),
                );
            }
        }
        for field in ty["inputFields"].as_array().into_iter().flatten() {
            entries.insert(
                format!("{name}.{}", field["name"].as_str().unwrap()),
                render_ref(&field["type"]),
            );
        }
        for value in ty["enumValues"].as_array().into_iter().flatten() {
            entries.insert(
                format!("{name}::{}", value["name"].as_str().unwrap()),
                String::new(),
            );
        }
    }
    entries
}

#[tokio::test]
async fn every_name_in_the_node_schema_is_served_with_the_same_type() {
    let app = TestApp::spawn().await;
    let body = app.gql(INTROSPECTION, json!({})).await;
    let served = served_entries(&data(&body)["__schema"]);
    let mut problems = Vec::new();
    let mut checked = 0;
    for (entry, expected) in spec_entries() {
        checked += 1;
        match served.get(&entry) {
            None => problems.push(format!("missing: {entry} ({expected})")),
            Some(actual) if *actual != expected => {
                problems.push(format!("{entry}: spec {expected}, served {actual}"))
            }
            Some(_) => {}
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(checked > 300, "only {checked} entries compared");
}

#[tokio::test]
async fn additions_never_make_a_spec_argument_required() {
    // New arguments we add must be optional, or existing frontends' queries would break.
    let app = TestApp::spawn().await;
    let body = app.gql(INTROSPECTION, json!({})).await;
    let served = served_entries(&data(&body)["__schema"]);
    let spec = spec_entries();
    let extra_required: Vec<&String> = served
        .iter()
        .filter(|(entry, ty)| {
            entry.contains('(') && ty.ends_with('!') && !spec.contains_key(*entry)
        })
        .filter(|(entry, _)| spec.contains_key(entry.split('(').next().unwrap()))
        .map(|(entry, _)| entry)
        .collect();
    assert!(extra_required.is_empty(), "{extra_required:?}");
}
