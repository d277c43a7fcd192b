//! The session cache: a verified token's user kept in memory, so a logged-in request costs no
//! statement for its session.
//!
//! Only live sessions are kept, by the token's SHA-256 (the token's signature and expiry are
//! checked on every request before the cache is asked). Whatever could end or change a session
//! empties the cache: `users` and `revoked_sessions` notify [`CHANNEL`] when a transaction that
//! changed them commits, from any process (migration `m20261201_000010_session_cache`), and this
//! process also empties it after every mutation it runs, before answering. So a logout through
//! this process holds for its next request; through another process, once the notification
//! arrives (typically well under a millisecond after the commit). While the listener is
//! disconnected the cache is bypassed. `SESSION_CACHE=false` turns it off.

use std::sync::Arc;

use crate::cache::{Generation, Notified, NotifiedCache};
use mintbean_core::users::entity::Model as User;

/// The channel `users` and `revoked_sessions` notify.
pub const CHANNEL: &str = "mintbean_sessions_changed";

/// Sessions kept at most (then the cache starts over).
const MAX_SESSIONS: usize = 10_000;

pub type TokenDigest = [u8; 32];

pub struct SessionCache {
    sessions: NotifiedCache<TokenDigest, User>,
}

impl Default for SessionCache {
    fn default() -> Self {
        SessionCache {
            sessions: NotifiedCache::new(MAX_SESSIONS),
        }
    }
}

impl SessionCache {
    /// The user of a live session, if kept.
    pub fn lookup(&self, token: &TokenDigest) -> Option<User> {
        self.sessions.lookup(token)
    }

    /// Taken before the session is looked up in the database.
    pub fn generation(&self) -> Option<Generation> {
        self.sessions.generation()
    }

    /// Keeps a live session found in the database, unless the cache was emptied meanwhile.
    pub fn store(&self, started: Generation, token: TokenDigest, user: User) {
        self.sessions.store(started, token, user, 1, None);
    }

    /// What the listener (`cache::start_listening`) empties on [`CHANNEL`].
    pub fn notified(self: &Arc<Self>) -> (&'static str, Arc<dyn Notified>) {
        (CHANNEL, self.clone())
    }
}

impl Notified for SessionCache {
    fn invalidate(&self) {
        self.sessions.invalidate();
    }

    fn set_listening(&self, listening: bool) {
        self.sessions.set_listening(listening);
    }
}
