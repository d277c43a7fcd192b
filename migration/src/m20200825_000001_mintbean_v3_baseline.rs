//! The Mintbean V3 schema (shared/spec/db-schema.md), written as plain SQL so that names, types,
//! defaults and constraints match the Node backend's database exactly.
//!
//! Every statement is `IF NOT EXISTS`: on a database that the Node backend created, the tables are
//! already there and nothing is rewritten; only the foreign-key indexes it lacked are added.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const CARD_POSITIONS_DEFAULT: &str = r#"'{"todo":[],"wip":[],"done":[]}'::jsonb"#;

fn tables() -> Vec<String> {
    let audit = r#""createdAt" timestamptz NOT NULL DEFAULT now(),
        "updatedAt" timestamptz NOT NULL DEFAULT now()"#;
    let id = "id uuid PRIMARY KEY DEFAULT uuid_generate_v4()";
    let deleted = "deleted boolean NOT NULL DEFAULT false";
    vec![
        format!(
            r#"CREATE TABLE IF NOT EXISTS users (
        {id},
        email text NOT NULL UNIQUE,
        "firstName" text NOT NULL,
        "lastName" text NOT NULL,
        "passwordHash" text NOT NULL,
        "isAdmin" boolean NOT NULL DEFAULT false,
        {audit},
        {deleted}
    )"#
        ),
        format!(
            r#"CREATE TABLE IF NOT EXISTS posts (
        {id},
        "userId" uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        body text NOT NULL,
        {audit}
    )"#
        ),
        format!(
            r#"CREATE TABLE IF NOT EXISTS "kanbanCanons" (
        {id},
        title text NOT NULL,
        description text NOT NULL,
        "cardPositions" jsonb DEFAULT {CARD_POSITIONS_DEFAULT},
        {audit}
    )"#
        ),
        format!(
            r#"CREATE TABLE IF NOT EXISTS meets (
        {id},
        "meetType" text NOT NULL DEFAULT 'HACKATHON',
        title text NOT NULL,
        description text NOT NULL,
        instructions text NOT NULL,
        "detailedDescription" text,
        "registerLink" text,
        "coverImageUrl" text NOT NULL,
        "startTime" timestamptz NOT NULL,
        "endTime" timestamptz NOT NULL,
        region text NOT NULL DEFAULT 'America/Toronto',
        "kanbanCanonId" uuid REFERENCES "kanbanCanons"(id) ON DELETE SET NULL,
        {audit},
        {deleted}
    )"#
        ),
        format!(
            r#"CREATE TABLE IF NOT EXISTS projects (
        {id},
        "userId" uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        "meetId" uuid REFERENCES meets(id) ON DELETE SET NULL,
        title text NOT NULL,
        "sourceCodeUrl" text NOT NULL,
        "liveUrl" text NOT NULL,
        {audit},
        {deleted}
    )"#
        ),
        format!(
            r#"CREATE TABLE IF NOT EXISTS "mediaAssets" (
        {id},
        "userId" uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        "cloudinaryPublicId" text NOT NULL,
        index integer DEFAULT 0,
        {audit},
        {deleted}
    )"#
        ),
        format!(
            r#"CREATE TABLE IF NOT EXISTS "projectMediaAssets" (
        {id},
        "projectId" uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        "mediaAssetId" uuid NOT NULL REFERENCES "mediaAssets"(id) ON DELETE CASCADE,
        {audit},
        {deleted}
    )"#
        ),
        format!(
            r#"CREATE TABLE IF NOT EXISTS "meetRegistrations" (
        {id},
        "userId" uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        "meetId" uuid NOT NULL REFERENCES meets(id) ON DELETE CASCADE,
        {audit},
        {deleted},
        UNIQUE ("userId", "meetId")
    )"#
        ),
        format!(
            r#"CREATE TABLE IF NOT EXISTS "kanbanCanonCards" (
        {id},
        "kanbanCanonId" uuid NOT NULL REFERENCES "kanbanCanons"(id) ON DELETE CASCADE,
        title text NOT NULL,
        body text NOT NULL,
        status text NOT NULL DEFAULT 'TODO',
        {audit},
        {deleted},
        UNIQUE ("kanbanCanonId", id)
    )"#
        ),
        format!(
            r#"CREATE TABLE IF NOT EXISTS "kanbanSessions" (
        {id},
        "kanbanCanonId" uuid NOT NULL REFERENCES "kanbanCanons"(id) ON DELETE CASCADE,
        "userId" uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        "meetId" uuid REFERENCES meets(id) ON DELETE SET NULL,
        "cardPositions" jsonb DEFAULT {CARD_POSITIONS_DEFAULT},
        {audit},
        {deleted},
        UNIQUE ("kanbanCanonId", "userId", "meetId")
    )"#
        ),
        format!(
            r#"CREATE TABLE IF NOT EXISTS badges (
        {id},
        alias text NOT NULL UNIQUE,
        "badgeShape" text NOT NULL,
        "faIcon" varchar(255) NOT NULL,
        "backgroundHex" varchar(6) DEFAULT '000000',
        "iconHex" varchar(6) DEFAULT 'ffffff',
        title text NOT NULL,
        description text NOT NULL DEFAULT 'No description provided.',
        weight integer NOT NULL DEFAULT 0,
        {audit},
        {deleted}
    )"#
        ),
        format!(
            r#"CREATE TABLE IF NOT EXISTS "badgesProjects" (
        {id},
        "projectId" uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        "badgeId" uuid NOT NULL REFERENCES badges(id) ON DELETE CASCADE,
        {audit},
        UNIQUE ("projectId", "badgeId")
    )"#
        ),
        format!(
            r#"CREATE TABLE IF NOT EXISTS "scheduledEmails" (
        {id},
        "templateName" text NOT NULL,
        "userRecipientId" uuid REFERENCES users(id) ON DELETE CASCADE,
        "meetRecipientId" uuid REFERENCES meets(id) ON DELETE CASCADE,
        "meetId" uuid REFERENCES meets(id) ON DELETE CASCADE,
        "sendAt" timestamptz NOT NULL DEFAULT now(),
        "retriesLeft" integer NOT NULL DEFAULT 3,
        {audit}
    )"#
        ),
    ]
}

/// One index per foreign-key column that no unique constraint already leads with.
/// (`meetRegistrations.userId`, `kanbanCanonCards.kanbanCanonId`, `kanbanSessions.kanbanCanonId`
/// and `badgesProjects.projectId` are covered by the leading column of their UNIQUE constraint.)
const FOREIGN_KEY_INDEXES: &[(&str, &str, &str)] = &[
    ("posts_user_id_idx", "posts", "userId"),
    ("meets_kanban_canon_id_idx", "meets", "kanbanCanonId"),
    ("projects_user_id_idx", "projects", "userId"),
    ("projects_meet_id_idx", "projects", "meetId"),
    ("media_assets_user_id_idx", "mediaAssets", "userId"),
    (
        "project_media_assets_project_id_idx",
        "projectMediaAssets",
        "projectId",
    ),
    (
        "project_media_assets_media_asset_id_idx",
        "projectMediaAssets",
        "mediaAssetId",
    ),
    (
        "meet_registrations_meet_id_idx",
        "meetRegistrations",
        "meetId",
    ),
    ("kanban_sessions_user_id_idx", "kanbanSessions", "userId"),
    ("kanban_sessions_meet_id_idx", "kanbanSessions", "meetId"),
    ("badges_projects_badge_id_idx", "badgesProjects", "badgeId"),
    (
        "scheduled_emails_user_recipient_id_idx",
        "scheduledEmails",
        "userRecipientId",
    ),
    (
        "scheduled_emails_meet_recipient_id_idx",
        "scheduledEmails",
        "meetRecipientId",
    ),
    ("scheduled_emails_meet_id_idx", "scheduledEmails", "meetId"),
];

/// Tables in dependency order (children after parents); `down` drops them in reverse.
const TABLES: &[&str] = &[
    "users",
    "posts",
    "kanbanCanons",
    "meets",
    "projects",
    "mediaAssets",
    "projectMediaAssets",
    "meetRegistrations",
    "kanbanCanonCards",
    "kanbanSessions",
    "badges",
    "badgesProjects",
    "scheduledEmails",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(r#"CREATE EXTENSION IF NOT EXISTS "uuid-ossp""#)
            .await?;
        for ddl in tables() {
            db.execute_unprepared(&ddl).await?;
        }
        for (name, table, column) in FOREIGN_KEY_INDEXES {
            db.execute_unprepared(&format!(
                r#"CREATE INDEX IF NOT EXISTS {name} ON "{table}" ("{column}")"#
            ))
            .await?;
        }
        // Lookups by email are case-insensitive (login, registration uniqueness).
        db.execute_unprepared(
            r#"CREATE INDEX IF NOT EXISTS users_email_lower_idx ON users (lower(email))"#,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if crate::is_legacy_knex_database(db).await? {
            return Err(DbErr::Migration(
                "refusing to drop the Mintbean tables of a database created by the Node backend \
                 (knex_migrations is present); restore from a backup instead"
                    .to_owned(),
            ));
        }
        for table in TABLES.iter().rev() {
            db.execute_unprepared(&format!(r#"DROP TABLE IF EXISTS "{table}""#))
                .await?;
        }
        Ok(())
    }
}
