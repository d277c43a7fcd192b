//! Authentication: password hashing, session tokens and the per-request session.

pub mod password;
pub mod session;
pub mod token;

pub use password::PasswordHasher;
pub use session::{CookieSettings, Session};
