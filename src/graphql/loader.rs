//! The per-request DataLoader. Each domain implements `Loader<Key>` for `DbLoader` with its own key
//! types, so every relation field costs one batched query per request, whatever the list sizes.

use std::{collections::HashMap, hash::Hash, sync::Arc};

use async_graphql::dataloader::{DataLoader, HashMapCache};
use sea_orm::{DatabaseConnection, DbErr};

pub struct DbLoader {
    pub db: DatabaseConnection,
}

pub type Loaders = DataLoader<DbLoader, HashMapCache>;

/// Loader errors must be `Clone`: one failed batch answers many fields.
pub type LoadError = Arc<DbErr>;

/// Loaders only see database errors; anything else is a bug surfaced as one.
pub fn into_load_error(err: crate::error::AppError) -> LoadError {
    match err {
        crate::error::AppError::Database(db) => Arc::new(db),
        other => Arc::new(DbErr::Custom(other.to_string())),
    }
}

/// Large enough that ordinary pages load in one batch; still bounds statement size.
const MAX_BATCH: usize = 5000;

pub fn loaders(db: DatabaseConnection) -> Loaders {
    DataLoader::with_cache(DbLoader { db }, tokio::spawn, HashMapCache::default())
        .max_batch_size(MAX_BATCH)
}

/// Groups `(key, value)` rows into lists, keeping row order, with an empty list for every
/// requested key that has no rows.
pub fn group_rows<K, V>(keys: &[K], rows: impl IntoIterator<Item = (K, V)>) -> HashMap<K, Vec<V>>
where
    K: Hash + Eq + Clone,
{
    let mut grouped: HashMap<K, Vec<V>> = keys.iter().map(|k| (k.clone(), Vec::new())).collect();
    for (key, value) in rows {
        grouped.entry(key).or_default().push(value);
    }
    grouped
}

/// Declares a newtype key for one relation of a loader, e.g. `relation_key!(RegistrantsOfMeet)`.
#[macro_export]
macro_rules! relation_key {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name(pub uuid::Uuid);
    };
}
