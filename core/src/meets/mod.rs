//! Meets (hackathons, workshops, webinars, lectures) and registrations for them.

pub mod entity;
pub mod events;
pub mod registration;
pub mod service;
pub mod time;
