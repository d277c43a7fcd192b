//! Authentication: password hashing, session tokens and the per-request session.

pub mod caller;
pub mod password;
pub mod revocation;
pub mod session;
pub mod session_cache;
pub mod throttle;
pub mod token;

pub use caller::Caller;
pub use password::PasswordHasher;
pub use session::{CookieSettings, Session};
