//! The answer cache's invalidations (`mintbean::http::answer_cache`): a transaction that changes
//! a table public answers read notifies `mintbean_answers_changed` when it commits, whichever
//! process made it. Link checks (shown on `Project.linkCheck`) are engine jobs of one kind.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every table anonymous GraphQL answers read.
macro_rules! answer_tables {
    () => {
        "ARRAY['users', 'posts', 'meets', 'projects', 'mediaAssets', 'projectMediaAssets', \
         'meetRegistrations', 'kanbanCanons', 'kanbanCanonCards', 'kanbanSessions', 'badges', \
         'badgesProjects']"
    };
}

const UP: &[&str] = &[
    // One notification per transaction however many statements: PostgreSQL folds equal ones.
    r#"CREATE FUNCTION mintbean_answers_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('mintbean_answers_changed', '');
            RETURN NULL;
        END $$"#,
    concat!(
        "DO $$ DECLARE t text; BEGIN FOREACH t IN ARRAY ",
        answer_tables!(),
        " LOOP EXECUTE format('CREATE TRIGGER answers_changed AFTER INSERT OR UPDATE OR DELETE \
         OR TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION mintbean_answers_changed()', t); \
         END LOOP; END $$"
    ),
    r#"CREATE TRIGGER link_checks_changed AFTER INSERT OR UPDATE ON engine_jobs
        FOR EACH ROW WHEN (NEW.kind = 'project.link_check')
        EXECUTE FUNCTION mintbean_answers_changed()"#,
    r#"CREATE TRIGGER link_checks_removed AFTER DELETE ON engine_jobs
        FOR EACH ROW WHEN (OLD.kind = 'project.link_check')
        EXECUTE FUNCTION mintbean_answers_changed()"#,
];

const DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS link_checks_removed ON engine_jobs",
    "DROP TRIGGER IF EXISTS link_checks_changed ON engine_jobs",
    concat!(
        "DO $$ DECLARE t text; BEGIN FOREACH t IN ARRAY ",
        answer_tables!(),
        " LOOP EXECUTE format('DROP TRIGGER IF EXISTS answers_changed ON %I', t); END LOOP; END $$"
    ),
    "DROP FUNCTION IF EXISTS mintbean_answers_changed()",
];

sql_migration!();
