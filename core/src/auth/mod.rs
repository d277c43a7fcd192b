//! Authentication: who a caller is, password hashing, session tokens, their revocation, and
//! failed-login limits. (The cookie that carries a token is the HTTP surface's: `http::session`
//! in the server crate.)

pub mod caller;
pub mod password;
pub mod revocation;
pub mod throttle;
pub mod token;

pub use caller::Caller;
pub use password::PasswordHasher;
