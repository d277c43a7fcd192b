//! Projects and their media assets.

pub mod entity;
pub mod graphql;
pub mod media_asset;
pub mod project_media_asset;
pub mod service;
