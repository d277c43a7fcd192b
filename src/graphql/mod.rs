//! The GraphQL schema: every domain contributes its Query/Mutation fragment, in a module of its
//! own here (the GraphQL surface of the domain's services in `mintbean-core`: DTOs, inputs and
//! enums converted with `From`, loader keys; resolvers build the `Caller` and call the service).

pub mod badges;
pub mod budget;
pub mod context;
pub mod email;
pub mod error;
pub mod events;
pub mod jobs;
pub mod kanban;
pub mod limits;
pub mod loader;
pub mod meets;
pub mod nulls;
pub mod order;
pub mod posts;
pub mod projects;
pub mod scalars;
pub mod users;

use async_graphql::{MergedObject, Schema};

use self::{
    badges::{BadgeMutation, BadgeQuery},
    email::{EmailMutation, EmailQuery},
    events::{EventMutation, EventQuery},
    jobs::{JobMutation, JobQuery, JobSubscription},
    kanban::{KanbanMutation, KanbanQuery},
    meets::{MeetMutation, MeetQuery},
    posts::PostQuery,
    projects::{ProjectMutation, ProjectQuery},
    users::{UserMutation, UserQuery},
};
use crate::state::AppState;

#[derive(MergedObject, Default)]
pub struct Query(
    UserQuery,
    PostQuery,
    MeetQuery,
    ProjectQuery,
    BadgeQuery,
    KanbanQuery,
    JobQuery,
    EmailQuery,
    EventQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    UserMutation,
    MeetMutation,
    ProjectMutation,
    BadgeMutation,
    KanbanMutation,
    EmailMutation,
    JobMutation,
    EventMutation,
);

pub type AppSchema = Schema<Query, Mutation, JobSubscription>;

pub fn build_schema(state: AppState) -> AppSchema {
    let config = state.config.graphql.clone();
    // Depth, aliases and directives are checked by `limits::check` before execution (with the
    // Node backend's depth semantics); complexity is async-graphql's, with list fields weighted.
    let mut builder = Schema::build(Query::default(), Mutation::default(), JobSubscription)
        .data(state)
        .limit_complexity(config.limits.max_complexity)
        .extension(budget::AnswerBudget {
            limit: config.max_response_bytes,
        });
    if !config.introspection {
        builder = builder.disable_introspection();
    }
    if !config.suggestions {
        builder = builder.disable_suggestions();
    }
    if config.tracing {
        builder = builder.extension(async_graphql::extensions::Tracing);
    }
    builder.finish()
}

/// Most values a kept relation holds (keys plus list items) before it starts over.
const KEPT_RELATION_BUDGET: usize = 20_000;

/// The relations kept in memory across requests (`loader!(…, kept)`), emptied on the answer
/// cache's channel.
pub fn kept_relations() -> Vec<loader::KeptRelation> {
    vec![loader::KeptRelation::new::<meets::RegisteredMeetsOfUser>(
        KEPT_RELATION_BUDGET,
    )]
}

/// The schema in SDL, for tooling and the schema-compatibility test.
pub fn sdl(state: AppState) -> String {
    build_schema(state).sdl()
}

#[cfg(test)]
mod tests {
    use async_graphql::{
        OutputType,
        registry::{MetaType, Registry},
    };

    use super::{Mutation, Query};

    /// Every field returning a list must weigh its children by `limits::list_complexity`;
    /// otherwise one list costs as much as one object and nested lists slip under the limit.
    #[test]
    fn every_list_field_multiplies_its_complexity() {
        let mut registry = Registry::default();
        Query::create_type_info(&mut registry);
        Mutation::create_type_info(&mut registry);
        let mut unweighted = Vec::new();
        for (type_name, meta) in &registry.types {
            if type_name.starts_with("__") {
                continue;
            }
            if let MetaType::Object { fields, .. } = meta {
                for (field_name, field) in fields {
                    if field.ty.starts_with('[') && field.compute_complexity.is_none() {
                        unweighted.push(format!("{type_name}.{field_name}: {}", field.ty));
                    }
                }
            }
        }
        assert!(
            unweighted.is_empty(),
            "list fields without `#[graphql(complexity = \"list_complexity(child_complexity)\")]`: {unweighted:#?}"
        );
    }
}
