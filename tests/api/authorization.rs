//! Every mutation and every restricted query, sent as an anonymous visitor, as a plain user who
//! owns the records involved, and as another plain user. The table must name every field of the
//! schema's Mutation and Query types, so a new field without a rule fails here.

use std::collections::BTreeSet;

use reqwest::Client;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, data, new_client};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Unauthenticated,
    Forbidden,
    /// Neither UNAUTHENTICATED nor FORBIDDEN (the operation may still fail for other reasons).
    Allowed,
}

use Expect::{Allowed, Forbidden, Unauthenticated};

/// Who may use a field: the expected answer for (anonymous, owner, another user).
#[derive(Clone, Copy, Debug)]
enum Access {
    /// Anyone, logged in or not.
    Public,
    LoggedIn,
    /// The owner of the record (the "plain user" here) or an admin.
    OwnerOrAdmin,
    AdminOnly,
}

impl Access {
    fn expected(self) -> [Expect; 3] {
        match self {
            Access::Public => [Allowed, Allowed, Allowed],
            Access::LoggedIn => [Unauthenticated, Allowed, Allowed],
            Access::OwnerOrAdmin => [Unauthenticated, Allowed, Forbidden],
            Access::AdminOnly => [Unauthenticated, Forbidden, Forbidden],
        }
    }
}

/// The records the documents refer to. The plain user owns the project and the boards.
struct Fixtures {
    user_id: Uuid,
    meet: String,
    other_meet: String,
    canon: String,
    card: String,
    board: String,
    spare_board: String,
    project: String,
    spare_project: String,
    badge: String,
}

async fn create(app: &TestApp, client: &Client, query: &str, variables: Value) -> String {
    app.created_id(client, query, variables).await
}

const NEW_PROJECT: &str = "mutation($m: UUID) { createProject(input: { title: \"P\", meetId: $m, sourceCodeUrl: \"https://a.example\", liveUrl: \"https://b.example\" }) { id } }";
const NEW_BOARD: &str = "mutation($c: UUID!, $u: UUID!, $m: UUID) { createKanban(input: { kanbanCanonId: $c, userId: $u, meetId: $m }) { id } }";

async fn fixtures(app: &TestApp, admin: &Client, user: &Client, user_id: Uuid) -> Fixtures {
    let meet = app
        .create_meet(
            "A meet",
            "hackathon",
            "2030-01-01T10:00:00",
            "2030-01-02T10:00:00",
            "UTC",
        )
        .await
        .to_string();
    let other_meet = app
        .create_meet(
            "Another",
            "workshop",
            "2030-02-01T10:00:00",
            "2030-02-01T12:00:00",
            "UTC",
        )
        .await
        .to_string();
    let canon = create(
        app,
        admin,
        "mutation { createKanbanCanon(input: { title: \"Canon\", description: \"Plan\" }) { id } }",
        json!({}),
    )
    .await;
    let card = create(
        app,
        admin,
        "mutation($c: UUID!) { createKanbanCanonCard(input: { kanbanCanonId: $c, title: \"Card\", body: \"Body\" }) { id } }",
        json!({ "c": canon }),
    )
    .await;
    let board = create(
        app,
        user,
        NEW_BOARD,
        json!({ "c": canon, "u": user_id, "m": meet }),
    )
    .await;
    let spare_board = create(app, user, NEW_BOARD, json!({ "c": canon, "u": user_id })).await;
    let project = create(app, user, NEW_PROJECT, json!({ "m": meet })).await;
    let spare_project = create(app, user, NEW_PROJECT, json!({})).await;
    let badge = create(
        app,
        admin,
        "mutation { createBadge(input: { alias: \":b:\", badgeShape: STAR, faIcon: \"star\", title: \"Badge\" }) { id } }",
        json!({}),
    )
    .await;
    Fixtures {
        user_id,
        meet,
        other_meet,
        canon,
        card,
        board,
        spare_board,
        project,
        spare_project,
        badge,
    }
}

/// (field, access, document, variables). Rules that change what later rules use come last.
fn rules(f: &Fixtures) -> Vec<(&'static str, Access, &'static str, Value)> {
    let meet_input = json!({ "meetType": "WORKSHOP", "title": "Meet", "description": "About it",
        "instructions": "Do it", "coverImageUrl": "https://example.com/c.png",
        "startTime": "2031-01-01T10:00", "endTime": "2031-01-01T12:00", "region": "UTC" });
    let position = json!({ "cardId": f.card, "status": "WIP", "index": 0 });
    vec![
        (
            "login",
            Access::Public,
            "mutation($p: String!) { login(email: \"owner@example.com\", password: $p) { id } }",
            json!({ "p": PASSWORD }),
        ),
        ("logout", Access::Public, "mutation { logout }", json!({})),
        (
            "register",
            Access::Public,
            "mutation { register(input: { email: \"bad\", firstName: \"A\", lastName: \"B\", password: \"secret1\", passwordConfirmation: \"secret1\" }) { id } }",
            json!({}),
        ),
        (
            "sendContactFormEmail",
            Access::Public,
            "mutation { sendContactFormEmail(input: { subject: \"Hi\", html: \"<p>Hello</p>\" }) { status } }",
            json!({}),
        ),
        (
            "createMeet",
            Access::AdminOnly,
            "mutation($i: CreateMeetInput!) { createMeet(input: $i) { id } }",
            json!({ "i": meet_input }),
        ),
        (
            "editMeet",
            Access::AdminOnly,
            "mutation($id: UUID!) { editMeet(id: $id, input: { title: \"Renamed\" }) { id } }",
            json!({ "id": f.meet }),
        ),
        (
            "deleteMeet",
            Access::AdminOnly,
            "mutation($id: UUID!) { deleteMeet(id: $id) }",
            json!({ "id": f.other_meet }),
        ),
        (
            "registerForMeet",
            Access::LoggedIn,
            "mutation($id: UUID!) { registerForMeet(meetId: $id) }",
            json!({ "id": f.meet }),
        ),
        ("createProject", Access::LoggedIn, NEW_PROJECT, json!({})),
        (
            "createBadge",
            Access::AdminOnly,
            "mutation { createBadge(input: { alias: \":new:\", badgeShape: CIRCLE, faIcon: \"x\", title: \"New\" }) { id } }",
            json!({}),
        ),
        (
            "editBadge",
            Access::AdminOnly,
            "mutation($id: UUID!) { editBadge(id: $id, input: { weight: 3 }) { id } }",
            json!({ "id": f.badge }),
        ),
        (
            "awardBadgesToProject",
            Access::AdminOnly,
            "mutation($p: UUID!, $b: UUID!) { awardBadgesToProject(projectId: $p, badgeIds: [$b]) { id } }",
            json!({ "p": f.project, "b": f.badge }),
        ),
        (
            "deleteBadge",
            Access::AdminOnly,
            "mutation($id: UUID!) { deleteBadge(id: $id) }",
            json!({ "id": f.badge }),
        ),
        (
            "createKanbanCanon",
            Access::AdminOnly,
            "mutation { createKanbanCanon(input: { title: \"Canon 2\", description: \"Plan\" }) { id } }",
            json!({}),
        ),
        (
            "editKanbanCanon",
            Access::AdminOnly,
            "mutation($id: UUID!) { editKanbanCanon(id: $id, input: { title: \"Renamed\" }) { id } }",
            json!({ "id": f.canon }),
        ),
        (
            "createKanbanCanonCard",
            Access::AdminOnly,
            "mutation($c: UUID!) { createKanbanCanonCard(input: { kanbanCanonId: $c, title: \"Card 2\", body: \"Body\" }) { id } }",
            json!({ "c": f.canon }),
        ),
        (
            "editKanbanCanonCard",
            Access::AdminOnly,
            "mutation($id: UUID!) { editKanbanCanonCard(id: $id, input: { title: \"Renamed\" }) { id } }",
            json!({ "id": f.card }),
        ),
        (
            "updateKanbanCanonCardPositions",
            Access::AdminOnly,
            "mutation($id: UUID!, $p: UpdateCardPositionInput!) { updateKanbanCanonCardPositions(id: $id, input: $p) { todo } }",
            json!({ "id": f.canon, "p": position }),
        ),
        (
            "createKanban",
            Access::OwnerOrAdmin,
            NEW_BOARD,
            json!({ "c": f.canon, "u": f.user_id, "m": f.other_meet }),
        ),
        (
            "updateKanbanCardPositions",
            Access::OwnerOrAdmin,
            "mutation($id: UUID!, $p: UpdateCardPositionInput!) { updateKanbanCardPositions(id: $id, input: $p) { todo } }",
            json!({ "id": f.board, "p": position }),
        ),
        (
            "deleteKanban",
            Access::OwnerOrAdmin,
            "mutation($id: UUID!) { deleteKanban(id: $id) }",
            json!({ "id": f.spare_board }),
        ),
        (
            "enqueueJob",
            Access::AdminOnly,
            "mutation { enqueueJob(kind: \"link_check\", args: { url: \"https://a.example/\" }) { id } }",
            json!({}),
        ),
        (
            "invokeEvent",
            Access::AdminOnly,
            "mutation($id: UUID!) { invokeEvent(table: \"meets\", id: $id) { eventId } }",
            json!({ "id": f.meet }),
        ),
        (
            "cancelJob",
            Access::AdminOnly,
            "mutation { cancelJob(id: \"1\") { id } }",
            json!({}),
        ),
        ("users", Access::AdminOnly, "{ users { id } }", json!({})),
        (
            "queueActivity",
            Access::AdminOnly,
            "{ queueActivity { queue } }",
            json!({}),
        ),
        ("jobKinds", Access::AdminOnly, "{ jobKinds }", json!({})),
        ("events", Access::AdminOnly, "{ events { id } }", json!({})),
        (
            "event",
            Access::AdminOnly,
            "query($id: UUID!) { event(id: $id) { id } }",
            json!({ "id": Uuid::new_v4() }),
        ),
        (
            "emailStatus",
            Access::AdminOnly,
            "{ emailStatus { queued } }",
            json!({}),
        ),
        (
            "retryFailedEmails",
            Access::AdminOnly,
            "mutation { retryFailedEmails }",
            json!({}),
        ),
        (
            "redeliverWebhook",
            Access::AdminOnly,
            "mutation { redeliverWebhook(jobId: \"1\") { id } }",
            json!({}),
        ),
        (
            "retryJob",
            Access::AdminOnly,
            "mutation { retryJob(id: \"1\") { id } }",
            json!({}),
        ),
        (
            "pauseQueue",
            Access::AdminOnly,
            "mutation { pauseQueue(queue: \"q\", forSeconds: 5) }",
            json!({}),
        ),
        (
            "resumeQueue",
            Access::AdminOnly,
            "mutation { resumeQueue(queue: \"q\") }",
            json!({}),
        ),
        (
            "addWebhookEndpoint",
            Access::AdminOnly,
            "mutation { addWebhookEndpoint(url: \"https://hooks.example/\") { secret } }",
            json!({}),
        ),
        (
            "removeWebhookEndpoint",
            Access::AdminOnly,
            "mutation($id: ID!) { removeWebhookEndpoint(id: $id) }",
            json!({ "id": Uuid::new_v4() }),
        ),
        (
            "setWebhookEndpointEnabled",
            Access::AdminOnly,
            "mutation($id: ID!) { setWebhookEndpointEnabled(id: $id, enabled: false) { id } }",
            json!({ "id": Uuid::new_v4() }),
        ),
        (
            "jobs",
            Access::AdminOnly,
            "{ jobs { totalCount } }",
            json!({}),
        ),
        (
            "job",
            Access::AdminOnly,
            "{ job(id: \"1\") { id } }",
            json!({}),
        ),
        (
            "queues",
            Access::AdminOnly,
            "{ queues { name } }",
            json!({}),
        ),
        (
            "schedules",
            Access::AdminOnly,
            "{ schedules { name } }",
            json!({}),
        ),
        (
            "webhookEndpoints",
            Access::AdminOnly,
            "{ webhookEndpoints { id } }",
            json!({}),
        ),
        (
            "checkProjectLinks",
            Access::AdminOnly,
            "mutation($id: UUID!) { checkProjectLinks(projectId: $id) { id } }",
            json!({ "id": f.project }),
        ),
        (
            "deleteProject",
            Access::OwnerOrAdmin,
            "mutation($id: UUID!) { deleteProject(id: $id) }",
            json!({ "id": f.spare_project }),
        ),
        (
            "deleteKanbanCanonCard",
            Access::AdminOnly,
            "mutation($id: UUID!) { deleteKanbanCanonCard(id: $id) }",
            json!({ "id": f.card }),
        ),
        // Restricted queries.
        ("me", Access::LoggedIn, "{ me { id } }", json!({})),
        (
            "kanban",
            Access::OwnerOrAdmin,
            "query($id: UUID!) { kanban(id: $id) { id } }",
            json!({ "id": f.board }),
        ),
        (
            "kanbans",
            Access::OwnerOrAdmin,
            "query($u: UUID!) { kanbans(userId: $u) { id } }",
            json!({ "u": f.user_id }),
        ),
        // Public queries.
        (
            "user",
            Access::Public,
            "query($id: UUID!) { user(id: $id) { id } }",
            json!({ "id": f.user_id }),
        ),
        ("badges", Access::Public, "{ badges { id } }", json!({})),
        (
            "badge",
            Access::Public,
            "query($id: UUID!) { badge(id: $id) { id } }",
            json!({ "id": f.badge }),
        ),
        (
            "kanbanCanon",
            Access::Public,
            "query($id: UUID!) { kanbanCanon(id: $id) { id } }",
            json!({ "id": f.canon }),
        ),
        (
            "kanbanCanons",
            Access::Public,
            "{ kanbanCanons { id } }",
            json!({}),
        ),
        (
            "kanbanCanonCard",
            Access::Public,
            "query($id: UUID!) { kanbanCanonCard(id: $id) { id } }",
            json!({ "id": f.card }),
        ),
        (
            "kanbanCanonCards",
            Access::Public,
            "query($id: UUID!) { kanbanCanonCards(kanbanCanonId: $id) { id } }",
            json!({ "id": f.canon }),
        ),
        (
            "meet",
            Access::Public,
            "query($id: UUID!) { meet(id: $id) { id kanban { id } } }",
            json!({ "id": f.meet }),
        ),
        ("meets", Access::Public, "{ meets { id } }", json!({})),
        ("posts", Access::Public, "{ posts { id } }", json!({})),
        (
            "post",
            Access::Public,
            "query($id: UUID!) { post(id: $id) { id } }",
            json!({ "id": Uuid::new_v4() }),
        ),
        ("projects", Access::Public, "{ projects { id } }", json!({})),
        (
            "project",
            Access::Public,
            "query($id: UUID!) { project(id: $id) { id } }",
            json!({ "id": f.project }),
        ),
    ]
}

fn answer(body: &Value) -> Expect {
    let codes: Vec<&str> = body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["extensions"]["code"].as_str())
                .collect()
        })
        .unwrap_or_default();
    if codes.contains(&"UNAUTHENTICATED") {
        Unauthenticated
    } else if codes.contains(&"FORBIDDEN") {
        Forbidden
    } else {
        Allowed
    }
}

async fn schema_fields(app: &TestApp, root: &str) -> BTreeSet<String> {
    let query = format!("{{ __type(name: \"{root}\") {{ fields {{ name }} }} }}");
    let body = app.gql(&query, json!({})).await;
    data(&body)["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_field_enforces_its_rule_for_every_kind_of_caller() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let (user_id, user) = app.user_client("owner@example.com").await;
    let (_, other) = app.user_client("other@example.com").await;
    let fixtures = fixtures(&app, &admin, &user, user_id).await;
    let table = rules(&fixtures);

    let named: BTreeSet<String> = table
        .iter()
        .map(|(field, ..)| (*field).to_owned())
        .collect();
    let mut served = schema_fields(&app, "Mutation").await;
    served.extend(schema_fields(&app, "Query").await);
    assert_eq!(
        served, named,
        "every Query and Mutation field needs a row in this table"
    );

    let mut wrong = Vec::new();
    for (field, access, document, variables) in &table {
        // Public fields may change the session (login, logout): a fresh client each time.
        let callers: [Client; 3] = match access {
            Access::Public => [new_client(), new_client(), new_client()],
            _ => [new_client(), other.clone(), user.clone()],
        };
        // Anonymous and the other user first: a refused call must not change anything the
        // owner's call then relies on.
        let [anonymous_expect, owner_expect, other_expect] = access.expected();
        for (client, who, expected) in [
            (&callers[0], "anonymous", anonymous_expect),
            (&callers[1], "another user", other_expect),
            (&callers[2], "the owner", owner_expect),
        ] {
            let body = app.gql_with(client, document, variables.clone()).await;
            let got = answer(&body);
            if got != expected {
                wrong.push(format!(
                    "{field} as {who}: expected {expected:?}, got {body}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
