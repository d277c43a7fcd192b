//! Relation fields go through DataLoaders: the SQL statements per request do not grow with the
//! number of items in the lists.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, data};

const NESTED: &str =
    "{ meets { id registrants { id } projects { user { id } badges { id } mediaAssets { id } } } }";

/// Adds `n` meets, each with 3 registrants and 2 projects that have 2 assets and 2 badges.
async fn populate(app: &TestApp, n: usize) {
    let badge_a = Uuid::new_v4();
    let badge_b = Uuid::new_v4();
    for (id, alias) in [(badge_a, format!(":a{n}:")), (badge_b, format!(":b{n}:"))] {
        app.sql_values(
            r#"INSERT INTO badges (id, alias, "badgeShape", "faIcon", title) VALUES ($1, $2, 'star', 'x', 'Badge')"#,
            vec![id.into(), alias.into()],
        )
        .await;
    }
    for i in 0..n {
        let meet = app
            .create_meet(
                &format!("Meet {i}"),
                "HACKATHON",
                "2030-01-01T10:00:00",
                "2030-01-03T10:00:00",
                "UTC",
            )
            .await;
        for r in 0..3 {
            let user = app
                .create_user(&format!("u{n}-{i}-{r}@example.com"), false)
                .await;
            app.sql_values(
                r#"INSERT INTO "meetRegistrations" ("userId", "meetId") VALUES ($1, $2)"#,
                vec![user.into(), meet.into()],
            )
            .await;
            if r < 2 {
                let project = Uuid::new_v4();
                app.sql_values(
                    r#"INSERT INTO projects (id, "userId", "meetId", title, "sourceCodeUrl", "liveUrl") VALUES ($1, $2, $3, 'P', 'https://a', 'https://b')"#,
                    vec![project.into(), user.into(), meet.into()],
                )
                .await;
                for (index, badge) in [badge_a, badge_b].into_iter().enumerate() {
                    let asset = Uuid::new_v4();
                    app.sql_values(
                        r#"INSERT INTO "mediaAssets" (id, "userId", "cloudinaryPublicId", index) VALUES ($1, $2, 'img', $3)"#,
                        vec![asset.into(), user.into(), (index as i32).into()],
                    )
                    .await;
                    app.sql_values(
                        r#"INSERT INTO "projectMediaAssets" ("projectId", "mediaAssetId") VALUES ($1, $2)"#,
                        vec![project.into(), asset.into()],
                    )
                    .await;
                    app.sql_values(
                        r#"INSERT INTO "badgesProjects" ("projectId", "badgeId") VALUES ($1, $2)"#,
                        vec![project.into(), badge.into()],
                    )
                    .await;
                }
            }
        }
    }
}

async fn statements_for(app: &TestApp, query: &str) -> (usize, serde_json::Value) {
    app.reset_statement_count();
    let body = app.gql(query, json!({})).await;
    (app.statement_count(), body)
}

#[tokio::test]
async fn nested_meet_queries_cost_a_constant_number_of_statements() {
    let app = TestApp::spawn().await;
    populate(&app, 2).await;
    let (small, body) = statements_for(&app, NESTED).await;
    let meets = data(&body)["meets"].as_array().unwrap().clone();
    assert_eq!(meets.len(), 2);
    assert_eq!(meets[0]["registrants"].as_array().unwrap().len(), 3);
    assert_eq!(
        meets[0]["projects"][0]["badges"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        meets[0]["projects"][0]["mediaAssets"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    populate(&app, 10).await;
    let (large, body) = statements_for(&app, NESTED).await;
    assert_eq!(data(&body)["meets"].as_array().unwrap().len(), 12);
    assert_eq!(
        small, large,
        "statements grew with the number of meets: {small} for 2 meets, {large} for 12"
    );
    // meets, registrants, projects, users, badges, media assets.
    assert_eq!(large, 6, "{}", app.statements_run());
}

/// Under load the DataLoader's batches split by timing; relations preloaded from the look-ahead
/// do not: one statement per relation level, however many requests run at once.
#[tokio::test]
async fn statements_per_request_do_not_depend_on_concurrency() {
    let app = TestApp::spawn().await;
    populate(&app, 12).await;
    let user = app.create_user("regular@example.com", false).await;
    let meet = data(&app.gql("{ meets { id } }", json!({})).await)["meets"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.sql_values(
        r#"INSERT INTO "meetRegistrations" ("userId", "meetId") VALUES ($1, $2::uuid)"#,
        vec![user.into(), meet.clone().into()],
    )
    .await;
    let client = app.login("regular@example.com").await;
    let meet_page = "query ($id: UUID!) { meet(id: $id) { id registrants { id firstName } projects { id user { firstName } mediaAssets { cloudinaryPublicId } badges { id alias } } kanbanCanon { id } } }";
    let session = "{ me { id email registeredMeets { id title } } }";
    // (query, variables, logged in, statements: the session lookup is one for logged-in requests)
    let cases = [
        (NESTED, json!({}), false, 6),
        (meet_page, json!({ "id": meet }), false, 6),
        (session, json!({}), true, 2),
    ];
    for (query, variables, logged_in, expected) in cases {
        let run = || async {
            let body = if logged_in {
                app.gql_with(&client, query, variables.clone()).await
            } else {
                app.gql(query, variables.clone()).await
            };
            assert!(body.get("errors").is_none(), "{body}");
        };
        app.reset_statement_count();
        run().await;
        assert_eq!(
            app.statement_count(),
            expected,
            "{query}:\n{}",
            app.statements_run()
        );
        const CONCURRENT: usize = 24;
        app.reset_statement_count();
        futures_util::future::join_all((0..CONCURRENT).map(|_| run())).await;
        assert_eq!(
            app.statement_count(),
            CONCURRENT * expected,
            "{query} at concurrency {CONCURRENT}:\n{}",
            app.statements_run()
        );
    }
}

#[tokio::test]
async fn user_relations_are_batched_too() {
    let app = TestApp::spawn().await;
    populate(&app, 3).await;
    let query = "{ projects { user { registeredMeets { id } projects { id } posts { id } } meet { registrants { id } } badges { projects { id } } } }";
    let (small, _) = statements_for(&app, query).await;
    populate(&app, 9).await;
    let (large, body) = statements_for(&app, query).await;
    assert_eq!(data(&body)["projects"].as_array().unwrap().len(), 24);
    assert_eq!(small, large);
}
