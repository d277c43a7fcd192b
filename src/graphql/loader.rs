//! The per-request DataLoader. Each relation is a key type declared with [`loader!`], so every
//! relation field costs one batched query per request, whatever the list sizes.
//!
//! Resolvers that return objects also [`preload`] the relations their selection asks for, for all
//! of their objects at once: one statement per relation level whatever the timing (the
//! DataLoader's batches split when the server is busy), and no DataLoader delay (1 ms) on paths
//! with a single parent. The DataLoader's batching stays as the fallback for anything not
//! preloaded.
//!
//! A relation declared `kept` is also answered from memory across requests ([`KeptRelations`]):
//! only relations that are the same for every caller and read only tables that notify the
//! answer cache's channel, which empties them.

use std::{
    any::{Any, TypeId},
    collections::{HashMap, HashSet},
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex},
};

use async_graphql::{
    Context, Lookahead,
    dataloader::{DataLoader, HashMapCache, Loader},
};

use crate::cache::{Notified, NotifiedCache};
use futures_util::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use mintbean_core::error::AppResult;
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

pub struct DbLoader {
    pub db: DatabaseConnection,
    /// Batches started by this request, by key type: a key asked for again while its batch is
    /// still running waits for that batch instead of querying again. (The DataLoader's cache only
    /// knows finished results, so otherwise the number of statements would depend on timing.)
    in_flight: Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
    kept: KeptRelations,
}

/// The caches of `kept` relations, by key type; shared by every request of a server.
#[derive(Clone, Default)]
pub struct KeptRelations(Arc<HashMap<TypeId, KeptRelation>>);

/// One kept relation's cache, typed (for its loader) and as the listener empties it.
#[derive(Clone)]
pub struct KeptRelation {
    key: TypeId,
    cache: Arc<dyn Any + Send + Sync>,
    notified: Arc<dyn Notified>,
}

/// Values of a kept relation, by key.
type KeptValues<K> = NotifiedCache<K, DbLoaderValue<K>>;

impl KeptRelation {
    /// A cache for relation `K` of at most `budget` in weight (see [`DbLoader::fetch_kept`]).
    pub fn new<K>(budget: usize) -> Self
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        DbLoader: Loader<K>,
    {
        let cache = Arc::new(KeptValues::<K>::new(budget));
        KeptRelation {
            key: TypeId::of::<K>(),
            cache: cache.clone(),
            notified: cache,
        }
    }

    /// What the listener empties.
    pub fn notified(&self) -> Arc<dyn Notified> {
        self.notified.clone()
    }
}

impl KeptRelations {
    pub fn new(relations: impl IntoIterator<Item = KeptRelation>) -> Self {
        KeptRelations(Arc::new(
            relations.into_iter().map(|r| (r.key, r)).collect(),
        ))
    }

    fn cache<K>(&self) -> Option<Arc<KeptValues<K>>>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        DbLoader: Loader<K>,
    {
        let relation = self.0.get(&TypeId::of::<K>())?;
        relation.cache.clone().downcast().ok()
    }

    /// Forgets every kept value (after a mutation of this process, before its answer).
    pub fn invalidate(&self) {
        self.0.values().for_each(|r| r.notified.invalidate());
    }
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

    /// [`fetch_once`](Self::fetch_once) for a `kept` relation: keys kept in memory cost nothing;
    /// what is fetched is kept (weighed by `weigh`) unless the cache was emptied meanwhile. The
    /// generation is taken before the statement is sent, so a change whose notification arrives
    /// later keeps nothing, and one notified earlier is in the statement's snapshot.
    pub async fn fetch_kept<K, F, Fut>(
        &self,
        keys: &[K],
        weigh: fn(&DbLoaderValue<K>) -> usize,
        fetch: F,
    ) -> Result<HashMap<K, DbLoaderValue<K>>, LoadError>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        DbLoader: Loader<K>,
        F: FnOnce(DatabaseConnection, Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, DbLoaderValue<K>>, LoadError>> + Send + 'static,
    {
        let Some(kept) = self.kept.cache::<K>() else {
            return self.fetch_once(keys, fetch).await;
        };
        let mut found = HashMap::with_capacity(keys.len());
        let mut missing = Vec::new();
        for key in keys {
            match kept.lookup(key) {
                Some(value) => {
                    found.insert(key.clone(), value);
                }
                None => missing.push(key.clone()),
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let fetched = self
            .fetch_once(&missing, move |db, keys| {
                let started = kept.generation();
                let fetching = fetch(db, keys);
                async move {
                    let values = fetching.await?;
                    if let Some(started) = started {
                        for (key, value) in &values {
                            kept.store(started, key.clone(), value.clone(), weigh(value), None);
                        }
                    }
                    Ok(values)
                }
            })
            .await?;
        found.extend(fetched);
        Ok(found)
    }
}

pub type Loaders = DataLoader<DbLoader, HashMapCache>;

/// Loader errors must be `Clone`: one failed batch answers many fields.
pub type LoadError = Arc<DbErr>;

/// Loaders only see database errors; anything else is a bug surfaced as one.
pub fn into_load_error(err: mintbean_core::error::AppError) -> LoadError {
    match err {
        mintbean_core::error::AppError::Database { source, .. } => Arc::new(source),
        other => Arc::new(DbErr::Custom(other.to_string())),
    }
}

/// A loaded record whose relations can be preloaded: for each relation field the selection asks
/// for, the relation of all `records` is loaded in one statement and kept in the request's cache
/// (with the relations of what it found, recursively), where the field then finds it.
pub trait Preload: Sized + Sync {
    fn preload<'a>(
        _ctx: &'a Context<'_>,
        _selection: &'a Lookahead<'_>,
        _records: &'a [&'a Self],
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// Preloads the relations `ctx`'s field selects for the records it returns.
pub async fn preloaded<M: Preload>(ctx: &Context<'_>, records: &[M]) -> AppResult<()> {
    let records: Vec<&M> = records.iter().collect();
    M::preload(ctx, &ctx.look_ahead(), &records).await
}

/// Keys once each, in order.
fn distinct<K: Hash + Eq + Clone>(keys: impl IntoIterator<Item = K>) -> Vec<K> {
    let mut seen = HashSet::new();
    keys.into_iter()
        .filter(|key| seen.insert(key.clone()))
        .collect()
}

/// Loads relation `K` of `keys` when `selection` asks for any of `fields` (the fields answered
/// from it), preloads the relations of the found records for each of those fields, and keeps them
/// in the cache. (Loads of keys this request already loaded cost no statement: `fetch_once`.)
pub async fn preload_relation<K, M>(
    ctx: &Context<'_>,
    selection: &Lookahead<'_>,
    fields: &[&str],
    keys: Vec<K>,
    records_of: impl Fn(&DbLoaderValue<K>) -> &[M],
) -> AppResult<()>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    DbLoader: Loader<K, Error = LoadError>,
    M: Preload,
{
    let selected: Vec<Lookahead<'_>> = fields
        .iter()
        .map(|field| selection.field(field))
        .filter(Lookahead::exists)
        .collect();
    if keys.is_empty() || selected.is_empty() {
        return Ok(());
    }
    let loaders = loaders(ctx);
    let values = loaders.loader().load(&distinct(keys)).await?;
    let records: Vec<&M> = values.values().flat_map(&records_of).collect();
    for selection in &selected {
        M::preload(ctx, selection, &records).await?;
    }
    loaders.feed_many(values).await;
    Ok(())
}

pub type DbLoaderValue<K> = <DbLoader as Loader<K>>::Value;

/// Large enough that ordinary pages load in one batch; still bounds statement size.
const MAX_BATCH: usize = 5000;

/// A request's loaders (its DataLoader, with the server's kept relations).
pub fn request_loaders(db: DatabaseConnection, kept: KeptRelations) -> Loaders {
    let loader = DbLoader {
        db,
        in_flight: Mutex::new(HashMap::new()),
        kept,
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
///   the order the service returns them, with an empty list for parents without any;
/// - `loader!(/** doc */ RegisteredMeetsOfUser: many Meet = service::list_registered_meets, kept);`
///   also answers from memory across requests when the server keeps that relation
///   ([`KeptRelations`]; weighed by list length).
#[macro_export]
macro_rules! loader {
    (@preload $key:ident, $records_of:expr) => {
        impl $key {
            /// Preloads this relation of `ids` for `fields` (see `loader::Preload`).
            pub fn preload<'a>(
                ctx: &'a async_graphql::Context<'_>,
                selection: &'a async_graphql::Lookahead<'_>,
                fields: &'a [&'a str],
                ids: impl IntoIterator<Item = uuid::Uuid>,
            ) -> futures_util::future::BoxFuture<'a, ::mintbean_core::error::AppResult<()>> {
                let keys = ids.into_iter().map($key).collect();
                Box::pin($crate::graphql::loader::preload_relation(
                    ctx, selection, fields, keys, $records_of,
                ))
            }
        }
    };
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
            ) -> ::mintbean_core::error::AppResult<Option<$value>> {
                Ok($crate::graphql::loader::loaders(ctx).load_one($key(id)).await?)
            }
        }
        $crate::loader!(@preload $key, std::slice::from_ref::<$value>);
    };
    ($(#[$meta:meta])* $key:ident: many $value:ty = $fetch:path) => {
        $crate::loader!(@many $(#[$meta])* $key, $value, $fetch, |loader, keys, fetch| {
            loader.fetch_once(keys, fetch)
        });
    };
    ($(#[$meta:meta])* $key:ident: many $value:ty = $fetch:path, kept) => {
        $crate::loader!(@many $(#[$meta])* $key, $value, $fetch, |loader, keys, fetch| {
            loader.fetch_kept(keys, |list: &Vec<$value>| 1 + list.len(), fetch)
        });
    };
    (@many $(#[$meta:meta])* $key:ident, $value:ty, $fetch:path,
        |$loader:ident, $keys:ident, $fetcher:ident| $load:expr) => {
        $crate::relation_key!($(#[$meta])* $key);

        impl async_graphql::dataloader::Loader<$key> for $crate::graphql::loader::DbLoader {
            type Value = Vec<$value>;
            type Error = $crate::graphql::loader::LoadError;

            async fn load(
                &self,
                keys: &[$key],
            ) -> Result<std::collections::HashMap<$key, Vec<$value>>, Self::Error> {
                let $fetcher = |db: sea_orm::DatabaseConnection, keys: Vec<$key>| async move {
                    let ids = $crate::graphql::loader::ids(&keys);
                    let rows = $fetch(&db, &ids)
                        .await
                        .map_err($crate::graphql::loader::into_load_error)?;
                    Ok($crate::graphql::loader::group_rows(
                        &keys,
                        rows.into_iter().map(|(parent, value)| ($key(parent), value)),
                    ))
                };
                let ($loader, $keys) = (self, keys);
                $load.await
            }
        }

        impl $key {
            pub async fn load(
                ctx: &async_graphql::Context<'_>,
                id: uuid::Uuid,
            ) -> ::mintbean_core::error::AppResult<Vec<$value>> {
                Ok($crate::graphql::loader::loaders(ctx)
                    .load_one($key(id))
                    .await?
                    .unwrap_or_default())
            }
        }
        $crate::loader!(@preload $key, Vec::as_slice);
    };
}

pub fn loaders<'a>(ctx: &Context<'a>) -> &'a Loaders {
    ctx.data_unchecked::<Loaders>()
}
