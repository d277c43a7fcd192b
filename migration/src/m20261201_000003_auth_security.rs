//! Tables for session safety:
//!
//! * `login_attempts`: one row per login attempt and scope (`account` = the normalised email,
//!   whether or not an account has it; `client` = the caller's address). A row is written before
//!   the password is checked and removed again when the login succeeds, so concurrent guesses
//!   count against the limit at once; rows older than the window are pruned.
//! * `revoked_sessions`: session tokens ended by `logout` (by SHA-256 of the token), kept until
//!   the token would have expired anyway. Tokens issued by the Node backend stay valid until they
//!   are revoked here or expire.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    r#"CREATE TABLE login_attempts (
        id bigserial PRIMARY KEY,
        scope text NOT NULL CHECK (scope IN ('account', 'client')),
        key text NOT NULL,
        attempted_at timestamptz NOT NULL DEFAULT now()
    )"#,
    "CREATE INDEX login_attempts_scope_key_idx ON login_attempts (scope, key, attempted_at)",
    "CREATE INDEX login_attempts_attempted_at_idx ON login_attempts (attempted_at)",
    r#"CREATE TABLE revoked_sessions (
        token_sha256 bytea PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz NOT NULL DEFAULT now()
    )"#,
    "CREATE INDEX revoked_sessions_expires_at_idx ON revoked_sessions (expires_at)",
    "CREATE INDEX revoked_sessions_user_id_idx ON revoked_sessions (user_id)",
];

const DOWN: &[&str] = &[
    "DROP TABLE IF EXISTS revoked_sessions",
    "DROP TABLE IF EXISTS login_attempts",
];

sql_migration!();
