//! Email: the `scheduledEmails` queue, what puts emails on it, and the drainer that sends them
//! (templates, calendar invites, SMTP) exactly once per recipient.

pub mod admin;
pub mod contact;
pub mod contact_message;
pub mod delivery;
pub mod drain;
pub mod enqueue;
pub mod ics;
pub mod jobs;
pub mod message;
pub mod notifications;
pub mod schedule;
pub mod scheduled_email;
pub mod templates;
pub mod transport;
