//! Password hashing: argon2id for new hashes, bcrypt hashes from the Node backend still verify.
//!
//! Hashing is CPU-heavy, so it runs on the blocking pool behind a small semaphore: a burst of
//! logins can neither stall the async runtime nor exhaust memory (19 MiB per argon2 hash).

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::Semaphore;

use crate::error::{AppError, AppResult};

/// OWASP's argon2id recommendation: m=19 MiB, t=2, p=1.
const M_COST_KIB: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
/// Prefix of hashes made with the current parameters; anything else is re-hashed at login.
const CURRENT_PREFIX: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// A real hash of a random password: verifying against it when an email is unknown makes a
    /// failed login take as long as a wrong password does.
    decoy_hash: Arc<String>,
    /// `REHASH_LEGACY_PASSWORDS`: replace a bcrypt (Node) hash with argon2id at its next login.
    /// Off while a migration may still be rolled back: the Node backend reads only bcrypt.
    rehash_legacy: bool,
}

/// The result of checking a password against a stored hash.
#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    Invalid,
    Valid,
    /// Valid, but stored with an old algorithm or parameters: store a fresh hash.
    ValidNeedsRehash,
    /// Valid, a bcrypt hash of the Node backend, to be kept (`REHASH_LEGACY_PASSWORDS=false`).
    ValidLegacyKept,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).expect("static argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes on the current thread. For tools and tests; request paths use [`PasswordHasher::hash`].
pub fn hash_blocking(password: &str) -> AppResult<String> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| AppError::internal(format!("argon2 hashing failed: {e}")))
}

fn is_bcrypt(stored: &str) -> bool {
    stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$")
}

fn verify_blocking(password: &str, stored: &str) -> Verification {
    if is_bcrypt(stored) {
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verification::ValidNeedsRehash,
            _ => Verification::Invalid,
        };
    }
    match argon2().verify_password(password.as_bytes(), stored) {
        Ok(()) if stored.starts_with(CURRENT_PREFIX) => Verification::Valid,
        Ok(()) => Verification::ValidNeedsRehash,
        Err(_) => Verification::Invalid,
    }
}

impl PasswordHasher {
    pub fn new(concurrency: usize) -> Self {
        let decoy = hash_blocking(&uuid::Uuid::new_v4().to_string()).expect("decoy hash");
        PasswordHasher {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            decoy_hash: Arc::new(decoy),
            rehash_legacy: true,
        }
    }

    /// Whether bcrypt hashes are replaced at login (default) or kept.
    pub fn rehash_legacy(mut self, rehash: bool) -> Self {
        self.rehash_legacy = rehash;
        self
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> AppResult<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AppError::internal("password hasher closed"))?;
        // The blocking pool does not inherit the caller's span; carry it over.
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .await
            .map_err(|e| AppError::internal(format!("password hashing task failed: {e}")))
    }

    pub async fn hash(&self, password: &str) -> AppResult<String> {
        let password = password.to_owned();
        self.run_blocking(move || hash_blocking(&password)).await?
    }

    pub async fn verify(&self, password: &str, stored_hash: &str) -> AppResult<Verification> {
        let (password, stored) = (password.to_owned(), stored_hash.to_owned());
        let legacy = is_bcrypt(&stored);
        let verification = self
            .run_blocking(move || verify_blocking(&password, &stored))
            .await?;
        Ok(match verification {
            Verification::ValidNeedsRehash if legacy && !self.rehash_legacy => {
                Verification::ValidLegacyKept
            }
            other => other,
        })
    }

    /// Spends the same effort as a real verification, for unknown accounts.
    pub async fn verify_decoy(&self, password: &str) -> AppResult<()> {
        let decoy = self.decoy_hash.clone();
        let password = password.to_owned();
        self.run_blocking(move || {
            verify_blocking(&password, &decoy);
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn argon2id_round_trip_with_owasp_parameters() {
        let hasher = PasswordHasher::new(2);
        let hash = hasher.hash("correct horse").await.unwrap();
        assert!(hash.starts_with(CURRENT_PREFIX), "{hash}");
        assert_eq!(
            hasher.verify("correct horse", &hash).await.unwrap(),
            Verification::Valid
        );
        assert_eq!(
            hasher.verify("wrong horse", &hash).await.unwrap(),
            Verification::Invalid
        );
    }

    #[tokio::test]
    async fn node_bcrypt_hashes_verify_and_ask_for_rehash() {
        let hasher = PasswordHasher::new(2);
        // bcryptjs (as the Node backend used) writes $2a$ hashes.
        let legacy = bcrypt::hash_with_result("password", 4)
            .unwrap()
            .format_for_version(bcrypt::Version::TwoA);
        assert!(legacy.starts_with("$2a$"));
        assert_eq!(
            hasher.verify("password", &legacy).await.unwrap(),
            Verification::ValidNeedsRehash
        );
        assert_eq!(
            hasher.verify("nope", &legacy).await.unwrap(),
            Verification::Invalid
        );
        // Kept while a migration may be rolled back.
        let keeping = PasswordHasher::new(2).rehash_legacy(false);
        assert_eq!(
            keeping.verify("password", &legacy).await.unwrap(),
            Verification::ValidLegacyKept
        );
    }

    #[tokio::test]
    async fn garbage_hashes_are_invalid_not_errors() {
        let hasher = PasswordHasher::new(1);
        assert_eq!(
            hasher.verify("x", "not-a-hash").await.unwrap(),
            Verification::Invalid
        );
        assert_eq!(hasher.verify("x", "").await.unwrap(), Verification::Invalid);
    }
}
