//! Password hashing: argon2id for new hashes, bcrypt hashes from the Node backend still verify.
//!
//! Hashing is CPU-heavy, so it runs on the blocking pool behind a small semaphore: a burst of
//! logins can neither stall the async runtime nor exhaust memory (19 MiB per argon2 hash).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::{
        self,
        phc::{Output, ParamsString, Salt},
    },
};
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

fn current_params() -> Params {
    Params::new(M_COST_KIB, T_COST, P_COST, None).expect("static argon2 params")
}

/// argon2's working memory, kept for the next hash: allocated afresh, its 19 MiB cost each hash
/// a third more time in page faults (jemalloc hands blocks that large back to the system at
/// once). At most one per core is kept; every block is written before it is read, so reuse
/// needs no clearing.
static SPARE_MEMORY: Mutex<Vec<BlockSet>> = Mutex::new(Vec::new());

const HUGE_PAGE: usize = 2 << 20;

/// argon2's working memory: `len` blocks from the first 2 MiB boundary of `buffer`, advised onto
/// transparent huge pages (Linux in `madvise` mode): argon2 reads its 19 MiB at random, and on
/// 4 KiB pages the TLB misses cost about a seventh of the hashing rate (two threads, argon2 0.6
/// alone: 50 → 57 hashes/s). jemalloc's large allocations are not even page-aligned, hence the
/// slack of one huge page.
struct BlockSet {
    buffer: Vec<Block>,
    start: usize,
    /// The huge-page range advised: `(address, bytes)`.
    advised: (usize, usize),
}

impl BlockSet {
    fn new(len: usize) -> Self {
        let block = std::mem::size_of::<Block>();
        let mut buffer: Vec<Block> = Vec::with_capacity(len + HUGE_PAGE / block);
        let address = buffer.as_ptr() as usize;
        let boundary = address.next_multiple_of(HUGE_PAGE);
        let advised = (boundary, len * block);
        advise(advised, Advice::HugePages);
        let start = (boundary - address).div_ceil(block);
        // Written after the advice: pages touched before it would stay 4 KiB ones.
        buffer.resize(start + len, Block::default());
        BlockSet {
            buffer,
            start,
            advised,
        }
    }

    fn len(&self) -> usize {
        self.buffer.len() - self.start
    }

    fn blocks(&mut self) -> &mut [Block] {
        &mut self.buffer[self.start..]
    }
}

impl Drop for BlockSet {
    fn drop(&mut self) {
        // Back to the system at once: jemalloc would purge the freed pages only at its next
        // activity, which an idle server may not have for hours.
        advise(self.advised, Advice::Release);
    }
}

enum Advice {
    HugePages,
    Release,
}

#[cfg(target_os = "linux")]
fn advise((address, bytes): (usize, usize), advice: Advice) {
    let advice = match advice {
        Advice::HugePages => libc::MADV_HUGEPAGE,
        Advice::Release => libc::MADV_DONTNEED,
    };
    // SAFETY: advice about a page-aligned range inside a block set's own allocation. Huge pages
    // are asked for before anything is written and change how pages are backed, never what
    // they hold; release comes just before the allocation is freed, and only zero-fills what
    // no one reads again (all-zero blocks are valid blocks). A refusal changes nothing.
    unsafe {
        libc::madvise(address as *mut libc::c_void, bytes, advice);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_range: (usize, usize), _advice: Advice) {}

/// Hashes computed so far, and whether a task waits to release the kept memory once they stop.
static HASHES: AtomicU64 = AtomicU64::new(0);
static RELEASE_PENDING: AtomicBool = AtomicBool::new(false);
/// How long without a hash before the kept memory goes back to the system.
const KEEP_MEMORY_FOR: Duration = Duration::from_secs(10);

fn release_spare_memory() {
    if let Ok(mut spare) = SPARE_MEMORY.lock() {
        spare.clear();
    }
}

/// Releases the kept memory after [`KEEP_MEMORY_FOR`] without a hash (one task at a time).
fn release_memory_when_idle() {
    if RELEASE_PENDING.swap(true, Ordering::SeqCst) {
        return;
    }
    tokio::spawn(async {
        loop {
            let seen = HASHES.load(Ordering::SeqCst);
            tokio::time::sleep(KEEP_MEMORY_FOR).await;
            if HASHES.load(Ordering::SeqCst) == seen {
                release_spare_memory();
                RELEASE_PENDING.store(false, Ordering::SeqCst);
                return;
            }
        }
    });
}

fn with_memory<T>(blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
    HASHES.fetch_add(1, Ordering::SeqCst);
    // Only a block set of this size: an old hash's parameters must not throw away a kept one.
    let spare = SPARE_MEMORY.lock().ok().and_then(|mut spare| {
        let fitting = spare.iter().position(|memory| memory.len() == blocks)?;
        Some(spare.swap_remove(fitting))
    });
    let mut memory = spare.unwrap_or_else(|| BlockSet::new(blocks));
    let result = work(memory.blocks());
    if let Ok(mut spare) = SPARE_MEMORY.lock() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if spare.len() < cores {
            spare.push(memory);
        }
    }
    result
}

/// The argon2 output of `password` with `salt` under `params`, `len` bytes.
fn argon2_output(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    len: usize,
) -> Result<Output, password_hash::Error> {
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; len];
    with_memory(blocks, |memory| {
        argon2.hash_password_into_with_memory(password, salt, &mut out, memory)
    })?;
    Ok(Output::new(&out)?)
}

/// Hashes on the current thread. For tools and tests; request paths use [`PasswordHasher::hash`].
pub fn hash_blocking(password: &str) -> AppResult<String> {
    let hashed = || -> Result<String, password_hash::Error> {
        let params = current_params();
        let salt = password_hash::generate_salt();
        let output = argon2_output(
            Algorithm::Argon2id,
            Version::V0x13,
            params.clone(),
            password.as_bytes(),
            &salt,
            Params::DEFAULT_OUTPUT_LEN,
        )?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params)?,
            salt: Some(Salt::new(&salt)?),
            hash: Some(output),
        };
        Ok(hash.to_string())
    };
    hashed().map_err(|e| AppError::internal(format!("argon2 hashing failed: {e}")))
}

/// Whether `password` matches an argon2 PHC string, whatever its parameters.
fn argon2_matches(password: &[u8], stored: &str) -> Result<bool, password_hash::Error> {
    let hash = PasswordHash::new(stored)?;
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Ok(false);
    };
    let algorithm = Algorithm::try_from(hash.algorithm.as_str())?;
    let version = hash.version.map(Version::try_from).transpose()?;
    let params = Params::try_from(&hash)?;
    let output = argon2_output(
        algorithm,
        version.unwrap_or_default(),
        params,
        password,
        salt.as_ref(),
        expected.len(),
    )?;
    // `Output` compares in constant time.
    Ok(&output == expected)
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
    match argon2_matches(password.as_bytes(), stored) {
        Ok(true) if stored.starts_with(CURRENT_PREFIX) => Verification::Valid,
        Ok(true) => Verification::ValidNeedsRehash,
        Ok(false) | Err(_) => Verification::Invalid,
    }
}

impl PasswordHasher {
    pub fn new(concurrency: usize) -> Self {
        let decoy = hash_blocking(&uuid::Uuid::new_v4().to_string()).expect("decoy hash");
        release_spare_memory();
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
        let done = tokio::task::spawn_blocking(move || span.in_scope(work))
            .await
            .map_err(|e| AppError::internal(format!("password hashing task failed: {e}")));
        release_memory_when_idle();
        done
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

    #[test]
    fn a_block_set_starts_at_a_huge_page_boundary() {
        let len = current_params().block_count();
        let mut set = BlockSet::new(len);
        assert_eq!(set.len(), len);
        let blocks = set.blocks();
        assert_eq!(blocks.len(), len);
        let offset = (blocks.as_ptr() as usize) % HUGE_PAGE;
        assert!(offset < std::mem::size_of::<Block>(), "{offset}");
    }

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

    /// Our hashing on reused memory agrees with the argon2 crate's own, both ways, for the
    /// current parameters and for older ones (which ask for a rehash).
    #[test]
    fn hashes_agree_with_the_argon2_crate() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let ours = hash_blocking("correct horse").unwrap();
        let crate_argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, current_params());
        assert!(
            crate_argon2
                .verify_password(b"correct horse", ours.as_str())
                .is_ok()
        );
        assert!(
            crate_argon2
                .verify_password(b"wrong", ours.as_str())
                .is_err()
        );
        let theirs = crate_argon2.hash_password(b"battery").unwrap().to_string();
        assert_eq!(verify_blocking("battery", &theirs), Verification::Valid);
        assert_eq!(verify_blocking("staple", &theirs), Verification::Invalid);
        for (algorithm, params) in [
            (
                Algorithm::Argon2id,
                Params::new(4096, 3, 1, Some(24)).unwrap(),
            ),
            (Algorithm::Argon2i, Params::new(8192, 2, 2, None).unwrap()),
        ] {
            let older = Argon2::new(algorithm, Version::V0x13, params)
                .hash_password(b"staple")
                .unwrap()
                .to_string();
            assert_eq!(
                verify_blocking("staple", &older),
                Verification::ValidNeedsRehash
            );
            assert_eq!(verify_blocking("stapler", &older), Verification::Invalid);
        }
        // Twice more on the kept memory: still right.
        assert_eq!(verify_blocking("correct horse", &ours), Verification::Valid);
        assert_eq!(verify_blocking("battery", &theirs), Verification::Valid);
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
