//! Parity with the Node backend: the real frontend's 32 GraphQL documents all run, and the rules
//! where mintbean used to differ (one test per rule).

use reqwest::Client;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, data, error_code, error_field, message, new_client};

fn document(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/frontend-operations/{name}.graphql",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs the frontend's document `name`, which must answer without any error.
async fn run(app: &TestApp, client: &Client, name: &str, variables: Value) -> Value {
    let body = app.gql_with(client, &document(name), variables).await;
    assert!(body["errors"].is_null(), "{name}: {body}");
    body["data"].clone()
}

fn id(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn every_frontend_document_validates_and_runs() {
    let app = TestApp::spawn_with(&[("CONTACT_FORM_RECIPIENT_EMAILS", "team@example.com")]).await;
    app.create_user("admin@example.com", true).await;
    let visitor = new_client();
    let registration = json!({ "input": { "email": "new@example.com", "firstName": "Nia", "lastName": "New",
                                           "password": "password-123", "passwordConfirmation": "password-123" } });
    run(&app, &visitor, "Auth.register", registration).await;
    let admin = new_client();
    let login = json!({ "email": "admin@example.com", "password": PASSWORD });
    let me = id(&run(&app, &admin, "Auth.Login", login).await["login"]);
    run(&app, &admin, "Auth.me", json!({})).await;
    let users = run(&app, &admin, "User.allUsers", json!({})).await;
    assert_eq!(users["users"].as_array().unwrap().len(), 2);

    let badge_input =
        json!({ "alias": ":gold:", "badgeShape": "STAR", "faIcon": "star", "title": "Gold" });
    let badge = id(&run(
        &app,
        &admin,
        "Badge.createBadge",
        json!({ "input": badge_input }),
    )
    .await["createBadge"]);
    run(&app, &admin, "Badge.badge", json!({ "id": badge })).await;
    run(&app, &admin, "Badge.badges", json!({})).await;
    run(
        &app,
        &admin,
        "Badge.editBadge",
        json!({ "id": badge, "input": { "title": "Golden" } }),
    )
    .await;

    let meet_input = json!({ "meetType": "HACKATHON", "title": "Jam", "description": "Build a game",
        "instructions": "Have fun", "coverImageUrl": "https://example.com/c.png",
        "startTime": "2031-06-10T12:00", "endTime": "2031-06-12T12:00", "region": "UTC" });
    let meet = id(&run(
        &app,
        &admin,
        "Meet.createMeet",
        json!({ "input": meet_input }),
    )
    .await["createMeet"]);
    run(&app, &admin, "Meet.meets", json!({})).await;
    run(&app, &admin, "Meet.meet", json!({ "id": meet })).await;
    run(
        &app,
        &admin,
        "Meet.editMeet",
        json!({ "id": meet, "input": { "title": "Spring Jam" } }),
    )
    .await;
    run(
        &app,
        &admin,
        "Meet.registerForMeet",
        json!({ "meetId": meet }),
    )
    .await;

    let canon_input = json!({ "title": "Ship it", "description": "Steps to ship" });
    let canon = id(&run(
        &app,
        &admin,
        "KanbanCanon.createKanbanCanon",
        json!({ "input": canon_input }),
    )
    .await["createKanbanCanon"]);
    let card_input = json!({ "kanbanCanonId": canon, "title": "Plan", "body": "Write the plan" });
    let card = id(&run(
        &app,
        &admin,
        "KanbanCanon.createKanbanCanonCard",
        json!({ "input": card_input }),
    )
    .await["createKanbanCanonCard"]);
    run(
        &app,
        &admin,
        "KanbanCanon.fetchKanbanCanon",
        json!({ "id": canon }),
    )
    .await;
    run(
        &app,
        &admin,
        "KanbanCanon.fetchKanbanCanonCard",
        json!({ "id": card }),
    )
    .await;
    run(
        &app,
        &admin,
        "KanbanCanon.editKanbanCanon",
        json!({ "id": canon, "input": { "title": "Ship it now" } }),
    )
    .await;
    run(
        &app,
        &admin,
        "KanbanCanon.editKanbanCanonCard",
        json!({ "id": card, "input": { "body": "Write it down" } }),
    )
    .await;
    let move_card = json!({ "cardId": card, "status": "WIP", "index": 0 });
    run(
        &app,
        &admin,
        "KanbanCanon.updateKanbanCanonCardPositions",
        json!({ "id": canon, "input": move_card }),
    )
    .await;
    let board_input = json!({ "kanbanCanonId": canon, "userId": me, "meetId": meet });
    let board = id(&run(
        &app,
        &admin,
        "Kanban.createKanban",
        json!({ "input": board_input }),
    )
    .await["createKanban"]);
    run(&app, &admin, "Kanban.fetchKanban", json!({ "id": board })).await;
    let done = json!({ "cardId": card, "status": "DONE", "index": 0 });
    run(
        &app,
        &admin,
        "Kanban.updateKanbanCardPositions",
        json!({ "id": board, "input": done }),
    )
    .await;

    let project_input = json!({ "title": "Snake", "meetId": meet, "sourceCodeUrl": "https://github.com/a/snake",
                                "liveUrl": "https://snake.example" });
    let project = id(&run(
        &app,
        &admin,
        "Project.createProject",
        json!({ "input": project_input }),
    )
    .await["createProject"]);
    run(
        &app,
        &admin,
        "Project.projectForShowPage",
        json!({ "id": project }),
    )
    .await;
    run(
        &app,
        &admin,
        "Project.awardBadgesToProject",
        json!({ "projectId": project, "badgeIds": [badge] }),
    )
    .await;
    let contact = json!({ "input": { "subject": "Hello", "html": "<p>Hi there</p>" } });
    run(&app, &admin, "Email.sendContactFormEmail", contact).await;

    run(
        &app,
        &admin,
        "KanbanCanon.deleteKanbanCanonCard",
        json!({ "id": card }),
    )
    .await;
    run(
        &app,
        &admin,
        "Project.deleteProject",
        json!({ "id": project }),
    )
    .await;
    run(&app, &admin, "Badge.deleteBadge", json!({ "id": badge })).await;
    run(&app, &admin, "Meet.deleteMeet", json!({ "id": meet })).await;
    let logout = run(&app, &admin, "Auth.logout", json!({})).await;
    assert_eq!(logout["logout"], true);

    // All 32 ran.
    let count = std::fs::read_dir(format!(
        "{}/tests/fixtures/frontend-operations",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .count();
    assert_eq!(count, 32);
}

const NOTHING: &str = "Must edit at least one field";

#[tokio::test]
async fn edits_with_nothing_to_change_are_refused() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let meet = app
        .create_workshop(&admin, "2031-06-10T18:00", "2031-06-10T20:00")
        .await;
    let before = app
        .scalar_string(&format!(
            r#"SELECT "updatedAt"::text FROM meets WHERE id = '{meet}'"#
        ))
        .await;
    let badge = app
        .created_id(&admin, r#"mutation { createBadge(input: { alias: ":b:", badgeShape: STAR, faIcon: "star", title: "Badge" }) { id } }"#, json!({}))
        .await;
    let canon = app
        .created_id(&admin, r#"mutation { createKanbanCanon(input: { title: "Canon", description: "Steps" }) { id } }"#, json!({}))
        .await;
    let card = app
        .created_id(&admin, "mutation($c: UUID!) { createKanbanCanonCard(input: { kanbanCanonId: $c, title: \"Card\", body: \"Do it\" }) { id } }", json!({ "c": canon }))
        .await;
    for (query, id) in [
        (
            "mutation($id: UUID!) { editMeet(id: $id, input: {}) { id } }",
            &meet,
        ),
        (
            "mutation($id: UUID!) { editBadge(id: $id, input: {}) { id } }",
            &badge,
        ),
        (
            "mutation($id: UUID!) { editKanbanCanon(id: $id, input: {}) { id } }",
            &canon,
        ),
        (
            "mutation($id: UUID!) { editKanbanCanonCard(id: $id, input: {}) { id } }",
            &card,
        ),
    ] {
        let body = app.gql_with(&admin, query, json!({ "id": id })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{query}: {body}");
        assert_eq!(message(&body), NOTHING);
    }
    let after = app
        .scalar_string(&format!(
            r#"SELECT "updatedAt"::text FROM meets WHERE id = '{meet}'"#
        ))
        .await;
    assert_eq!(before, after, "a refused edit must not touch the meet");
}

#[tokio::test]
async fn kanban_texts_have_the_node_backends_lengths() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let create_canon =
        "mutation($i: CreateKanbanCanonInput!) { createKanbanCanon(input: $i) { id } }";
    for (field, input) in [
        ("title", json!({ "title": "x", "description": "Steps" })),
        (
            "title",
            json!({ "title": "x".repeat(65), "description": "Steps" }),
        ),
        (
            "description",
            json!({ "title": "Canon", "description": "ab" }),
        ),
        (
            "description",
            json!({ "title": "Canon", "description": "d".repeat(151) }),
        ),
    ] {
        let body = app
            .gql_with(&admin, create_canon, json!({ "i": input }))
            .await;
        assert_eq!(error_field(&body), field, "{body}");
    }
    let canon = app
        .created_id(
            &admin,
            create_canon,
            json!({ "i": { "title": "Ca", "description": "abc" } }),
        )
        .await;
    let edit = app
        .gql_with(&admin, "mutation($id: UUID!) { editKanbanCanon(id: $id, input: { description: \"ab\" }) { id } }", json!({ "id": canon }))
        .await;
    assert_eq!(error_field(&edit), "description");
    let create_card =
        "mutation($i: CreateKanbanCanonCardInput!) { createKanbanCanonCard(input: $i) { id } }";
    for (field, title, body) in [
        ("title", "x".to_owned(), "Do it".to_owned()),
        ("title", "x".repeat(65), "Do it".to_owned()),
        ("body", "Card".to_owned(), "ab".to_owned()),
        ("body", "Card".to_owned(), "b".repeat(10_001)),
    ] {
        let answer = app
            .gql_with(
                &admin,
                create_card,
                json!({ "i": { "kanbanCanonId": canon, "title": title, "body": body } }),
            )
            .await;
        assert_eq!(error_field(&answer), field, "{answer}");
    }
    let card = app
        .created_id(
            &admin,
            create_card,
            json!({ "i": { "kanbanCanonId": canon, "title": "Ca", "body": "abc" } }),
        )
        .await;
    let edit = app
        .gql_with(
            &admin,
            "mutation($id: UUID!) { editKanbanCanonCard(id: $id, input: { title: \"x\" }) { id } }",
            json!({ "id": card }),
        )
        .await;
    assert_eq!(error_field(&edit), "title");
}

#[tokio::test]
async fn a_legacy_badge_alias_is_accepted_and_stays_editable() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    // A badge carried over from a Node database.
    app.sql(
        r#"INSERT INTO badges (alias, "badgeShape", "faIcon", title) VALUES ('legacy badge', 'star', 'star', 'Legacy')"#,
    )
    .await;
    let badge = app.scalar_string("SELECT id::text FROM badges").await;
    // The frontend's edit form sends the unchanged alias back with every edit.
    let edit = "mutation($id: UUID!, $i: EditBadgeInput!) { editBadge(id: $id, input: $i) { alias title } }";
    let body = app
        .gql_with(
            &admin,
            edit,
            json!({ "id": badge, "i": { "alias": "legacy badge", "title": "Legacy 2" } }),
        )
        .await;
    assert_eq!(
        data(&body)["editBadge"],
        json!({ "alias": "legacy badge", "title": "Legacy 2" })
    );
    let create = "mutation($a: String!) { createBadge(input: { alias: $a, badgeShape: STAR, faIcon: \"star\", title: \"New\" }) { alias } }";
    data(
        &app.gql_with(&admin, create, json!({ "a": "any alias 3-25" }))
            .await,
    );
    for (alias, code) in [("ab", "BAD_USER_INPUT"), ("legacy badge", "BAD_USER_INPUT")] {
        let body = app.gql_with(&admin, create, json!({ "a": alias })).await;
        assert_eq!(error_code(&body), code, "{alias}: {body}");
        assert_eq!(error_field(&body), "alias");
    }
}

#[tokio::test]
async fn registrants_are_ordered_by_first_name() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let meet = app
        .create_workshop(&admin, "2031-06-10T18:00", "2031-06-10T20:00")
        .await;
    for (email, first) in [
        ("z@example.com", "Zoe"),
        ("a@example.com", "Amir"),
        ("m@example.com", "Mia"),
    ] {
        let (user_id, client) = app.user_client(email).await;
        app.sql(&format!(
            r#"UPDATE users SET "firstName" = '{first}' WHERE id = '{user_id}'"#
        ))
        .await;
        app.register_for_meet(&client, &meet).await;
    }
    let body = app
        .gql(
            "query($id: UUID!) { meet(id: $id) { registrants { firstName } } }",
            json!({ "id": meet }),
        )
        .await;
    let names: Vec<&str> = data(&body)["meet"]["registrants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["firstName"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Amir", "Mia", "Zoe"]);
}

#[tokio::test]
async fn session_rules_follow_the_node_backend() {
    let app = TestApp::spawn().await;
    // logout without a session: false.
    let body = app.gql("mutation { logout }", json!({})).await;
    assert_eq!(data(&body)["logout"], false);
    // register while logged in: refused, and the session stays the same account.
    let (user_id, client) = app.user_client("u@example.com").await;
    let register = "mutation { register(input: { email: \"second@example.com\", firstName: \"Sec\", lastName: \"Ond\", password: \"password-1\", passwordConfirmation: \"password-1\" }) { id } }";
    let body = app.gql_with(&client, register, json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    assert_eq!(message(&body), "Already logged in");
    let me = app.gql_with(&client, "{ me { id } }", json!({})).await;
    assert_eq!(data(&me)["me"]["id"], user_id.to_string());
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM users WHERE email = 'second@example.com'")
            .await,
        0
    );
    // login's arguments are checked before any account is (nothing is counted or revealed).
    let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { id } }";
    for (email, password, field) in [
        ("not-an-email", "password-1", "email"),
        ("u@example.com", "x", "password"),
        ("u@example.com", &*"p".repeat(65), "password"),
    ] {
        let body = app
            .gql_with(&new_client(), login, json!({ "e": email, "p": password }))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(error_field(&body), field);
    }
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM login_attempts").await,
        0
    );
}

#[tokio::test]
async fn a_project_for_another_user_needs_an_admin() {
    let app = TestApp::spawn().await;
    let (_, user) = app.user_client("maker@example.com").await;
    let other = app.create_user("other@example.com", false).await;
    let create = "mutation($u: UUID) { createProject(input: { title: \"Snake\", userId: $u, sourceCodeUrl: \"https://a.example\", liveUrl: \"https://b.example\" }) { id userId } }";
    let body = app.gql_with(&user, create, json!({ "u": other })).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    assert_eq!(app.scalar_i64("SELECT count(*) FROM projects").await, 0);
}

#[tokio::test]
async fn unknown_references_of_a_new_kanban_are_not_found() {
    let app = TestApp::spawn().await;
    let (admin_id, admin) = app.admin_client().await;
    let canon = app
        .created_id(&admin, r#"mutation { createKanbanCanon(input: { title: "Canon", description: "Steps" }) { id } }"#, json!({}))
        .await;
    let create = "mutation($i: CreateKanbanInput!) { createKanban(input: $i) { id } }";
    for (input, field) in [
        (
            json!({ "kanbanCanonId": Uuid::new_v4(), "userId": admin_id }),
            "kanbanCanonId",
        ),
        (
            json!({ "kanbanCanonId": canon, "userId": admin_id, "meetId": Uuid::new_v4() }),
            "meetId",
        ),
    ] {
        let body = app.gql_with(&admin, create, json!({ "i": input })).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
        assert!(message(&body).contains(field), "{body}");
    }
    // As registerForMeet does for an unknown meet.
    let body = app
        .gql_with(
            &admin,
            "mutation($id: UUID!) { registerForMeet(meetId: $id) }",
            json!({ "id": Uuid::new_v4() }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
}

#[tokio::test]
async fn users_lists_every_active_user_newest_first_for_admins_only() {
    let app = TestApp::spawn().await;
    let (_, user) = app.user_client("old@example.com").await;
    app.sql(r#"UPDATE users SET "createdAt" = now() - interval '1 day'"#)
        .await;
    let (admin_id, admin) = app.admin_client().await;
    let gone = app.create_user("gone@example.com", false).await;
    app.sql(&format!(
        "UPDATE users SET deleted = true WHERE id = '{gone}'"
    ))
    .await;
    let body = app
        .gql_with(&admin, &document("User.allUsers"), json!({}))
        .await;
    let users = data(&body)["users"].as_array().unwrap().clone();
    assert_eq!(users.len(), 2, "{body}");
    assert_eq!(users[0]["id"], admin_id.to_string());
    assert!(users[0].get("email").is_none());
    let refused = app
        .gql_with(&user, &document("User.allUsers"), json!({}))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
}
