//! Posts: short texts written by users (read-only in the API).

pub mod entity;
pub mod service;
