//! The session cache's invalidations (`mintbean::auth::session_cache`): a transaction that
//! changes `users` (an account's name, admin flag, deletion) or `revoked_sessions` (a logout)
//! notifies `mintbean_sessions_changed` when it commits, whichever process made it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    // One notification per transaction however many statements: PostgreSQL folds equal ones.
    r#"CREATE FUNCTION mintbean_sessions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('mintbean_sessions_changed', '');
            RETURN NULL;
        END $$"#,
    "CREATE TRIGGER sessions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
        FOR EACH STATEMENT EXECUTE FUNCTION mintbean_sessions_changed()",
    "CREATE TRIGGER sessions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON revoked_sessions
        FOR EACH STATEMENT EXECUTE FUNCTION mintbean_sessions_changed()",
];

const DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS sessions_changed ON revoked_sessions",
    "DROP TRIGGER IF EXISTS sessions_changed ON users",
    "DROP FUNCTION IF EXISTS mintbean_sessions_changed()",
];

sql_migration!();
