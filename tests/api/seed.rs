//! The development seed data: what `make run` shows on first start.

use serde_json::json;

use crate::helpers::{TestApp, data, new_client};
use mintbean_core::seed::SeedOutcome;

#[tokio::test]
async fn seeds_an_empty_database_once_with_something_of_everything() {
    let app = TestApp::spawn().await;
    assert!(matches!(app.seed().await, SeedOutcome::Seeded(_)));
    assert!(matches!(app.seed().await, SeedOutcome::SkippedNotEmpty));

    let body = app
        .gql("{ meets { meetType region registerLinkStatus registrants { id } projects { badges { id } mediaAssets { id } } kanbanCanon { cardPositions { todo wip done } } } badges { projects { id } } posts { id } }", json!({}))
        .await;
    let d = data(&body);
    let meets = d["meets"].as_array().unwrap();
    for kind in ["HACKATHON", "WORKSHOP", "WEBINAR", "LECTURE"] {
        assert!(meets.iter().any(|m| m["meetType"] == kind), "no {kind}");
    }
    for status in ["WAITING", "OPEN", "CLOSED"] {
        assert!(
            meets.iter().any(|m| m["registerLinkStatus"] == status),
            "no {status} meet"
        );
    }
    let zones: std::collections::HashSet<&str> = meets
        .iter()
        .map(|m| m["region"].as_str().unwrap())
        .collect();
    assert!(zones.len() >= 4, "{zones:?}");
    assert!(
        meets
            .iter()
            .any(|m| !m["registrants"].as_array().unwrap().is_empty())
    );
    let projects: Vec<&serde_json::Value> = meets
        .iter()
        .flat_map(|m| m["projects"].as_array().unwrap())
        .collect();
    assert!(projects.len() >= 3);
    assert!(
        projects
            .iter()
            .all(|p| !p["mediaAssets"].as_array().unwrap().is_empty())
    );
    assert!(
        projects
            .iter()
            .any(|p| !p["badges"].as_array().unwrap().is_empty())
    );
    assert!(
        d["badges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| !b["projects"].as_array().unwrap().is_empty())
    );
    assert!(!d["posts"].as_array().unwrap().is_empty());

    // A canon with cards in every column, attached to an upcoming meet.
    let with_canon: Vec<&serde_json::Value> = meets
        .iter()
        .filter(|m| !m["kanbanCanon"].is_null())
        .collect();
    assert_eq!(with_canon.len(), 1);
    assert_eq!(with_canon[0]["registerLinkStatus"], "WAITING");
    let canon_positions = &with_canon[0]["kanbanCanon"]["cardPositions"];
    for column in ["todo", "wip", "done"] {
        assert!(
            !canon_positions[column].as_array().unwrap().is_empty(),
            "empty {column}"
        );
    }

    // The printed accounts log in, and Grace's board differs from the canon (she moved cards).
    for (email, password, ..) in mintbean_core::seed::DEV_ACCOUNTS {
        let client = new_client();
        let body = app
            .gql_with(
                &client,
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { id } }",
                json!({ "e": email, "p": password }),
            )
            .await;
        data(&body);
    }
    let grace = app.login_with("grace@mintbean.dev", "password123").await;
    let body = app
        .gql_with(&grace, "{ meets { kanban { cardPositions { todo wip done } } kanbanCanon { cardPositions { todo wip done } } } }", json!({}))
        .await;
    let mine = data(&body)["meets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| !m["kanban"].is_null())
        .cloned()
        .expect("grace has a board");
    assert_ne!(
        mine["kanban"]["cardPositions"],
        mine["kanbanCanon"]["cardPositions"]
    );
}

/// Runs the `mintbean` binary with `APP_ENV=production` against the database `name`.
async fn production_command(name: &str, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_mintbean"))
        .args(args)
        .env("DATABASE_URL", crate::helpers::database_url(name))
        .env("APP_ENV", "production")
        .env_remove("JWT_SECRET")
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn production_is_never_seeded_with_the_development_passwords() {
    use mintbean_core::auth::password::Verification;
    use sea_orm::{ConnectionTrait, Statement};

    let name = crate::helpers::fresh_database().await;
    let db = mintbean_core::db::connect(&crate::helpers::database_url(&name), 1)
        .await
        .unwrap();
    let users = || async {
        db.query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT count(*) AS n FROM users",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
    };

    let setup = production_command(&name, &["setup"]).await;
    assert!(setup.status.success(), "{setup:?}");
    assert!(String::from_utf8_lossy(&setup.stdout).contains("no seed data"));
    assert_eq!(users().await, 0);
    for command in ["seed", "reset"] {
        let refused = production_command(&name, &[command]).await;
        assert!(!refused.status.success(), "{command}: {refused:?}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("--allow-production"),
            "{refused:?}"
        );
    }
    assert_eq!(users().await, 0);

    let seeded = production_command(&name, &["seed", "--allow-production"]).await;
    assert!(seeded.status.success(), "{seeded:?}");
    let printed = String::from_utf8_lossy(&seeded.stdout).into_owned();
    let hasher = mintbean_core::auth::PasswordHasher::new(2);
    for (email, dev_password, ..) in mintbean_core::seed::DEV_ACCOUNTS {
        let line = printed
            .lines()
            .find(|line| line.contains(email))
            .unwrap_or_else(|| panic!("{email} not printed: {printed}"));
        let password = line.split_whitespace().nth(1).unwrap();
        assert_ne!(password, *dev_password);
        assert!(password.len() >= 20, "{password}");
        let hash = db
            .query_one_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                r#"SELECT "passwordHash" AS h FROM users WHERE email = $1"#,
                [(*email).into()],
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<String>("", "h")
            .unwrap();
        assert_eq!(
            hasher.verify(dev_password, &hash).await.unwrap(),
            Verification::Invalid
        );
        assert_eq!(
            hasher.verify(password, &hash).await.unwrap(),
            Verification::Valid
        );
    }
    let _ = db.close().await;
    crate::helpers::drop_database(&name);
}
