//! meets, meet, createMeet, editMeet, deleteMeet, registerForMeet, registrants, registeredMeets.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, data, days_from_now, error_code, error_field};

const CREATE: &str = "mutation($input: CreateMeetInput!) {
    createMeet(input: $input) {
        id meetType title description detailedDescription instructions registerLink
        registerLinkStatus coverImageUrl startTime endTime region kanbanCanonId createdAt updatedAt
    }
}";

fn meet_input() -> Value {
    json!({ "input": {
        "meetType": "WORKSHOP",
        "title": "Intro to Rust",
        "description": "Ownership and borrowing.",
        "detailedDescription": "## Bring a laptop",
        "instructions": "Install rustup first.",
        "registerLink": "https://example.com/register",
        "coverImageUrl": "https://example.com/cover.png",
        "startTime": "2030-03-09T10:00",
        "endTime": "2030-03-09T12:00",
        "region": "America/Toronto"
    }})
}

#[tokio::test]
async fn admins_create_meets_with_wall_clock_times_in_their_region() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let body = app.gql_with(&admin, CREATE, meet_input()).await;
    let meet = &data(&body)["createMeet"];
    assert_eq!(meet["meetType"], "WORKSHOP");
    assert_eq!(meet["startTime"], "2030-03-09T10:00:00.000");
    assert_eq!(meet["endTime"], "2030-03-09T12:00:00.000");
    assert_eq!(meet["region"], "America/Toronto");
    assert_eq!(meet["registerLinkStatus"], "WAITING");
    assert_eq!(meet["registerLink"], "https://example.com/register");
    assert_eq!(meet["detailedDescription"], "## Bring a laptop");
    assert!(meet["kanbanCanonId"].is_null());
    // Stored the Node way: the wall-clock time as if it were UTC.
    let stored = app
        .scalar_string(
            "SELECT to_char(\"startTime\" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM meets",
        )
        .await;
    assert_eq!(stored, "2030-03-09 10:00");
}

#[tokio::test]
async fn only_admins_create_edit_and_delete_meets() {
    let app = TestApp::spawn().await;
    let (_, user) = app.user_client("user@example.com").await;
    let id = app
        .create_meet(
            "M",
            "HACKATHON",
            "2030-01-01T10:00:00",
            "2030-01-03T10:00:00",
            "UTC",
        )
        .await;
    let edit = "mutation($id: UUID!) { editMeet(id: $id, input: { title: \"Renamed\" }) { id } }";
    let delete = "mutation($id: UUID!) { deleteMeet(id: $id) }";
    assert_eq!(
        error_code(&app.gql(CREATE, meet_input()).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        error_code(&app.gql_with(&user, CREATE, meet_input()).await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&app.gql(edit, json!({ "id": id })).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        error_code(&app.gql_with(&user, edit, json!({ "id": id })).await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&app.gql(delete, json!({ "id": id })).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        error_code(&app.gql_with(&user, delete, json!({ "id": id })).await),
        "FORBIDDEN"
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM meets WHERE NOT deleted AND title = 'M'")
            .await,
        1
    );
}

#[tokio::test]
async fn create_meet_validates_its_input() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let cases = [
        ("title", json!("x")),
        ("title", json!("t".repeat(65))),
        ("description", json!("")),
        ("instructions", json!("  ")),
        ("coverImageUrl", json!("not a url")),
        ("registerLink", json!("ftp://example.com")),
        ("startTime", json!("next tuesday")),
        ("startTime", json!("2030-03-09T10:00:00+02:00")),
        ("endTime", json!("2030-02-30T10:00")),
        ("region", json!("Mars/Olympus_Mons")),
    ];
    for (field, value) in cases {
        let mut input = meet_input();
        input["input"][field] = value.clone();
        let body = app.gql_with(&admin, CREATE, input).await;
        assert_eq!(
            error_code(&body),
            "BAD_USER_INPUT",
            "{field}={value}: {body}"
        );
        assert_eq!(error_field(&body), field, "{body}");
    }
    // End must be after start, compared as instants in the region.
    let mut input = meet_input();
    input["input"]["endTime"] = json!("2030-03-09T09:59");
    let body = app.gql_with(&admin, CREATE, input).await;
    assert_eq!(error_field(&body), "endTime");
    // An unknown enum value is rejected by GraphQL itself, still with a code.
    let mut input = meet_input();
    input["input"]["meetType"] = json!("PARTY");
    assert_eq!(
        error_code(&app.gql_with(&admin, CREATE, input).await),
        "BAD_USER_INPUT"
    );
    assert_eq!(app.scalar_i64("SELECT count(*) FROM meets").await, 0);
}

#[tokio::test]
async fn meets_are_listed_newest_first_without_deleted_ones() {
    let app = TestApp::spawn().await;
    let old = app
        .create_meet(
            "Old",
            "LECTURE",
            "2020-01-01T10:00:00",
            "2020-01-01T11:00:00",
            "UTC",
        )
        .await;
    let new = app
        .create_meet(
            "New",
            "WEBINAR",
            "2031-01-01T10:00:00",
            "2031-01-01T11:00:00",
            "Asia/Tokyo",
        )
        .await;
    let gone = app
        .create_meet(
            "Gone",
            "WORKSHOP",
            "2025-01-01T10:00:00",
            "2025-01-01T11:00:00",
            "UTC",
        )
        .await;
    app.sql_values(
        "UPDATE meets SET deleted = true WHERE id = $1",
        vec![gone.into()],
    )
    .await;

    let body = app
        .gql(
            "{ meets { id title meetType registerLinkStatus registerLink } }",
            json!({}),
        )
        .await;
    let meets = data(&body)["meets"].as_array().unwrap().clone();
    let ids: Vec<&str> = meets.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![new.to_string(), old.to_string()]);
    assert_eq!(meets[0]["registerLinkStatus"], "WAITING");
    assert_eq!(meets[1]["registerLinkStatus"], "CLOSED");
    // The register link of a finished meet is hidden, as in the Node backend.
    assert!(meets[1]["registerLink"].is_null());
    assert_eq!(meets[0]["registerLink"], "https://example.com/register");

    let one = app
        .gql(
            "query($id: UUID!) { meet(id: $id) { title } }",
            json!({ "id": new }),
        )
        .await;
    assert_eq!(data(&one)["meet"]["title"], "New");
    for missing in [gone, Uuid::new_v4()] {
        let body = app
            .gql(
                "query($id: UUID!) { meet(id: $id) { title } }",
                json!({ "id": missing }),
            )
            .await;
        assert!(data(&body)["meet"].is_null(), "{body}");
    }
}

#[tokio::test]
async fn register_link_status_is_open_while_the_meet_runs() {
    let app = TestApp::spawn().await;
    app.create_meet(
        "Running",
        "HACKATHON",
        &days_from_now(-1),
        &days_from_now(1),
        "UTC",
    )
    .await;
    let body = app.gql("{ meets { registerLinkStatus } }", json!({})).await;
    assert_eq!(data(&body)["meets"][0]["registerLinkStatus"], "OPEN");
}

#[tokio::test]
async fn register_link_status_uses_the_meet_region() {
    let app = TestApp::spawn().await;
    // Starts in 3 hours by the clock in Kiritimati (UTC+14), which is 11 hours ago in UTC terms.
    let kiribati_now = chrono::Utc::now() + chrono::Duration::hours(14);
    let start = (kiribati_now + chrono::Duration::hours(3))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let end = (kiribati_now + chrono::Duration::hours(5))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    app.create_meet(
        "Island time",
        "WORKSHOP",
        &start,
        &end,
        "Pacific/Kiritimati",
    )
    .await;
    let body = app.gql("{ meets { registerLinkStatus } }", json!({})).await;
    assert_eq!(data(&body)["meets"][0]["registerLinkStatus"], "WAITING");
}

#[tokio::test]
async fn edit_meet_changes_only_the_given_fields() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let created = app.gql_with(&admin, CREATE, meet_input()).await;
    let id = data(&created)["createMeet"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let edit = "mutation($id: UUID!, $input: EditMeetInput!) {
        editMeet(id: $id, input: $input) { title description startTime endTime region meetType detailedDescription registerLink updatedAt }
    }";
    let body = app
        .gql_with(&admin, edit, json!({ "id": id, "input": { "title": "Advanced Rust", "meetType": "LECTURE", "detailedDescription": null } }))
        .await;
    let meet = &data(&body)["editMeet"];
    assert_eq!(meet["title"], "Advanced Rust");
    assert_eq!(meet["meetType"], "LECTURE");
    assert_eq!(meet["description"], "Ownership and borrowing.");
    assert_eq!(meet["startTime"], "2030-03-09T10:00:00.000");
    assert!(
        meet["detailedDescription"].is_null(),
        "null clears a nullable field"
    );
    assert_eq!(
        meet["registerLink"], "https://example.com/register",
        "absent leaves it alone"
    );
    assert_ne!(meet["updatedAt"], data(&created)["createMeet"]["updatedAt"]);

    let body = app
        .gql_with(&admin, edit, json!({ "id": id, "input": { "startTime": "2030-03-09T13:00", "endTime": "2030-03-10T13:00", "region": "Europe/Paris" } }))
        .await;
    let meet = &data(&body)["editMeet"];
    assert_eq!(meet["startTime"], "2030-03-09T13:00:00.000");
    assert_eq!(meet["region"], "Europe/Paris");

    // A new start after the existing end is refused, naming endTime.
    let body = app
        .gql_with(
            &admin,
            edit,
            json!({ "id": id, "input": { "startTime": "2030-03-11T13:00" } }),
        )
        .await;
    assert_eq!(error_field(&body), "endTime");
    for (field, value) in [
        ("region", json!("Nowhere/Special")),
        ("title", json!("")),
        ("coverImageUrl", json!("x")),
        ("kanbanCanonId", json!(Uuid::new_v4())),
    ] {
        let body = app
            .gql_with(&admin, edit, json!({ "id": id, "input": { field: value } }))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(error_field(&body), field);
    }
    let missing = app
        .gql_with(
            &admin,
            edit,
            json!({ "id": Uuid::new_v4(), "input": { "title": "Nope nope" } }),
        )
        .await;
    assert_eq!(error_code(&missing), "NOT_FOUND");
}

#[tokio::test]
async fn delete_meet_hides_it_everywhere() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let (user_id, user) = app.user_client("user@example.com").await;
    let id = app
        .create_meet(
            "Doomed",
            "HACKATHON",
            "2030-01-01T10:00:00",
            "2030-01-03T10:00:00",
            "UTC",
        )
        .await;
    data(
        &app.gql_with(
            &user,
            "mutation($id: UUID!) { registerForMeet(meetId: $id) }",
            json!({ "id": id }),
        )
        .await,
    );

    let body = app
        .gql_with(
            &admin,
            "mutation($id: UUID!) { deleteMeet(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data(&body)["deleteMeet"], true);
    assert_eq!(
        data(&app.gql("{ meets { id } }", json!({})).await)["meets"],
        json!([])
    );
    let registered = app
        .gql(
            "query($id: UUID!) { user(id: $id) { registeredMeets { id } } }",
            json!({ "id": user_id }),
        )
        .await;
    assert_eq!(data(&registered)["user"]["registeredMeets"], json!([]));
    // The row is kept (soft delete); deleting again is NOT_FOUND.
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM meets WHERE deleted")
            .await,
        1
    );
    let again = app
        .gql_with(
            &admin,
            "mutation($id: UUID!) { deleteMeet(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&again), "NOT_FOUND");
}

#[tokio::test]
async fn users_register_for_meets_once() {
    let app = TestApp::spawn().await;
    let (user_id, user) = app.user_client("user@example.com").await;
    let meet = app
        .create_meet(
            "Jam",
            "HACKATHON",
            "2030-01-01T10:00:00",
            "2030-01-03T10:00:00",
            "UTC",
        )
        .await;
    let register = "mutation($id: UUID!) { registerForMeet(meetId: $id) }";

    assert_eq!(
        error_code(&app.gql(register, json!({ "id": meet })).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        data(&app.gql_with(&user, register, json!({ "id": meet })).await)["registerForMeet"],
        true
    );
    let again = app.gql_with(&user, register, json!({ "id": meet })).await;
    assert_eq!(error_code(&again), "BAD_USER_INPUT");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM \"meetRegistrations\"")
            .await,
        1
    );

    let missing = app
        .gql_with(&user, register, json!({ "id": Uuid::new_v4() }))
        .await;
    assert_eq!(error_code(&missing), "NOT_FOUND");
    let deleted = app
        .create_meet(
            "Deleted",
            "WORKSHOP",
            "2030-01-01T10:00:00",
            "2030-01-01T12:00:00",
            "UTC",
        )
        .await;
    app.sql_values(
        "UPDATE meets SET deleted = true WHERE id = $1",
        vec![deleted.into()],
    )
    .await;
    assert_eq!(
        error_code(
            &app.gql_with(&user, register, json!({ "id": deleted }))
                .await
        ),
        "NOT_FOUND"
    );

    // A registration that was soft-deleted can be made again.
    app.sql("UPDATE \"meetRegistrations\" SET deleted = true")
        .await;
    data(&app.gql_with(&user, register, json!({ "id": meet })).await);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM \"meetRegistrations\" WHERE NOT deleted")
            .await,
        1
    );

    let registrants = app
        .gql(
            "query($id: UUID!) { meet(id: $id) { registrants { id firstName } } }",
            json!({ "id": meet }),
        )
        .await;
    assert_eq!(
        data(&registrants)["meet"]["registrants"],
        json!([{ "id": user_id.to_string(), "firstName": "Test" }])
    );
    let mine = app
        .gql_with(&user, "{ me { registeredMeets { title } } }", json!({}))
        .await;
    assert_eq!(
        data(&mine)["me"]["registeredMeets"],
        json!([{ "title": "Jam" }])
    );
}
