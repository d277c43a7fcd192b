//! Database connections, migrations and database-level maintenance.

use std::time::Duration;

use crate::config::Config;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, Statement,
    TransactionTrait,
};

/// `column = ANY($1)` with the ids as one `uuid[]` parameter: a relation's statement then has one
/// text whatever the number of ids, so each connection prepares it once (an `IN ($1, …, $n)`
/// list is a new statement for every length).
///
/// One id is `column = $1`: PostgreSQL plans `ANY($1)` for ten elements, so beside the plan for
/// one its generic plan looks several times dearer, and it re-plans such a statement at every
/// execution (0.27 ms of planning for a 0.12 ms lookup: the session page's `registeredMeets`).
pub fn any_id<C: sea_orm::ColumnTrait>(column: C, ids: &[uuid::Uuid]) -> sea_orm::sea_query::Expr {
    use sea_orm::sea_query::{Expr, ExprTrait, extension::postgres::PgFunc};
    match ids {
        [id] => Expr::col(column.as_column_ref()).eq(*id),
        _ => Expr::col(column.as_column_ref()).eq(PgFunc::any(Expr::val(ids.to_vec()))),
    }
}

/// An arbitrary constant: every process migrating this database takes the same advisory lock.
const MIGRATION_LOCK_KEY: i64 = 0x6d69_6e74_6265_616e; // "mintbean"

/// What services take as their database: a connection or a transaction. Services that write
/// open their own transaction with `begin()`, which inside a caller's transaction is a savepoint,
/// so two use cases can share one transaction.
pub trait Db: ConnectionTrait + TransactionTrait {}

impl<T: ConnectionTrait + TransactionTrait> Db for T {}

/// Begins a transaction whose changes name `caller` as their actor in the events they cause
/// (the setting ends with the transaction).
pub async fn begin<D: Db>(
    db: &D,
    caller: &crate::auth::caller::Caller,
) -> crate::error::AppResult<<D as TransactionTrait>::Transaction> {
    let txn = db.begin().await?;
    engine::events::set_session(&txn, &caller.session_variables())
        .await
        .map_err(crate::error::AppError::from)?;
    Ok(txn)
}

/// Gives a soft-deleting entity (one with a `deleted` column) `Entity::live()`: its rows not
/// marked deleted. Call it inside the entity's module.
#[macro_export]
macro_rules! soft_deletes {
    () => {
        impl Entity {
            /// The rows not soft-deleted.
            pub fn live() -> sea_orm::Select<Entity> {
                use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
                <Entity as EntityTrait>::find().filter(Column::Deleted.eq(false))
            }
        }
    };
}

const STATEMENT_TIMEOUT_MARGIN: Duration = Duration::from_millis(250);

/// How a pool behaves; [`PoolSettings::server`] is what the GraphQL server uses.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a caller waits for a connection (also bounds opening one).
    pub acquire_timeout: Duration,
    /// PostgreSQL's `statement_timeout` on every connection of the pool.
    pub statement_timeout: Option<Duration>,
}

impl PoolSettings {
    pub fn new(max_connections: u32) -> Self {
        PoolSettings {
            max_connections,
            acquire_timeout: Duration::from_secs(10),
            statement_timeout: None,
        }
    }

    /// The server's pool: a request does not wait long for a connection, and its statements
    /// cannot outlive it (a timed-out request's SQL would otherwise keep running and hold its
    /// connection). The statement limit is a little longer than the request's, so that the
    /// request's own timeout answers first.
    pub fn server(config: &Config) -> Self {
        PoolSettings {
            max_connections: config.db_max_connections,
            acquire_timeout: config.db_acquire_timeout,
            statement_timeout: Some(config.request_timeout + STATEMENT_TIMEOUT_MARGIN),
        }
    }
}

pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, &PoolSettings::new(max_connections)).await
}

pub async fn connect_with(url: &str, settings: &PoolSettings) -> Result<DatabaseConnection, DbErr> {
    // Several hosts: the pool starts on the one that accepts writes and follows it
    // (`crate::failover`).
    let primary = primary_url(url, settings.acquire_timeout).await?;
    let db = open(&primary, settings).await?;
    if let Some(hosts) = crate::failover::split_hosts(url) {
        crate::failover::follow_primary(db.get_postgres_connection_pool().clone(), hosts, primary);
    }
    Ok(db)
}

/// `url`, or for a multi-host URL the URL of the host that accepts writes now.
pub async fn primary_url(url: &str, timeout: Duration) -> Result<String, DbErr> {
    match crate::failover::split_hosts(url) {
        Some(hosts) => crate::failover::find_primary(&hosts, timeout)
            .await
            .cloned()
            .ok_or_else(|| {
                DbErr::Conn(sea_orm::RuntimeErr::Internal(
                    "none of the DATABASE_URL hosts accepts writes".into(),
                ))
            }),
        None => Ok(url.to_owned()),
    }
}

async fn open(url: &str, settings: &PoolSettings) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(settings.max_connections)
        .min_connections(0)
        .connect_timeout(settings.acquire_timeout)
        .acquire_timeout(settings.acquire_timeout)
        .sqlx_logging(false)
        // A ping on every checkout is one more round trip per statement; only connections idle
        // long enough to have been dropped (by a restart, a proxy) are checked.
        .test_before_acquire_if_idle_for(Duration::from_secs(1))
        .set_application_name("mintbean")
        // The server probes idle client sockets and drops those that stopped answering (a host
        // cut off or gone), releasing their locks and connection slots within about a minute.
        // (sqlx 0.9 cannot turn on keepalive on the client's side; `engine::listen`'s heartbeat
        // and the worker's bounded heartbeat statement notice a silent server instead.)
        .map_sqlx_postgres_opts(|options| {
            options.options([
                ("tcp_keepalives_idle", "30"),
                ("tcp_keepalives_interval", "10"),
                ("tcp_keepalives_count", "3"),
            ])
        });
    if let Some(timeout) = settings.statement_timeout {
        options.statement_timeout(timeout);
    }
    Database::connect(options).await
}

/// Applies pending migrations. Serialised across processes with an advisory lock, so a server and
/// a jobs runner starting together cannot both run them.
pub async fn migrate(url: &str) -> Result<(), DbErr> {
    // One connection: the advisory lock belongs to the session that takes it.
    let primary = primary_url(url, Duration::from_secs(10)).await?;
    let db = open(&primary, &PoolSettings::new(1)).await?;
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "SELECT pg_advisory_lock($1)",
        [MIGRATION_LOCK_KEY.into()],
    ))
    .await?;
    let result = Migrator::up(&db, None).await;
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "SELECT pg_advisory_unlock($1)",
        [MIGRATION_LOCK_KEY.into()],
    ))
    .await?;
    db.close().await?;
    result
}

/// The database name in a PostgreSQL URL, and the same URL pointing at the `postgres`
/// maintenance database instead.
pub fn split_database_url(url: &str) -> Result<(String, String), DbErr> {
    let mut parsed = url::Url::parse(url)
        .map_err(|e| DbErr::Custom(format!("DATABASE_URL is not a valid URL: {e}")))?;
    let name = parsed.path().trim_start_matches('/').to_owned();
    if name.is_empty() || name.contains('/') {
        return Err(DbErr::Custom(
            "DATABASE_URL must name a database (…/mintbean)".into(),
        ));
    }
    parsed.set_path("/postgres");
    Ok((name, parsed.to_string()))
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Creates the database named in `url` if it does not exist.
pub async fn ensure_database(url: &str) -> Result<(), DbErr> {
    let (name, admin_url) = split_database_url(url)?;
    let admin = connect(&admin_url, 1).await?;
    let exists = admin
        .query_one_raw(Statement::from_sql_and_values(
            admin.get_database_backend(),
            "SELECT 1 AS one FROM pg_database WHERE datname = $1",
            [name.clone().into()],
        ))
        .await?
        .is_some();
    if !exists {
        admin
            .execute_unprepared(&format!("CREATE DATABASE {}", quote_ident(&name)))
            .await?;
        tracing::info!(database = %name, "created database");
    }
    admin.close().await
}

/// Drops and recreates the database named in `url`. Destroys all its data.
pub async fn recreate_database(url: &str) -> Result<(), DbErr> {
    let (name, admin_url) = split_database_url(url)?;
    let admin = connect(&admin_url, 1).await?;
    admin
        .execute_unprepared(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&name)
        ))
        .await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {}", quote_ident(&name)))
        .await?;
    admin.close().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_database_urls() {
        let (name, admin) =
            split_database_url("postgres://u:p@localhost:5432/mintbean?sslmode=disable").unwrap();
        assert_eq!(name, "mintbean");
        assert_eq!(
            admin,
            "postgres://u:p@localhost:5432/postgres?sslmode=disable"
        );
        assert!(split_database_url("postgres://localhost:5432").is_err());
    }
}
