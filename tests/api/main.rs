//! One integration-test binary (one link) with a module per domain. Every test talks to a real
//! server over HTTP, backed by its own PostgreSQL database.

mod answer_cache;
mod authorization;
mod badges;
mod connections;
mod dashboard;
mod dataloader;
mod email;
mod events;
mod helpers;
mod http;
mod job_admin;
mod job_updates;
mod jobs;
mod kanban;
mod kept_relations;
mod koalati;
mod link_checks;
mod login_limits;
mod meets;
mod migrations;
mod openapi;
mod parity;
mod posts;
mod projects;
mod schema;
mod security;
mod seed;
mod server;
mod session_cache;
#[path = "../support/smtp_sink.rs"]
mod smtp_sink;
mod tasks;
mod users;
#[path = "../support/webdriver.rs"]
mod webdriver;
mod webhooks;
mod worker;
