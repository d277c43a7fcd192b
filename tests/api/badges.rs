//! badges, badge, createBadge, editBadge, deleteBadge, awardBadgesToProject.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, data, error_code, error_field};

const CREATE: &str = "mutation($input: CreateBadgeInput!) {
    createBadge(input: $input) { id alias badgeShape faIcon backgroundHex iconHex title description weight createdAt updatedAt projects { id } }
}";

fn badge_input(alias: &str) -> Value {
    json!({ "input": { "alias": alias, "badgeShape": "CIRCLE", "faIcon": "trophy", "title": "Winner" } })
}

async fn project(app: &TestApp) -> String {
    let (_, client) = app
        .user_client(&format!("{}@example.com", Uuid::new_v4().simple()))
        .await;
    let body = app
        .gql_with(
            &client,
            "mutation { createProject(input: { title: \"P\", sourceCodeUrl: \"https://a.example\", liveUrl: \"https://b.example\" }) { id } }",
            json!({}),
        )
        .await;
    data(&body)["createProject"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn admins_manage_badges() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let body = app.gql_with(&admin, CREATE, badge_input(":trophy:")).await;
    let badge = &data(&body)["createBadge"];
    assert_eq!(badge["badgeShape"], "CIRCLE");
    assert_eq!(badge["backgroundHex"], "000000");
    assert_eq!(badge["iconHex"], "ffffff");
    assert_eq!(badge["description"], "No description provided.");
    assert_eq!(badge["weight"], 0);
    let id = badge["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.scalar_string("SELECT \"badgeShape\" FROM badges").await,
        "circle"
    );

    let edit = "mutation($id: UUID!, $input: EditBadgeInput!) { editBadge(id: $id, input: $input) { alias badgeShape iconHex weight title } }";
    let body = app
        .gql_with(&admin, edit, json!({ "id": id, "input": { "badgeShape": "SQUARE", "iconHex": "FF8800", "weight": 42 } }))
        .await;
    assert_eq!(
        data(&body)["editBadge"],
        json!({ "alias": ":trophy:", "badgeShape": "SQUARE", "iconHex": "ff8800", "weight": 42, "title": "Winner" })
    );
    let list = app.gql("{ badges { alias } }", json!({})).await;
    assert_eq!(data(&list)["badges"], json!([{ "alias": ":trophy:" }]));
    let one = app
        .gql(
            "query($id: UUID!) { badge(id: $id) { title } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data(&one)["badge"]["title"], "Winner");

    let body = app
        .gql_with(
            &admin,
            "mutation($id: UUID!) { deleteBadge(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data(&body)["deleteBadge"], true);
    assert_eq!(
        data(&app.gql("{ badges { id } }", json!({})).await)["badges"],
        json!([])
    );
    let gone = app
        .gql(
            "query($id: UUID!) { badge(id: $id) { title } }",
            json!({ "id": id }),
        )
        .await;
    assert!(data(&gone)["badge"].is_null(), "{gone}");
    // Its alias is free again.
    data(&app.gql_with(&admin, CREATE, badge_input(":trophy:")).await);
}

#[tokio::test]
async fn badge_mutations_are_admin_only() {
    let app = TestApp::spawn().await;
    let (_, user) = app.user_client("user@example.com").await;
    let (_, admin) = app.admin_client().await;
    let id =
        data(&app.gql_with(&admin, CREATE, badge_input(":a:")).await)["createBadge"]["id"].clone();
    let project_id = project(&app).await;
    let mutations = [
        (CREATE, badge_input(":b:")),
        (
            "mutation($id: UUID!) { editBadge(id: $id, input: { title: \"New title\" }) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: UUID!) { deleteBadge(id: $id) }",
            json!({ "id": id }),
        ),
        (
            "mutation($p: UUID!, $b: UUID!) { awardBadgesToProject(projectId: $p, badgeIds: [$b]) { id } }",
            json!({ "p": project_id, "b": id }),
        ),
    ];
    for (query, variables) in mutations {
        assert_eq!(
            error_code(&app.gql(query, variables.clone()).await),
            "UNAUTHENTICATED",
            "{query}"
        );
        assert_eq!(
            error_code(&app.gql_with(&user, query, variables).await),
            "FORBIDDEN",
            "{query}"
        );
    }
    assert_eq!(app.scalar_i64("SELECT count(*) FROM badges").await, 1);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM \"badgesProjects\"")
            .await,
        0
    );
}

#[tokio::test]
async fn badge_input_is_validated() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    data(&app.gql_with(&admin, CREATE, badge_input(":taken:")).await);
    let cases = [
        ("alias", json!("ab")),
        ("alias", json!("a".repeat(26))),
        ("alias", json!("::")),
        ("alias", json!(":taken:")),
        ("backgroundHex", json!("#000000")),
        ("iconHex", json!("fff")),
        ("title", json!("x")),
        ("faIcon", json!("")),
        ("description", json!("d".repeat(151))),
        ("weight", json!(10_000)),
        ("weight", json!(-1)),
    ];
    for (field, value) in cases {
        let mut input = badge_input(":fresh:");
        input["input"][field] = value.clone();
        let body = app.gql_with(&admin, CREATE, input).await;
        assert_eq!(
            error_code(&body),
            "BAD_USER_INPUT",
            "{field}={value}: {body}"
        );
        assert_eq!(error_field(&body), field, "{body}");
    }
    let missing = app
        .gql_with(
            &admin,
            "mutation($id: UUID!) { editBadge(id: $id, input: { title: \"Fine title\" }) { id } }",
            json!({ "id": Uuid::new_v4() }),
        )
        .await;
    assert_eq!(error_code(&missing), "NOT_FOUND");
}

#[tokio::test]
async fn awarding_replaces_a_projects_badges() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let mut badges = Vec::new();
    for (alias, weight) in [(":gold:", 100), (":silver:", 50), (":bronze:", 10)] {
        let mut input = badge_input(alias);
        input["input"]["weight"] = json!(weight);
        badges.push(
            data(&app.gql_with(&admin, CREATE, input).await)["createBadge"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let project_id = project(&app).await;
    let award = "mutation($p: UUID!, $b: [UUID]!) { awardBadgesToProject(projectId: $p, badgeIds: $b) { id badges { id } } }";
    let body = app
        .gql_with(
            &admin,
            award,
            json!({ "p": project_id, "b": [badges[2], badges[0], badges[0]] }),
        )
        .await;
    // Heaviest first, duplicates ignored.
    assert_eq!(
        data(&body)["awardBadgesToProject"]["badges"],
        json!([{ "id": badges[0] }, { "id": badges[2] }])
    );
    let body = app
        .gql_with(&admin, award, json!({ "p": project_id, "b": [badges[1]] }))
        .await;
    assert_eq!(
        data(&body)["awardBadgesToProject"]["badges"],
        json!([{ "id": badges[1] }])
    );
    let from_badge = app
        .gql(
            "query($id: UUID!) { badge(id: $id) { projects { id } } }",
            json!({ "id": badges[1] }),
        )
        .await;
    assert_eq!(
        data(&from_badge)["badge"]["projects"],
        json!([{ "id": project_id }])
    );

    // A bad id anywhere in the list changes nothing.
    let body = app
        .gql_with(
            &admin,
            award,
            json!({ "p": project_id, "b": [badges[0], Uuid::new_v4()] }),
        )
        .await;
    assert_eq!(error_field(&body), "badgeIds");
    let body = app
        .gql_with(
            &admin,
            award,
            json!({ "p": project_id, "b": [badges[0], null] }),
        )
        .await;
    assert_eq!(error_field(&body), "badgeIds");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM \"badgesProjects\"")
            .await,
        1
    );
    let body = app
        .gql_with(&admin, award, json!({ "p": Uuid::new_v4(), "b": [] }))
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    // An empty list removes every badge.
    let body = app
        .gql_with(&admin, award, json!({ "p": project_id, "b": [] }))
        .await;
    assert_eq!(data(&body)["awardBadgesToProject"]["badges"], json!([]));
}
