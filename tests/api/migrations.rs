//! The migrations create exactly the Mintbean V3 schema, and adopt an existing Node database.

use std::collections::BTreeMap;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;

use crate::helpers::{
    admin_url, data, database_url, drop_database, fresh_database, new_client, test_config,
};
use mintbean::AppState;
use mintbean_core::db;

/// (column, type, nullable, default).
type ColumnSpec = (&'static str, &'static str, bool, Option<&'static str>);

/// The columns of every table, from shared/spec/db-schema.md.
fn expected_schema() -> BTreeMap<&'static str, Vec<ColumnSpec>> {
    let id = ("id", "uuid", false, Some("uuid_generate_v4()"));
    let created = (
        "createdAt",
        "timestamp with time zone",
        false,
        Some("now()"),
    );
    let updated = (
        "updatedAt",
        "timestamp with time zone",
        false,
        Some("now()"),
    );
    let deleted = ("deleted", "boolean", false, Some("false"));
    // jsonb stores keys in its own order.
    let positions = Some(r#"'{"wip": [], "done": [], "todo": []}'::jsonb"#);
    BTreeMap::from([
        (
            "users",
            vec![
                id,
                ("email", "text", false, None),
                ("firstName", "text", false, None),
                ("lastName", "text", false, None),
                ("passwordHash", "text", false, None),
                ("isAdmin", "boolean", false, Some("false")),
                created,
                updated,
                deleted,
            ],
        ),
        (
            "posts",
            vec![
                id,
                ("userId", "uuid", false, None),
                ("body", "text", false, None),
                created,
                updated,
            ],
        ),
        (
            "meets",
            vec![
                id,
                ("meetType", "text", false, Some("'HACKATHON'::text")),
                ("title", "text", false, None),
                ("description", "text", false, None),
                ("instructions", "text", false, None),
                ("detailedDescription", "text", true, None),
                ("registerLink", "text", true, None),
                ("coverImageUrl", "text", false, None),
                ("startTime", "timestamp with time zone", false, None),
                ("endTime", "timestamp with time zone", false, None),
                ("region", "text", false, Some("'America/Toronto'::text")),
                ("kanbanCanonId", "uuid", true, None),
                created,
                updated,
                deleted,
            ],
        ),
        (
            "projects",
            vec![
                id,
                ("userId", "uuid", false, None),
                ("meetId", "uuid", true, None),
                ("title", "text", false, None),
                ("sourceCodeUrl", "text", false, None),
                ("liveUrl", "text", false, None),
                created,
                updated,
                deleted,
            ],
        ),
        (
            "mediaAssets",
            vec![
                id,
                ("userId", "uuid", false, None),
                ("cloudinaryPublicId", "text", false, None),
                ("index", "integer", true, Some("0")),
                created,
                updated,
                deleted,
            ],
        ),
        (
            "projectMediaAssets",
            vec![
                id,
                ("projectId", "uuid", false, None),
                ("mediaAssetId", "uuid", false, None),
                created,
                updated,
                deleted,
            ],
        ),
        (
            "meetRegistrations",
            vec![
                id,
                ("userId", "uuid", false, None),
                ("meetId", "uuid", false, None),
                created,
                updated,
                deleted,
            ],
        ),
        (
            "kanbanCanons",
            vec![
                id,
                ("title", "text", false, None),
                ("description", "text", false, None),
                ("cardPositions", "jsonb", true, positions),
                created,
                updated,
            ],
        ),
        (
            "kanbanCanonCards",
            vec![
                id,
                ("kanbanCanonId", "uuid", false, None),
                ("title", "text", false, None),
                ("body", "text", false, None),
                ("status", "text", false, Some("'TODO'::text")),
                created,
                updated,
                deleted,
            ],
        ),
        (
            "kanbanSessions",
            vec![
                id,
                ("kanbanCanonId", "uuid", false, None),
                ("userId", "uuid", false, None),
                ("meetId", "uuid", true, None),
                ("cardPositions", "jsonb", true, positions),
                created,
                updated,
                deleted,
            ],
        ),
        (
            "badges",
            vec![
                id,
                ("alias", "text", false, None),
                ("badgeShape", "text", false, None),
                ("faIcon", "character varying(255)", false, None),
                (
                    "backgroundHex",
                    "character varying(6)",
                    true,
                    Some("'000000'::character varying"),
                ),
                (
                    "iconHex",
                    "character varying(6)",
                    true,
                    Some("'ffffff'::character varying"),
                ),
                ("title", "text", false, None),
                (
                    "description",
                    "text",
                    false,
                    Some("'No description provided.'::text"),
                ),
                ("weight", "integer", false, Some("0")),
                created,
                updated,
                deleted,
            ],
        ),
        (
            "badgesProjects",
            vec![
                id,
                ("projectId", "uuid", false, None),
                ("badgeId", "uuid", false, None),
                created,
                updated,
            ],
        ),
        (
            "scheduledEmails",
            vec![
                id,
                ("templateName", "text", false, None),
                ("userRecipientId", "uuid", true, None),
                ("meetRecipientId", "uuid", true, None),
                ("meetId", "uuid", true, None),
                ("sendAt", "timestamp with time zone", false, Some("now()")),
                ("retriesLeft", "integer", false, Some("3")),
                created,
                updated,
            ],
        ),
    ])
}

async fn connect(name: &str) -> DatabaseConnection {
    db::connect(&database_url(name), 2).await.expect("connect")
}

async fn rows(conn: &DatabaseConnection, sql: &str) -> Vec<Vec<String>> {
    conn.query_all_raw(Statement::from_string(
        conn.get_database_backend(),
        sql.to_owned(),
    ))
    .await
    .expect(sql)
    .into_iter()
    .map(|row| {
        (0..)
            .map_while(|i| row.try_get_by_index::<Option<String>>(i).ok())
            .map(|v| v.unwrap_or_else(|| "NULL".into()))
            .collect()
    })
    .collect()
}

/// Columns of a table as (name, type, nullable, default), in table order.
async fn columns(
    conn: &DatabaseConnection,
    table: &str,
) -> Vec<(String, String, bool, Option<String>)> {
    rows(
        conn,
        &format!(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), (NOT a.attnotnull)::text,
                    pg_get_expr(d.adbin, d.adrelid)
             FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE a.attrelid = '\"{table}\"'::regclass AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum"
        ),
    )
    .await
    .into_iter()
    .map(|r| (r[0].clone(), r[1].clone(), r[2] == "true", (r[3] != "NULL").then(|| r[3].clone())))
    .collect()
}

/// Constraints other than primary keys, normalised to ignore their names.
async fn constraints(conn: &DatabaseConnection) -> Vec<String> {
    let mut found: Vec<String> = rows(
        conn,
        "SELECT conrelid::regclass::text, contype::text,
                regexp_replace(pg_get_constraintdef(oid), '\\s+', ' ', 'g')
         FROM pg_constraint
         WHERE connamespace = 'public'::regnamespace AND contype IN ('u', 'f')
           AND conrelid::regclass::text NOT LIKE '%seaql%' AND conrelid::regclass::text NOT LIKE 'knex%'",
    )
    .await
    .into_iter()
    .map(|r| format!("{} {} {}", r[0], r[1], r[2]))
    .collect();
    found.sort();
    found
}

async fn assert_mintbean_schema(conn: &DatabaseConnection) {
    for (table, expected) in expected_schema() {
        let actual = columns(conn, table).await;
        let mut actual_by_name: BTreeMap<String, (String, bool, Option<String>)> = actual
            .into_iter()
            .map(|(name, ty, nullable, default)| (name, (ty, nullable, default)))
            .collect();
        for (name, ty, nullable, default) in expected {
            let (actual_ty, actual_nullable, actual_default) = actual_by_name
                .remove(name)
                .unwrap_or_else(|| panic!("{table}.{name} is missing"));
            assert_eq!(actual_ty, ty, "{table}.{name} type");
            assert_eq!(actual_nullable, nullable, "{table}.{name} nullability");
            let actual_default = actual_default.map(|d| d.replace("CURRENT_TIMESTAMP", "now()"));
            assert_eq!(actual_default.as_deref(), default, "{table}.{name} default");
        }
        assert!(
            actual_by_name.is_empty(),
            "{table} has unexpected columns {actual_by_name:?}"
        );
    }
}

#[tokio::test]
async fn migrations_create_exactly_the_mintbean_schema() {
    let name = fresh_database().await;
    let conn = connect(&name).await;
    assert_mintbean_schema(&conn).await;
    let found = constraints(&conn).await;
    for expected in [
        "users u UNIQUE (email)",
        "\"meetRegistrations\" u UNIQUE (\"userId\", \"meetId\")",
        "\"kanbanCanonCards\" u UNIQUE (\"kanbanCanonId\", id)",
        "\"kanbanSessions\" u UNIQUE (\"kanbanCanonId\", \"userId\", \"meetId\")",
        "badges u UNIQUE (alias)",
        "\"badgesProjects\" u UNIQUE (\"projectId\", \"badgeId\")",
        "posts f FOREIGN KEY (\"userId\") REFERENCES users(id) ON DELETE CASCADE",
        "meets f FOREIGN KEY (\"kanbanCanonId\") REFERENCES \"kanbanCanons\"(id) ON DELETE SET NULL",
        "projects f FOREIGN KEY (\"meetId\") REFERENCES meets(id) ON DELETE SET NULL",
        "\"kanbanSessions\" f FOREIGN KEY (\"meetId\") REFERENCES meets(id) ON DELETE SET NULL",
        "\"scheduledEmails\" f FOREIGN KEY (\"meetRecipientId\") REFERENCES meets(id) ON DELETE CASCADE",
    ] {
        assert!(
            found.iter().any(|c| c == expected),
            "missing constraint {expected}; have {found:#?}"
        );
    }
    drop(conn);
    drop_database(&name);
}

#[tokio::test]
async fn every_foreign_key_is_indexed() {
    let name = fresh_database().await;
    let conn = connect(&name).await;
    let unindexed = rows(
        &conn,
        "SELECT c.conrelid::regclass::text || '.' || a.attname
         FROM pg_constraint c
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
           AND NOT EXISTS (
             SELECT 1 FROM pg_index i
             WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])",
    )
    .await;
    assert!(
        unindexed.is_empty(),
        "foreign keys without an index: {unindexed:?}"
    );
    drop(conn);
    drop_database(&name);
}

#[tokio::test]
async fn migrations_go_down_and_up_again() {
    let name = fresh_database().await;
    let conn = connect(&name).await;
    Migrator::down(&conn, None).await.expect("down");
    let left = rows(&conn, "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'seaql_migrations'").await;
    assert!(left.is_empty(), "tables left after down: {left:?}");
    Migrator::up(&conn, None).await.expect("up again");
    assert_mintbean_schema(&conn).await;
    // Running again is a no-op.
    db::migrate(&database_url(&name)).await.expect("idempotent");
    drop(conn);
    drop_database(&name);
}

async fn table_fingerprints(conn: &DatabaseConnection) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for table in expected_schema().keys() {
        out.extend(
            rows(
                conn,
                &format!("SELECT '{table}', count(*)::text, coalesce(md5(string_agg(t::text, '|' ORDER BY t.id)), '') FROM \"{table}\" t"),
            )
            .await,
        );
    }
    out
}

#[tokio::test]
async fn an_existing_node_database_is_adopted_without_touching_a_row() {
    let name = format!("mintbean_legacy_{}", uuid::Uuid::new_v4().simple());
    let admin = db::connect(&admin_url(), 1).await.unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let conn = connect(&name).await;
    conn.execute_unprepared(include_str!("../fixtures/legacy_knex_database.sql"))
        .await
        .expect("load the legacy fixture");
    let before = table_fingerprints(&conn).await;
    let knex_before = rows(&conn, "SELECT count(*)::text FROM knex_migrations").await;
    assert!(migration::is_legacy_knex_database(&conn).await.unwrap());

    db::migrate(&database_url(&name)).await.expect("adopt");
    db::migrate(&database_url(&name))
        .await
        .expect("adopt twice");
    assert_eq!(table_fingerprints(&conn).await, before, "rows changed");
    assert_eq!(
        rows(&conn, "SELECT count(*)::text FROM knex_migrations").await,
        knex_before
    );
    assert_mintbean_schema(&conn).await;

    // The server works on it: bcrypt logins (case-insensitive email), wall-clock meets, relations.
    let connection = mintbean_core::db::connect(&database_url(&name), 5)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/graphql", listener.local_addr().unwrap());
    let state =
        AppState::new(connection, test_config(&database_url(&name), &[])).expect("app state");
    let server = tokio::spawn(async move {
        mintbean::http::serve_until(state, listener, std::future::pending()).await
    });
    let client = new_client();
    let login: serde_json::Value = client
        .post(&address)
        .json(&json!({ "query": "mutation { login(email: \"admin@mintbean.io\", password: \"legacy-password\") { firstName isAdmin } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        data(&login)["login"],
        json!({ "firstName": "Claire", "isAdmin": true })
    );
    let meets: serde_json::Value = client
        .post(&address)
        .json(&json!({ "query": "{ meets { title startTime region registerLinkStatus registrants { firstName } projects { title badges { alias } mediaAssets { cloudinaryPublicId } } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let meets = &data(&meets)["meets"];
    assert_eq!(meets[0]["title"], "React Hooks");
    assert_eq!(meets[1]["startTime"], "2020-12-18T12:00:00.000");
    assert_eq!(meets[1]["registerLinkStatus"], "CLOSED");
    assert_eq!(meets[1]["registrants"].as_array().unwrap().len(), 2);
    assert_eq!(meets[1]["projects"][0]["badges"][0]["alias"], ":winner:");
    assert_eq!(
        meets[1]["projects"][0]["mediaAssets"][0]["cloudinaryPublicId"],
        "snowball/screenshot"
    );
    server.abort();

    // Its queued emails are delivered: the due confirmation goes out; the reminder for a meet
    // that ended in 2020 is skipped; the one due in 2035 waits.
    let sink = crate::smtp_sink::SmtpSink::start().await;
    let summary =
        crate::email::drain(&crate::email::drainer_for(&name, &sink.url(), &[]).await).await;
    assert_eq!(
        (summary.sent, summary.skipped, summary.failed),
        (1, 1, 0),
        "{summary}"
    );
    assert_eq!(sink.messages()[0].to, vec!["jane@example.com".to_owned()]);
    let waiting = rows(&conn, "SELECT \"templateName\" FROM \"scheduledEmails\"").await;
    assert_eq!(waiting, vec![vec!["workshops/reminder-1".to_owned()]]);

    // Rolling back past our own tables would drop the Node tables: refused.
    let err = Migrator::down(&conn, None).await.unwrap_err();
    assert!(err.to_string().contains("knex_migrations"), "{err}");
    assert_eq!(
        rows(&conn, "SELECT count(*)::text FROM users").await,
        vec![vec!["3".to_owned()]]
    );
    drop(conn);
    drop_database(&name);
}

#[tokio::test]
async fn a_multi_host_database_url_reaches_the_host_that_accepts_writes() {
    let app = crate::helpers::TestApp::spawn().await;
    // A host that refuses connections first, then the real one; libpq's form.
    let url = url::Url::parse(&crate::helpers::database_url(&app.db_name)).unwrap();
    let live = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let multi = format!(
        "postgres://{}@{dead},{live}{}?target_session_attrs=read-write",
        url.username(),
        url.path()
    );
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_mintbean"))
        .args(["jobs", "stats"])
        .env("DATABASE_URL", &multi)
        .env("APP_ENV", "test")
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}
