//! Mintbean's captured tables: every change to them is an event its detectors see (welcome
//! emails, reminders, confirmations, link checks, badge emails), whoever made the change. Users'
//! password hashes are left out of the events.
//!
//! Emails that notify (welcome, project submitted, badge awarded) are deliveries with their
//! template's data (`context`) and a key that makes each one once (`dedupe_key`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    r#"CREATE TRIGGER engine_capture_users AFTER INSERT OR UPDATE OR DELETE ON "users"
        FOR EACH ROW EXECUTE FUNCTION engine_capture_event('passwordHash')"#,
    r#"CREATE TRIGGER engine_capture_meets AFTER INSERT OR UPDATE OR DELETE ON "meets"
        FOR EACH ROW EXECUTE FUNCTION engine_capture_event()"#,
    r#"CREATE TRIGGER "engine_capture_meetRegistrations" AFTER INSERT OR UPDATE OR DELETE ON "meetRegistrations"
        FOR EACH ROW EXECUTE FUNCTION engine_capture_event()"#,
    r#"CREATE TRIGGER engine_capture_projects AFTER INSERT OR UPDATE OR DELETE ON "projects"
        FOR EACH ROW EXECUTE FUNCTION engine_capture_event()"#,
    r#"CREATE TRIGGER "engine_capture_badgesProjects" AFTER INSERT OR UPDATE OR DELETE ON "badgesProjects"
        FOR EACH ROW EXECUTE FUNCTION engine_capture_event()"#,
    "ALTER TABLE email_deliveries ADD COLUMN context jsonb, ADD COLUMN dedupe_key text UNIQUE",
];

const DOWN: &[&str] = &[
    "ALTER TABLE email_deliveries DROP COLUMN IF EXISTS context, DROP COLUMN IF EXISTS dedupe_key",
    r#"DROP TRIGGER IF EXISTS "engine_capture_badgesProjects" ON "badgesProjects""#,
    r#"DROP TRIGGER IF EXISTS engine_capture_projects ON "projects""#,
    r#"DROP TRIGGER IF EXISTS "engine_capture_meetRegistrations" ON "meetRegistrations""#,
    r#"DROP TRIGGER IF EXISTS engine_capture_meets ON "meets""#,
    r#"DROP TRIGGER IF EXISTS engine_capture_users ON "users""#,
];

sql_migration!();
