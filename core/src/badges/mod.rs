//! Badges and awarding them to projects.

pub mod badge_project;
pub mod entity;
pub mod events;
pub mod service;
