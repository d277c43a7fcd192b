//! Projects and their media assets.

pub mod entity;
pub mod events;
pub mod jobs;
pub mod links;
pub mod media_asset;
pub mod project_media_asset;
pub mod service;
