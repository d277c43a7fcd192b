//! mintbean: a Rust drop-in replacement for the Mintbean Platform V3 backend.
//!
//! Domains (users, posts, meets, projects, badges, kanban) each own their entities, services and
//! GraphQL resolvers; `http` and `graphql` only wire them together.

pub mod app;
pub mod auth;
pub mod badges;
pub mod cache;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod email;
pub mod error;
pub mod events;
pub mod graphql;
pub mod handlers;
pub mod http;
pub mod kanban;
pub mod meets;
pub mod posts;
pub mod projects;
pub mod runtime;
pub mod seed;
pub mod state;
pub mod tasks;
pub mod telemetry;
pub mod users;
pub mod validation;

pub use state::AppState;
