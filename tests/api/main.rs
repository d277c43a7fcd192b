//! One integration-test binary (one link) with a module per domain. Every test talks to a real
//! server over HTTP, backed by its own PostgreSQL database.

mod badges;
mod dataloader;
mod helpers;
mod http;
mod kanban;
mod meets;
mod migrations;
mod posts;
mod projects;
mod schema;
mod seed;
mod server;
mod users;
