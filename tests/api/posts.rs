//! posts, post, Post.user, posts on both user types.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, data};

#[tokio::test]
async fn posts_are_listed_per_user_newest_first() {
    let app = TestApp::spawn().await;
    let (alice, client) = app.user_client("alice@example.com").await;
    let bob = app.create_user("bob@example.com", false).await;
    for (user, body, age) in [
        (alice, "first", 3i32),
        (alice, "second", 2),
        (bob, "bob's", 1),
    ] {
        app.sql_values(
            r#"INSERT INTO posts ("userId", body, "createdAt") VALUES ($1, $2, now() - make_interval(days => $3))"#,
            vec![user.into(), body.into(), age.into()],
        )
        .await;
    }
    let all = app
        .gql(
            "{ posts { body user { id } createdAt updatedAt } }",
            json!({}),
        )
        .await;
    let bodies: Vec<&str> = data(&all)["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, vec!["bob's", "second", "first"]);
    assert!(
        data(&all)["posts"][0]["createdAt"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    let mine = app
        .gql(
            "query($u: UUID) { posts(userId: $u) { id userId body } }",
            json!({ "u": alice }),
        )
        .await;
    let posts = data(&mine)["posts"].as_array().unwrap().clone();
    assert_eq!(posts.len(), 2);
    let id = posts[0]["id"].as_str().unwrap();
    let one = app
        .gql(
            "query($id: UUID!) { post(id: $id) { body user { firstName } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data(&one)["post"]["body"], "second");
    let missing = app
        .gql(
            "query($id: UUID!) { post(id: $id) { body } }",
            json!({ "id": Uuid::new_v4() }),
        )
        .await;
    assert!(data(&missing)["post"].is_null());

    let me = app
        .gql_with(&client, "{ me { posts { body } } }", json!({}))
        .await;
    assert_eq!(
        data(&me)["me"]["posts"],
        json!([{ "body": "second" }, { "body": "first" }])
    );
    let public = app
        .gql(
            "query($id: UUID!) { user(id: $id) { posts { body } } }",
            json!({ "id": bob }),
        )
        .await;
    assert_eq!(data(&public)["user"]["posts"], json!([{ "body": "bob's" }]));

    // Posts of a deleted account disappear with it.
    app.sql_values(
        "UPDATE users SET deleted = true WHERE id = $1",
        vec![bob.into()],
    )
    .await;
    assert_eq!(
        data(&app.gql("{ posts { body } }", json!({})).await)["posts"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
