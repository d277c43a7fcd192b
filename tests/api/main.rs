//! One integration-test binary (one link) with a module per domain. Every test talks to a real
//! server over HTTP, backed by its own PostgreSQL database.

mod helpers;
mod users;
mod badges;
mod meets;
mod posts;
mod projects;
mod migrations;
mod dataloader;
mod http;
mod schema;
