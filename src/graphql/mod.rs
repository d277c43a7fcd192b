//! The GraphQL schema: every domain contributes its Query/Mutation fragment.

pub mod context;
pub mod loader;
pub mod scalars;

use async_graphql::{EmptySubscription, MergedObject, Schema};

use crate::{
    badges::graphql::{BadgeMutation, BadgeQuery},
    email::graphql::EmailMutation,
    kanban::graphql::{KanbanMutation, KanbanQuery},
    meets::graphql::{MeetMutation, MeetQuery},
    posts::graphql::PostQuery,
    projects::graphql::{ProjectMutation, ProjectQuery},
    state::AppState,
    users::graphql::{UserMutation, UserQuery},
};

#[derive(MergedObject, Default)]
pub struct Query(
    UserQuery,
    PostQuery,
    MeetQuery,
    ProjectQuery,
    BadgeQuery,
    KanbanQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    UserMutation,
    MeetMutation,
    ProjectMutation,
    BadgeMutation,
    KanbanMutation,
    EmailMutation,
);

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

pub fn build_schema(state: AppState) -> AppSchema {
    let limits = state.config.graphql.clone();
    let mut builder = Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .data(state)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity);
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// The schema in SDL, for tooling and the schema-compatibility test.
pub fn sdl(state: AppState) -> String {
    build_schema(state).sdl()
}
