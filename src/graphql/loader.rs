//! The per-request DataLoader. Each relation is a key type declared with [`loader!`], so every
//! relation field costs one batched query per request, whatever the list sizes.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex},
};

use async_graphql::dataloader::{DataLoader, HashMapCache};
use futures_util::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

pub struct DbLoader {
    pub db: DatabaseConnection,
    /// Batches started by this request, by key type: a key asked for again while its batch is
    /// still running waits for that batch instead of querying again. (The DataLoader's cache only
    /// knows finished results, so otherwise the number of statements would depend on timing.)
    in_flight: Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
}

type Batch<K, V> = Shared<BoxFuture<'static, Result<Arc<HashMap<K, V>>, LoadError>>>;

/// Keys that wrap one id.
pub trait IdKey {
    fn id(&self) -> Uuid;
}

pub fn ids<K: IdKey>(keys: &[K]) -> Vec<Uuid> {
    keys.iter().map(IdKey::id).collect()
}

impl DbLoader {
    /// Loads `keys` with `fetch`, running it only for keys no batch of this request is already
    /// fetching.
    pub async fn fetch_once<K, V, F, Fut>(
        &self,
        keys: &[K],
        fetch: F,
    ) -> Result<HashMap<K, V>, LoadError>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        F: FnOnce(DatabaseConnection, Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, V>, LoadError>> + Send + 'static,
    {
        let mut waits: Vec<Batch<K, V>> = Vec::new();
        {
            let mut registry = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            let batches = registry
                .entry(TypeId::of::<(K, V)>())
                .or_insert_with(|| Box::new(HashMap::<K, Batch<K, V>>::new()))
                .downcast_mut::<HashMap<K, Batch<K, V>>>()
                .expect("the registry entry of a key type holds that type's batches");
            let mut fresh = Vec::new();
            for key in keys {
                match batches.get(key) {
                    Some(batch) => {
                        if !waits.iter().any(|w| w.ptr_eq(batch)) {
                            waits.push(batch.clone());
                        }
                    }
                    None => fresh.push(key.clone()),
                }
            }
            if !fresh.is_empty() {
                let batch: Batch<K, V> = fetch(self.db.clone(), fresh.clone())
                    .map(|result| result.map(Arc::new))
                    .boxed()
                    .shared();
                for key in fresh {
                    batches.insert(key, batch.clone());
                }
                waits.push(batch);
            }
        }
        let mut found = HashMap::with_capacity(keys.len());
        for batch in waits {
            let values = batch.await?;
            for key in keys {
                if let Some(value) = values.get(key) {
                    found.insert(key.clone(), value.clone());
                }
            }
        }
        Ok(found)
    }
}

pub type Loaders = DataLoader<DbLoader, HashMapCache>;

/// Loader errors must be `Clone`: one failed batch answers many fields.
pub type LoadError = Arc<DbErr>;

/// Loaders only see database errors; anything else is a bug surfaced as one.
pub fn into_load_error(err: crate::error::AppError) -> LoadError {
    match err {
        crate::error::AppError::Database { source, .. } => Arc::new(source),
        other => Arc::new(DbErr::Custom(other.to_string())),
    }
}

/// Large enough that ordinary pages load in one batch; still bounds statement size.
const MAX_BATCH: usize = 5000;

pub fn loaders(db: DatabaseConnection) -> Loaders {
    let loader = DbLoader {
        db,
        in_flight: Mutex::new(HashMap::new()),
    };
    DataLoader::with_cache(loader, tokio::spawn, HashMapCache::default()).max_batch_size(MAX_BATCH)
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

        impl $crate::graphql::loader::IdKey for $name {
            fn id(&self) -> uuid::Uuid {
                self.0
            }
        }
    };
}

/// Declares a relation's loader key and its `Loader` impl, plus `Key::load(ctx, id)`:
///
/// - `loader!(/** doc */ MeetById: one Meet = service::find_many, |meet| meet.id);` loads records
///   by id with `find_many(db, &ids) -> AppResult<Vec<V>>`;
/// - `loader!(/** doc */ RegistrantsOfMeet: many User = service::list_registrants);` loads the
///   children of parents with `fetch(db, &parent_ids) -> AppResult<Vec<(parent_id, V)>>`, in
///   the order the service returns them, with an empty list for parents without any.
#[macro_export]
macro_rules! loader {
    ($(#[$meta:meta])* $key:ident: one $value:ty = $fetch:path, |$item:ident| $id:expr) => {
        $crate::relation_key!($(#[$meta])* $key);

        impl async_graphql::dataloader::Loader<$key> for $crate::graphql::loader::DbLoader {
            type Value = $value;
            type Error = $crate::graphql::loader::LoadError;

            async fn load(
                &self,
                keys: &[$key],
            ) -> Result<std::collections::HashMap<$key, $value>, Self::Error> {
                self.fetch_once(keys, |db, keys| async move {
                    let ids = $crate::graphql::loader::ids(&keys);
                    let found = $fetch(&db, &ids)
                        .await
                        .map_err($crate::graphql::loader::into_load_error)?;
                    Ok(found.into_iter().map(|$item| ($key($id), $item)).collect())
                })
                .await
            }
        }

        impl $key {
            pub async fn load(
                ctx: &async_graphql::Context<'_>,
                id: uuid::Uuid,
            ) -> $crate::error::AppResult<Option<$value>> {
                Ok($crate::graphql::context::loaders(ctx).load_one($key(id)).await?)
            }
        }
    };
    ($(#[$meta:meta])* $key:ident: many $value:ty = $fetch:path) => {
        $crate::relation_key!($(#[$meta])* $key);

        impl async_graphql::dataloader::Loader<$key> for $crate::graphql::loader::DbLoader {
            type Value = Vec<$value>;
            type Error = $crate::graphql::loader::LoadError;

            async fn load(
                &self,
                keys: &[$key],
            ) -> Result<std::collections::HashMap<$key, Vec<$value>>, Self::Error> {
                self.fetch_once(keys, |db, keys| async move {
                    let ids = $crate::graphql::loader::ids(&keys);
                    let rows = $fetch(&db, &ids)
                        .await
                        .map_err($crate::graphql::loader::into_load_error)?;
                    Ok($crate::graphql::loader::group_rows(
                        &keys,
                        rows.into_iter().map(|(parent, value)| ($key(parent), value)),
                    ))
                })
                .await
            }
        }

        impl $key {
            pub async fn load(
                ctx: &async_graphql::Context<'_>,
                id: uuid::Uuid,
            ) -> $crate::error::AppResult<Vec<$value>> {
                Ok($crate::graphql::context::loaders(ctx)
                    .load_one($key(id))
                    .await?
                    .unwrap_or_default())
            }
        }
    };
}
