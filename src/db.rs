//! Database connections, migrations and database-level maintenance.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, Statement};

/// An arbitrary constant: every process migrating this database takes the same advisory lock.
const MIGRATION_LOCK_KEY: i64 = 0x6d69_6e74_6265_616e; // "mintbean"

pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .set_application_name("mintbean");
    Database::connect(options).await
}

/// Applies pending migrations. Serialised across processes with an advisory lock, so a server and
/// a jobs runner starting together cannot both run them.
pub async fn migrate(url: &str) -> Result<(), DbErr> {
    // One connection: the advisory lock belongs to the session that takes it.
    let db = connect(url, 1).await?;
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
