//! The task API's services: jobs offered to clients as tasks (create, get, search, cancel for a
//! [`principal::Principal`]), what admins do with jobs, API tokens, webhook endpoints, live
//! updates, and the dialects of the clients it absorbs (Koalati, AWSuper). Its surfaces are
//! `http::{tasks, koalati, openapi}` and `graphql::jobs`.

pub mod admin;
pub mod estimates;
pub mod koalati;
pub mod live;
pub mod principal;
pub mod search;
pub mod service;
pub mod tokens;
pub mod tools;
