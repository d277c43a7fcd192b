//! A migration that has shipped never changes: databases that ran it keep what it did, so an
//! edit would make two databases at the same version differ. Each shipped migration's text (its
//! source file, and the engine's statements for the engine's versions) has its SHA-256 recorded
//! in `migration/frozen.sha256`; this test fails when one changes, and names a migration that
//! has no checksum yet (add its line once it ships). The current schema is `migration/schema.sql`.

use sha2::{Digest, Sha256};

/// Every migration's name, file text and (for the engine's versions) statements.
fn migrations() -> Vec<(&'static str, String)> {
    macro_rules! file {
        ($name:literal) => {
            (
                $name,
                include_str!(concat!("../src/", $name, ".rs")).to_owned(),
            )
        };
        ($name:literal, $up:expr, $down:expr) => {
            (
                $name,
                format!(
                    "{}\n-- up\n{}\n-- down\n{}",
                    include_str!(concat!("../src/", $name, ".rs")),
                    $up.join("\n;\n"),
                    $down.join("\n;\n")
                ),
            )
        };
    }
    use engine::schema;
    vec![
        file!("m20200825_000001_mintbean_v3_baseline"),
        file!("m20261122_000002_email_deliveries"),
        file!("m20261201_000003_auth_security"),
        file!("m20261201_000004_job_engine", schema::UP, schema::DOWN),
        file!(
            "m20261201_000005_job_engine_webhooks",
            schema::UP_V2,
            schema::DOWN_V2
        ),
        file!("m20261201_000006_api_tokens"),
        file!(
            "m20261201_000007_job_engine_events",
            schema::UP_V3,
            schema::DOWN_V3
        ),
        file!("m20261201_000008_mintbean_events"),
        file!("m20261201_000009_answer_cache"),
        file!("m20261201_000010_session_cache"),
        file!(
            "m20261207_000011_job_engine_v4",
            schema::UP_V4,
            schema::DOWN_V4
        ),
        file!(
            "m20261207_000012_job_engine_v5",
            schema::UP_V5,
            schema::DOWN_V5
        ),
        file!(
            "m20261207_000013_job_engine_v6",
            schema::UP_V6,
            schema::DOWN_V6
        ),
        file!(
            "m20261207_000014_job_engine_v7",
            schema::UP_V7,
            schema::DOWN_V7
        ),
        file!(
            "m20261208_000015_job_engine_v8",
            schema::UP_V8,
            schema::DOWN_V8
        ),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn shipped_migrations_are_never_edited() {
    let recorded: Vec<(String, String)> = include_str!("../frozen.sha256")
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (sum, name) = line.split_once("  ").expect("`<sha256>  <name>` lines");
            (name.trim().to_owned(), sum.trim().to_owned())
        })
        .collect();
    let mut problems = Vec::new();
    for (name, text) in migrations() {
        let sum = hex(&Sha256::digest(text.as_bytes()));
        match recorded.iter().find(|(n, _)| n == name) {
            Some((_, expected)) if *expected == sum => {}
            Some(_) => problems.push(format!(
                "{name} changed after it shipped: write a new migration instead"
            )),
            None => problems.push(format!(
                "{name} has no checksum: once it ships, add to migration/frozen.sha256:\n{sum}  {name}"
            )),
        }
    }
    let known: Vec<String> = migration::migration_names();
    for (name, _) in &recorded {
        assert!(
            known.contains(name),
            "{name} is recorded but not a migration"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_migration_is_covered() {
    let covered: Vec<&str> = migrations().iter().map(|(name, _)| *name).collect();
    for name in migration::migration_names() {
        assert!(
            covered.contains(&name.as_str()),
            "{name}: add it to `migrations()` in migration/tests/frozen.rs"
        );
    }
}
