//! In-memory caches kept exact by PostgreSQL notifications: the answer cache
//! (`http::answer_cache`) and the session cache (`auth::session_cache`).
//!
//! Tables whose changes matter carry a trigger that notifies a channel when a transaction that
//! changed them commits, whichever process made it; one listener per process empties the caches
//! of that channel on each notification. A value computed across an emptying is not kept (each
//! entry is stored with the generation its computation started in, checked under the lock the
//! emptying takes). While the listener is disconnected notifications may be missed, so the caches
//! are bypassed, and they start empty when it is back.

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::Hash,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use chrono::{DateTime, Utc};
use engine::listen::Heard;
use sea_orm::sqlx::PgPool;

struct Entry<V> {
    value: V,
    weight: usize,
    expires_at: Option<DateTime<Utc>>,
}

struct Entries<K, V> {
    map: HashMap<K, Entry<V>>,
    weight: usize,
}

impl<K, V> Default for Entries<K, V> {
    fn default() -> Self {
        Entries {
            map: HashMap::new(),
            weight: 0,
        }
    }
}

/// Values by key, emptied by notifications; at most `budget` in total weight (full, it starts
/// over empty: simpler than eviction, and a cache refills in one round of requests).
pub struct NotifiedCache<K, V> {
    budget: usize,
    entries: Mutex<Entries<K, V>>,
    /// Moves on at every emptying; a value computed across one is not kept.
    generation: AtomicU64,
    listening: AtomicBool,
}

/// Taken before a value is computed: the generation it started in.
#[derive(Clone, Copy, Debug)]
pub struct Generation(u64);

impl<K: Hash + Eq, V: Clone> NotifiedCache<K, V> {
    pub fn new(budget: usize) -> Self {
        NotifiedCache {
            budget,
            entries: Mutex::new(Entries::default()),
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<K, V>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kept value of `key`, unless it expired or the cache cannot be trusted now.
    pub fn lookup<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        if !self.listening.load(Ordering::SeqCst) {
            return None;
        }
        let entries = self.lock();
        let entry = entries.map.get(key)?;
        match entry.expires_at {
            Some(at) if at <= Utc::now() => None,
            _ => Some(entry.value.clone()),
        }
    }

    /// Taken before computing a value to keep; `None` while the cache cannot be trusted.
    pub fn generation(&self) -> Option<Generation> {
        self.listening
            .load(Ordering::SeqCst)
            .then(|| Generation(self.generation.load(Ordering::SeqCst)))
    }

    /// Keeps `value` unless the cache was emptied since `started` (checked under the lock
    /// emptying takes, so an emptying either comes first or removes this entry).
    pub fn store(
        &self,
        started: Generation,
        key: K,
        value: V,
        weight: usize,
        expires_at: Option<DateTime<Utc>>,
    ) {
        if weight > self.budget || expires_at.is_some_and(|at| at <= Utc::now()) {
            return;
        }
        let mut entries = self.lock();
        if !self.listening.load(Ordering::SeqCst)
            || self.generation.load(Ordering::SeqCst) != started.0
        {
            return;
        }
        if entries.weight + weight > self.budget {
            *entries = Entries::default();
        }
        entries.weight += weight;
        let entry = Entry {
            value,
            weight,
            expires_at,
        };
        if let Some(old) = entries.map.insert(key, entry) {
            entries.weight -= old.weight;
        }
    }
}

/// What the listener does to a cache.
pub trait Notified: Send + Sync {
    /// Forgets everything: something it was computed from changed.
    fn invalidate(&self);
    /// Whether notifications arrive; while not, the cache is bypassed.
    fn set_listening(&self, listening: bool);
}

impl<K: Hash + Eq + Send, V: Clone + Send> Notified for NotifiedCache<K, V> {
    fn invalidate(&self) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::SeqCst);
        *entries = Entries::default();
    }

    fn set_listening(&self, listening: bool) {
        let mut entries = self.lock();
        self.listening.store(listening, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        *entries = Entries::default();
    }
}

/// Listens on each channel for its caches until the process ends (`engine::listen`: a heartbeat
/// round trip every 0.5 s). While the connection is late or lost, the caches are bypassed; they
/// are trusted again, empty, once LISTEN is back in place on a live connection.
pub fn start_listening(pool: PgPool, caches: Vec<(&'static str, Arc<dyn Notified>)>) {
    if caches.is_empty() {
        return;
    }
    let mut channels: Vec<String> = caches.iter().map(|(c, _)| (*c).to_owned()).collect();
    channels.sort_unstable();
    channels.dedup();
    tokio::spawn(engine::listen::listen(
        pool,
        "caches",
        channels,
        move |heard| match heard {
            Heard::Listening => caches.iter().for_each(|(_, c)| c.set_listening(true)),
            Heard::Lost => caches.iter().for_each(|(_, c)| c.set_listening(false)),
            Heard::Notification { channel, .. } => caches
                .iter()
                .filter(|(c, _)| *c == channel)
                .for_each(|(_, cache)| cache.invalidate()),
        },
        std::future::pending(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_value_computed_across_an_invalidation_is_not_kept() {
        let cache = NotifiedCache::<&str, u32>::new(10);
        assert!(cache.generation().is_none(), "not trusted before listening");
        cache.set_listening(true);
        let started = cache.generation().unwrap();
        cache.invalidate();
        cache.store(started, "k", 1, 1, None);
        assert!(cache.lookup(&"k").is_none());
        cache.store(cache.generation().unwrap(), "k", 2, 1, None);
        assert_eq!(cache.lookup(&"k"), Some(2));
        cache.set_listening(false);
        assert!(cache.lookup(&"k").is_none());
        assert!(cache.generation().is_none());
    }

    #[test]
    fn values_expire_and_a_full_cache_starts_over() {
        let cache = NotifiedCache::<u32, u32>::new(3);
        cache.set_listening(true);
        let soon = Utc::now() + chrono::Duration::milliseconds(50);
        cache.store(cache.generation().unwrap(), 1, 1, 1, Some(soon));
        assert_eq!(cache.lookup(&1), Some(1));
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.lookup(&1).is_none());
        for key in 2..=4 {
            cache.store(cache.generation().unwrap(), key, key, 1, None);
        }
        assert!(cache.lookup(&2).is_none(), "emptied when full");
        assert_eq!(cache.lookup(&4), Some(4));
        cache.store(cache.generation().unwrap(), 9, 9, 4, None);
        assert!(cache.lookup(&9).is_none(), "heavier than the budget");
    }
}
