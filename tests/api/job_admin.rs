//! The admin GraphQL for jobs: list with filters and cursors, one job with its attempts,
//! queues, schedules, enqueue / cancel / retry, pause for a while / resume. (Who may use them:
//! the table in `authorization.rs`.)

use serde_json::{Value, json};

use crate::helpers::{TestApp, data, error_code, error_field};

const ENQUEUE: &str = "mutation($kind: String!, $args: JSON, $priority: Int) {
    enqueueJob(kind: $kind, args: $args, priority: $priority) { id kind state priority createdBy args }
}";

async fn enqueue(app: &TestApp, admin: &reqwest::Client, url: &str) -> Value {
    let body = app
        .gql_with(
            admin,
            ENQUEUE,
            json!({ "kind": "link_check", "args": { "url": url }, "priority": 4 }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    data(&body)["enqueueJob"].clone()
}

async fn links_queue(app: &TestApp, admin: &reqwest::Client) -> Value {
    let queues = "{ queues { name available pausedUntil } schedules { name kind enabled } }";
    let body = app.gql_with(admin, queues, json!({})).await;
    assert!(data(&body)["schedules"].is_array(), "{body}");
    data(&body)["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "links")
        .cloned()
        .expect("the links queue")
}

#[tokio::test]
async fn admins_list_inspect_and_steer_jobs() {
    let app = TestApp::spawn().await;
    let (admin_id, admin) = app.admin_client().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let job = enqueue(&app, &admin, &format!("https://s{n}.example/")).await;
        assert_eq!(job["state"], "available");
        assert_eq!(job["priority"], 4);
        assert_eq!(job["createdBy"], format!("user:{admin_id}"));
        ids.push(job["id"].as_str().unwrap().to_owned());
    }
    let bad = app
        .gql_with(
            &admin,
            ENQUEUE,
            json!({ "kind": "link_check", "args": { "url": 5 } }),
        )
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    assert_eq!(error_field(&bad), "args.url");
    let unknown = app
        .gql_with(&admin, ENQUEUE, json!({ "kind": "nope", "args": {} }))
        .await;
    assert_eq!(error_field(&unknown), "kind");

    // Pages of two, newest first, following the cursor.
    let list = "query($after: String) {
        jobs(filter: { kind: \"link_check\", state: [\"available\"] }, first: 2, after: $after) {
            totalCount endCursor nodes { id } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = app.gql_with(&admin, list, json!({ "after": after })).await;
        let page = &data(&body)["jobs"];
        assert_eq!(page["totalCount"], 5);
        seen.extend(
            page["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].clone()),
        );
        after = page["endCursor"].clone();
        if after.is_null() {
            break;
        }
    }
    let newest_first: Vec<Value> = ids.iter().rev().map(|id| json!(id)).collect();
    assert_eq!(seen, newest_first);

    // Cancel, then retry, and the attempts the job shows.
    let cancel = "mutation($id: ID!) { cancelJob(id: $id) { state } }";
    let body = app.gql_with(&admin, cancel, json!({ "id": ids[0] })).await;
    assert_eq!(data(&body)["cancelJob"]["state"], "cancelled");
    let again = app.gql_with(&admin, cancel, json!({ "id": ids[0] })).await;
    assert_eq!(error_code(&again), "CONFLICT");
    let retry = "mutation($id: ID!) { retryJob(id: $id) { state } }";
    let body = app.gql_with(&admin, retry, json!({ "id": ids[0] })).await;
    assert_eq!(data(&body)["retryJob"]["state"], "available");
    let one = "query($id: ID!) { job(id: $id) { id state args attempts { attempt outcome } } }";
    let body = app.gql_with(&admin, one, json!({ "id": ids[1] })).await;
    assert_eq!(data(&body)["job"]["args"]["url"], "https://s1.example/");
    assert_eq!(data(&body)["job"]["attempts"], json!([]));
    let missing = app.gql_with(&admin, one, json!({ "id": "99999" })).await;
    assert!(data(&missing)["job"].is_null());

    // Pause for a minute, see it, resume.
    let pause = "mutation { pauseQueue(queue: \"links\", forSeconds: 60) }";
    assert_eq!(
        data(&app.gql_with(&admin, pause, json!({})).await)["pauseQueue"],
        true
    );
    let links = links_queue(&app, &admin).await;
    assert_eq!(links["available"], 5);
    assert!(links["pausedUntil"].is_string(), "{links}");
    let resume = "mutation { resumeQueue(queue: \"links\") }";
    app.gql_with(&admin, resume, json!({})).await;
    assert!(links_queue(&app, &admin).await["pausedUntil"].is_null());
    let too_long = "mutation { pauseQueue(queue: \"links\", forSeconds: 0) }";
    assert_eq!(
        error_field(&app.gql_with(&admin, too_long, json!({})).await),
        "forSeconds"
    );
}
