//! The job engine's outside surfaces for Mintbean: the REST task API (`/tasks`), the
//! Koalati-compatible API (`/tools/request`, `/status/*`), API tokens, webhook endpoints, and
//! the admin GraphQL for jobs with live progress.

pub mod admin;
pub mod cli;
pub mod graphql;
pub mod http;
pub mod koalati;
pub mod live;
pub mod openapi;
pub mod principal;
pub mod service;
pub mod tokens;
pub mod tools;
