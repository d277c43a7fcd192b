//! Per-key counts of things held open (a user's WebSockets, subscriptions, a client address's
//! requests in flight), so one caller cannot take every slot: a permit is taken while under the
//! limit and given back when dropped.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

#[derive(Clone, Default)]
pub struct Quota {
    held: Arc<Mutex<HashMap<String, usize>>>,
}

/// One held unit of a key's quota, given back when dropped.
pub struct Permit {
    quota: Quota,
    key: String,
}

impl Quota {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A permit for `key`, unless it already holds `limit`.
    pub fn try_take(&self, key: &str, limit: usize) -> Option<Permit> {
        let mut held = self.held();
        let count = held.entry(key.to_owned()).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(Permit {
            quota: self.clone(),
            key: key.to_owned(),
        })
    }

    /// How many `key` holds.
    pub fn count(&self, key: &str) -> usize {
        self.held().get(key).copied().unwrap_or(0)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut held = self.quota.held();
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_counted_per_key_and_given_back_on_drop() {
        let quota = Quota::default();
        let a1 = quota.try_take("a", 2).unwrap();
        let _a2 = quota.try_take("a", 2).unwrap();
        assert!(quota.try_take("a", 2).is_none());
        assert!(quota.try_take("b", 2).is_some());
        drop(a1);
        assert_eq!(quota.count("a"), 1);
        assert!(quota.try_take("a", 2).is_some());
    }
}
