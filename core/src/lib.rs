//! mintbean-core: Mintbean's domains, without any transport. Each domain (users, posts, meets,
//! projects, badges, kanban, email) owns its entities, its services (rules, data access,
//! transactions, authorization through [`auth::Caller`]), the arguments of the jobs it
//! enqueues and the detectors of the events its changes cause. The GraphQL and HTTP surfaces,
//! the job handlers and the wiring are in the `mintbean` crate, which depends on this one; this
//! crate depends on neither axum nor async-graphql.

pub mod auth;
pub mod badges;
pub mod config;
pub mod db;
pub mod email;
pub mod error;
pub mod events;
pub mod failover;
pub mod kanban;
pub mod meets;
pub mod posts;
pub mod projects;
pub mod seed;
pub mod users;
pub mod validation;
