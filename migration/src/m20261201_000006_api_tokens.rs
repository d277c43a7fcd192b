//! API tokens for the HTTP task API: stored as SHA-256 of the token (the token itself is shown
//! once), with scopes, an optional expiry and revocation.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[r#"CREATE TABLE api_tokens (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        -- The token's first characters, to recognise it in a list.
        prefix text NOT NULL,
        token_sha256 bytea NOT NULL UNIQUE,
        -- `kind:action`, kind `*` for every kind; actions create, read, cancel, admin.
        scopes text[] NOT NULL,
        created_by text,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz,
        revoked_at timestamptz,
        last_used_at timestamptz
    )"#];

const DOWN: &[&str] = &["DROP TABLE IF EXISTS api_tokens"];

sql_migration!();
