//! mintbean: a Rust drop-in replacement for the Mintbean Platform V3 backend.
//!
//! The domains (users, posts, meets, projects, badges, kanban, email, events) are in the
//! `mintbean-core` crate; this crate holds what puts them in front of clients and runs them:
//!
//! - surfaces: `graphql` (the schema, one module per domain), `http` (the server, `/graphql`,
//!   the Hasura hook, the dashboard, metrics), `tasks` (the task API and its clients' dialects);
//! - `handlers`: what a worker does with each job kind;
//! - `app`: the composition root that builds the state, the job registry and the worker.

pub mod app;
pub mod cache;
pub mod cli;
pub mod graphql;
pub mod handlers;
pub mod http;
pub mod quota;
pub mod runtime;
pub mod state;
pub mod tasks;
pub mod telemetry;

pub use state::AppState;
