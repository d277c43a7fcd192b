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
    assert!(large <= 6, "{large} statements");
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
