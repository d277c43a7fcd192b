//! Users: accounts, sessions (login/logout/register) and the public/private user views.

pub mod entity;
pub mod events;
pub mod service;
