//! projects, project, createProject, deleteProject, media assets.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, data, error_code, error_field};

const CREATE: &str = "mutation($input: CreateProjectInput!) {
    createProject(input: $input) {
        id userId meetId title sourceCodeUrl liveUrl createdAt updatedAt
        user { id } meet { id title } badges { id }
        mediaAssets { id userId cloudinaryPublicId index createdAt updatedAt }
    }
}";

fn project_input(meet_id: Option<Uuid>) -> Value {
    json!({ "input": {
        "meetId": meet_id,
        "title": "Pixel Pirates",
        "sourceCodeUrl": "https://github.com/me/pixel-pirates",
        "liveUrl": "https://pixel-pirates.example.com",
        "cloudinaryPublicIds": ["shots/one", "shots/two", "shots/three"]
    }})
}

#[tokio::test]
async fn users_submit_projects_with_ordered_media_assets() {
    let app = TestApp::spawn().await;
    let (user_id, user) = app.user_client("maker@example.com").await;
    let meet = app
        .create_meet(
            "Jam",
            "HACKATHON",
            "2030-01-01T10:00:00",
            "2030-01-03T10:00:00",
            "UTC",
        )
        .await;
    let body = app.gql_with(&user, CREATE, project_input(Some(meet))).await;
    let project = &data(&body)["createProject"];
    assert_eq!(project["userId"], user_id.to_string());
    assert_eq!(project["user"]["id"], user_id.to_string());
    assert_eq!(project["meet"]["title"], "Jam");
    assert_eq!(project["badges"], json!([]));
    let assets = project["mediaAssets"].as_array().unwrap();
    let order: Vec<(&str, i64)> = assets
        .iter()
        .map(|a| {
            (
                a["cloudinaryPublicId"].as_str().unwrap(),
                a["index"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        vec![("shots/one", 0), ("shots/two", 1), ("shots/three", 2)]
    );
    assert!(assets.iter().all(|a| a["userId"] == user_id.to_string()));
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM \"projectMediaAssets\"")
            .await,
        3
    );

    // Without media assets or a meet.
    let mut input = project_input(None);
    input["input"]["cloudinaryPublicIds"] = Value::Null;
    let body = app.gql_with(&user, CREATE, input).await;
    assert!(data(&body)["createProject"]["meet"].is_null());
    assert_eq!(data(&body)["createProject"]["mediaAssets"], json!([]));
}

#[tokio::test]
async fn user_id_in_the_input_is_only_honoured_for_admins() {
    let app = TestApp::spawn().await;
    let (user_id, user) = app.user_client("maker@example.com").await;
    let other = app.create_user("other@example.com", false).await;
    let (admin_id, admin) = app.admin_client().await;

    let mut input = project_input(None);
    input["input"]["userId"] = json!(other);
    // A non-admin naming someone else is refused (Node); naming themself is fine.
    let as_user = app.gql_with(&user, CREATE, input.clone()).await;
    assert_eq!(error_code(&as_user), "FORBIDDEN", "{as_user}");
    let mut own = input.clone();
    own["input"]["userId"] = json!(user_id);
    let as_themself = app.gql_with(&user, CREATE, own).await;
    assert_eq!(
        data(&as_themself)["createProject"]["userId"],
        user_id.to_string()
    );
    let as_admin = app.gql_with(&admin, CREATE, input.clone()).await;
    assert_eq!(
        data(&as_admin)["createProject"]["userId"],
        other.to_string()
    );
    assert_eq!(
        data(&as_admin)["createProject"]["mediaAssets"][0]["userId"],
        other.to_string()
    );

    input["input"]["userId"] = json!(Uuid::new_v4());
    let unknown = app.gql_with(&admin, CREATE, input).await;
    assert_eq!(error_field(&unknown), "userId");
    let _ = admin_id;
}

#[tokio::test]
async fn create_project_validates_and_writes_nothing_on_failure() {
    let app = TestApp::spawn().await;
    let (_, user) = app.user_client("maker@example.com").await;
    assert_eq!(
        error_code(&app.gql(CREATE, project_input(None)).await),
        "UNAUTHENTICATED"
    );
    let cases = [
        ("title", json!("")),
        ("title", json!("t".repeat(65))),
        ("sourceCodeUrl", json!("github.com/me")),
        ("liveUrl", json!("javascript:alert(1)")),
        ("cloudinaryPublicIds", json!(["ok", ""])),
        ("meetId", json!(Uuid::new_v4())),
    ];
    for (field, value) in cases {
        let mut input = project_input(None);
        input["input"][field] = value;
        let body = app.gql_with(&user, CREATE, input).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(error_field(&body), field);
    }
    assert_eq!(app.scalar_i64("SELECT count(*) FROM projects").await, 0);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM \"mediaAssets\"").await,
        0
    );
}

#[tokio::test]
async fn owners_and_admins_delete_projects() {
    let app = TestApp::spawn().await;
    let (_, owner) = app.user_client("owner@example.com").await;
    let (_, stranger) = app.user_client("stranger@example.com").await;
    let (_, admin) = app.admin_client().await;
    let delete = "mutation($id: UUID!) { deleteProject(id: $id) }";
    let mut ids = Vec::new();
    for _ in 0..2 {
        let body = app.gql_with(&owner, CREATE, project_input(None)).await;
        ids.push(
            data(&body)["createProject"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        error_code(&app.gql(delete, json!({ "id": ids[0] })).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        error_code(
            &app.gql_with(&stranger, delete, json!({ "id": ids[0] }))
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        data(&app.gql_with(&owner, delete, json!({ "id": ids[0] })).await)["deleteProject"],
        true
    );
    assert_eq!(
        data(&app.gql_with(&admin, delete, json!({ "id": ids[1] })).await)["deleteProject"],
        true
    );
    assert_eq!(
        error_code(&app.gql_with(&owner, delete, json!({ "id": ids[0] })).await),
        "NOT_FOUND"
    );
    assert_eq!(
        data(&app.gql("{ projects { id } }", json!({})).await)["projects"],
        json!([])
    );
    let gone = app
        .gql(
            "query($id: UUID!) { project(id: $id) { id } }",
            json!({ "id": ids[0] }),
        )
        .await;
    assert!(data(&gone)["project"].is_null());
}

#[tokio::test]
async fn projects_filter_by_user_and_meet() {
    let app = TestApp::spawn().await;
    let (alice_id, alice) = app.user_client("alice@example.com").await;
    let (bob_id, bob) = app.user_client("bob@example.com").await;
    let jam = app
        .create_meet(
            "Jam",
            "HACKATHON",
            "2030-01-01T10:00:00",
            "2030-01-03T10:00:00",
            "UTC",
        )
        .await;
    let other = app
        .create_meet(
            "Other",
            "HACKATHON",
            "2030-02-01T10:00:00",
            "2030-02-03T10:00:00",
            "UTC",
        )
        .await;
    for (client, meet) in [(&alice, jam), (&alice, other), (&bob, jam)] {
        data(
            &app.gql_with(client, CREATE, project_input(Some(meet)))
                .await,
        );
    }
    let query = "query($u: UUID, $m: UUID) { projects(userId: $u, meetId: $m) { userId meetId } }";
    let count = |body: &Value| data(body)["projects"].as_array().unwrap().len();
    assert_eq!(count(&app.gql(query, json!({})).await), 3);
    assert_eq!(count(&app.gql(query, json!({ "u": alice_id })).await), 2);
    assert_eq!(count(&app.gql(query, json!({ "m": jam })).await), 2);
    assert_eq!(
        count(&app.gql(query, json!({ "u": bob_id, "m": other })).await),
        0
    );
    let meet = app
        .gql(
            "query($id: UUID!) { meet(id: $id) { projects { user { id } } } }",
            json!({ "id": jam }),
        )
        .await;
    assert_eq!(data(&meet)["meet"]["projects"].as_array().unwrap().len(), 2);
    let profile = app
        .gql(
            "query($id: UUID!) { user(id: $id) { projects { meet { title } } } }",
            json!({ "id": bob_id }),
        )
        .await;
    assert_eq!(
        data(&profile)["user"]["projects"],
        json!([{ "meet": { "title": "Jam" } }])
    );
}
