//! Kanban canons, canon cards, users' boards, Meet.kanban / Meet.kanbanCanon.

use std::collections::HashSet;

use reqwest::Client;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, data, error_code, error_field};

const CREATE_CANON: &str = "mutation($input: CreateKanbanCanonInput!) {
    createKanbanCanon(input: $input) { id title description cardPositions { todo wip done } createdAt updatedAt kanbanCanonCards { id } }
}";
const CREATE_CARD: &str = "mutation($input: CreateKanbanCanonCardInput!) {
    createKanbanCanonCard(input: $input) { id title body kanbanCanonId createdAt updatedAt }
}";
const CANON_POSITIONS: &str =
    "query($id: UUID!) { kanbanCanon(id: $id) { cardPositions { todo wip done } } }";
const MOVE_ON_CANON: &str = "mutation($id: UUID!, $input: UpdateCardPositionInput!) {
    updateKanbanCanonCardPositions(id: $id, input: $input) { todo wip done }
}";
const CREATE_BOARD: &str = "mutation($input: CreateKanbanInput!) {
    createKanban(input: $input) { id title description kanbanCanonId userId meetId cardPositions { todo wip done } kanbanCards { id } createdAt updatedAt }
}";
const MOVE_ON_BOARD: &str = "mutation($id: UUID!, $input: UpdateCardPositionInput!) {
    updateKanbanCardPositions(id: $id, input: $input) { todo wip done }
}";
const BOARD_POSITIONS: &str =
    "query($id: UUID!) { kanban(id: $id) { cardPositions { todo wip done } } }";

fn ids(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The three columns of a positions object.
fn columns(positions: &Value) -> [Vec<String>; 3] {
    [
        ids(&positions["todo"]),
        ids(&positions["wip"]),
        ids(&positions["done"]),
    ]
}

struct Canon {
    id: String,
    cards: Vec<String>,
}

/// A canon with `n` cards, all in TODO in creation order.
async fn canon_with_cards(app: &TestApp, admin: &Client, n: usize) -> Canon {
    let body = app
        .gql_with(
            admin,
            CREATE_CANON,
            json!({ "input": { "title": "Build a todo app", "description": "Step by step" } }),
        )
        .await;
    let id = data(&body)["createKanbanCanon"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut cards = Vec::new();
    for i in 0..n {
        let body = app
            .gql_with(admin, CREATE_CARD, json!({ "input": { "kanbanCanonId": id, "title": format!("Card {i}"), "body": "Do it" } }))
            .await;
        cards.push(
            data(&body)["createKanbanCanonCard"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    Canon { id, cards }
}

async fn board_for(
    app: &TestApp,
    client: &Client,
    canon: &str,
    user: Uuid,
    meet: Option<Uuid>,
) -> String {
    let body = app
        .gql_with(
            client,
            CREATE_BOARD,
            json!({ "input": { "kanbanCanonId": canon, "userId": user, "meetId": meet } }),
        )
        .await;
    data(&body)["createKanban"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn board_columns(app: &TestApp, client: &Client, board: &str) -> [Vec<String>; 3] {
    let body = app
        .gql_with(client, BOARD_POSITIONS, json!({ "id": board }))
        .await;
    columns(&data(&body)["kanban"]["cardPositions"])
}

#[tokio::test]
async fn admins_build_canons_with_ordered_cards() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let canon = canon_with_cards(&app, &admin, 3).await;
    let c = &canon.cards;
    let body = app.gql(CANON_POSITIONS, json!({ "id": canon.id })).await;
    assert_eq!(
        columns(&data(&body)["kanbanCanon"]["cardPositions"]),
        [c.clone(), vec![], vec![]]
    );

    // Created at a given column and index.
    let body = app
        .gql_with(&admin, CREATE_CARD, json!({ "input": { "kanbanCanonId": canon.id, "title": "Urgent", "body": "now", "status": "TODO", "index": 0 } }))
        .await;
    let urgent = data(&body)["createKanbanCanonCard"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = app
        .gql_with(&admin, CREATE_CARD, json!({ "input": { "kanbanCanonId": canon.id, "title": "Started", "body": "wip", "status": "WIP", "index": 40 } }))
        .await;
    let started = data(&body)["createKanbanCanonCard"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = app.gql(CANON_POSITIONS, json!({ "id": canon.id })).await;
    assert_eq!(
        columns(&data(&body)["kanbanCanon"]["cardPositions"]),
        [
            vec![urgent.clone(), c[0].clone(), c[1].clone(), c[2].clone()],
            vec![started.clone()],
            vec![]
        ]
    );

    // Editing status/index moves the card; the card row's status follows.
    let edit = "mutation($id: UUID!, $input: EditKanbanCanonCardInput!) { editKanbanCanonCard(id: $id, input: $input) { title body } }";
    let body = app
        .gql_with(
            &admin,
            edit,
            json!({ "id": c[1], "input": { "status": "DONE", "title": "Renamed" } }),
        )
        .await;
    assert_eq!(data(&body)["editKanbanCanonCard"]["title"], "Renamed");
    app.gql_with(
        &admin,
        edit,
        json!({ "id": urgent, "input": { "index": 2 } }),
    )
    .await;
    let body = app.gql(CANON_POSITIONS, json!({ "id": canon.id })).await;
    assert_eq!(
        columns(&data(&body)["kanbanCanon"]["cardPositions"]),
        [
            vec![c[0].clone(), c[2].clone(), urgent.clone()],
            vec![started.clone()],
            vec![c[1].clone()]
        ]
    );
    assert_eq!(
        app.scalar_string(&format!(
            "SELECT status FROM \"kanbanCanonCards\" WHERE id = '{}'",
            c[1]
        ))
        .await,
        "DONE"
    );

    // Reads.
    // Looked up with the wrong kind of id: nothing there.
    let body = app
        .gql("query($id: UUID!) { kanbanCanonCards(kanbanCanonId: $id) { id } kanbanCanonCard(id: $id) { id } kanbanCanon(id: $id) { id } }", json!({ "id": canon.id }))
        .await;
    assert_eq!(data(&body)["kanbanCanonCards"].as_array().unwrap().len(), 5);
    assert!(data(&body)["kanbanCanonCard"].is_null() && !data(&body)["kanbanCanon"].is_null());
    let body = app
        .gql("query($id: UUID!) { kanbanCanonCards(kanbanCanonId: $id) { id } kanbanCanon(id: $id) { id } }", json!({ "id": c[0] }))
        .await;
    assert_eq!(data(&body)["kanbanCanonCards"], json!([]));
    assert!(data(&body)["kanbanCanon"].is_null());
    let body = app
        .gql("query($id: UUID!, $card: UUID!) { kanbanCanons { id } kanbanCanonCards(kanbanCanonId: $id) { id } kanbanCanonCard(id: $card) { title kanbanCanonId } kanbanCanon(id: $id) { title kanbanCanonCards { id } } }", json!({ "id": canon.id, "card": c[0] }))
        .await;
    let d = data(&body);
    assert_eq!(d["kanbanCanons"].as_array().unwrap().len(), 1);
    assert_eq!(d["kanbanCanonCards"].as_array().unwrap().len(), 5);
    assert_eq!(d["kanbanCanonCard"]["kanbanCanonId"], canon.id);
    assert_eq!(
        d["kanbanCanon"]["kanbanCanonCards"]
            .as_array()
            .unwrap()
            .len(),
        5
    );

    let edit_canon = "mutation($id: UUID!) { editKanbanCanon(id: $id, input: { title: \"Ship a todo app\" }) { title description } }";
    let body = app
        .gql_with(&admin, edit_canon, json!({ "id": canon.id }))
        .await;
    assert_eq!(
        data(&body)["editKanbanCanon"],
        json!({ "title": "Ship a todo app", "description": "Step by step" })
    );
}

#[tokio::test]
async fn canon_moves_validate_index_and_card() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let canon = canon_with_cards(&app, &admin, 3).await;
    let other = canon_with_cards(&app, &admin, 1).await;
    let c = &canon.cards;
    let body = app
        .gql_with(
            &admin,
            MOVE_ON_CANON,
            json!({ "id": canon.id, "input": { "cardId": c[0], "status": "WIP", "index": 99 } }),
        )
        .await;
    assert_eq!(
        columns(&data(&body)["updateKanbanCanonCardPositions"]),
        [vec![c[1].clone(), c[2].clone()], vec![c[0].clone()], vec![]]
    );
    let body = app
        .gql_with(
            &admin,
            MOVE_ON_CANON,
            json!({ "id": canon.id, "input": { "cardId": c[2], "status": "TODO", "index": 0 } }),
        )
        .await;
    assert_eq!(
        ids(&data(&body)["updateKanbanCanonCardPositions"]["todo"]),
        vec![c[2].clone(), c[1].clone()]
    );

    let negative = app
        .gql_with(
            &admin,
            MOVE_ON_CANON,
            json!({ "id": canon.id, "input": { "cardId": c[2], "status": "TODO", "index": -1 } }),
        )
        .await;
    assert_eq!(error_field(&negative), "index");
    let foreign = app
        .gql_with(&admin, MOVE_ON_CANON, json!({ "id": canon.id, "input": { "cardId": other.cards[0], "status": "TODO", "index": 0 } }))
        .await;
    assert_eq!(error_field(&foreign), "cardId");
    let unknown = app
        .gql_with(&admin, MOVE_ON_CANON, json!({ "id": Uuid::new_v4(), "input": { "cardId": c[0], "status": "TODO", "index": 0 } }))
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND");
    let bad_create = app
        .gql_with(&admin, CREATE_CARD, json!({ "input": { "kanbanCanonId": canon.id, "title": "Card", "body": "Do it", "index": -3 } }))
        .await;
    assert_eq!(error_field(&bad_create), "index");
    let missing_canon = app
        .gql_with(
            &admin,
            CREATE_CARD,
            json!({ "input": { "kanbanCanonId": Uuid::new_v4(), "title": "Card", "body": "Do it" } }),
        )
        .await;
    assert_eq!(error_field(&missing_canon), "kanbanCanonId");
    for (field, input) in [
        ("title", json!({ "title": "", "description": "d" })),
        ("description", json!({ "title": "Tt", "description": " " })),
    ] {
        let body = app
            .gql_with(&admin, CREATE_CANON, json!({ "input": input }))
            .await;
        assert_eq!(error_field(&body), field);
    }
}

#[tokio::test]
async fn canon_mutations_are_admin_only() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let (_, user) = app.user_client("user@example.com").await;
    let canon = canon_with_cards(&app, &admin, 1).await;
    let card = &canon.cards[0];
    let mutations = [
        (
            CREATE_CANON,
            json!({ "input": { "title": "t", "description": "d" } }),
        ),
        (
            "mutation($id: UUID!) { editKanbanCanon(id: $id, input: { title: \"t\" }) { id } }",
            json!({ "id": canon.id }),
        ),
        (
            CREATE_CARD,
            json!({ "input": { "kanbanCanonId": canon.id, "title": "Card", "body": "Do it" } }),
        ),
        (
            "mutation($id: UUID!) { editKanbanCanonCard(id: $id, input: { title: \"t\" }) { id } }",
            json!({ "id": card }),
        ),
        (
            "mutation($id: UUID!) { deleteKanbanCanonCard(id: $id) }",
            json!({ "id": card }),
        ),
        (
            MOVE_ON_CANON,
            json!({ "id": canon.id, "input": { "cardId": card, "status": "DONE", "index": 0 } }),
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
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM \"kanbanCanonCards\" WHERE NOT deleted AND status = 'TODO'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn users_create_their_own_boards_once() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let (alice_id, alice) = app.user_client("alice@example.com").await;
    let (bob_id, _bob) = app.user_client("bob@example.com").await;
    let canon = canon_with_cards(&app, &admin, 2).await;
    let meet = app
        .create_meet(
            "Jam",
            "HACKATHON",
            "2030-01-01T10:00:00",
            "2030-01-03T10:00:00",
            "UTC",
        )
        .await;

    let body = app
        .gql_with(
            &alice,
            CREATE_BOARD,
            json!({ "input": { "kanbanCanonId": canon.id, "userId": alice_id, "meetId": meet } }),
        )
        .await;
    let board = &data(&body)["createKanban"];
    assert_eq!(board["title"], "Build a todo app");
    assert_eq!(board["description"], "Step by step");
    assert_eq!(board["userId"], alice_id.to_string());
    assert_eq!(board["meetId"], meet.to_string());
    assert_eq!(
        columns(&board["cardPositions"]),
        [canon.cards.clone(), vec![], vec![]]
    );
    assert_eq!(board["kanbanCards"].as_array().unwrap().len(), 2);

    let input = |user: Uuid, meet: Option<Uuid>, canon_id: &str| json!({ "input": { "kanbanCanonId": canon_id, "userId": user, "meetId": meet } });
    // Same canon, user and meet again; and the no-meet board twice.
    assert_eq!(
        error_code(
            &app.gql_with(&alice, CREATE_BOARD, input(alice_id, Some(meet), &canon.id))
                .await
        ),
        "BAD_USER_INPUT"
    );
    data(
        &app.gql_with(&alice, CREATE_BOARD, input(alice_id, None, &canon.id))
            .await,
    );
    assert_eq!(
        error_code(
            &app.gql_with(&alice, CREATE_BOARD, input(alice_id, None, &canon.id))
                .await
        ),
        "BAD_USER_INPUT"
    );
    // For someone else: forbidden, unless admin.
    assert_eq!(
        error_code(
            &app.gql_with(&alice, CREATE_BOARD, input(bob_id, None, &canon.id))
                .await
        ),
        "FORBIDDEN"
    );
    data(
        &app.gql_with(&admin, CREATE_BOARD, input(bob_id, None, &canon.id))
            .await,
    );
    assert_eq!(
        error_code(
            &app.gql(CREATE_BOARD, input(alice_id, None, &canon.id))
                .await
        ),
        "UNAUTHENTICATED"
    );
    // Things that do not exist: an unknown canon or meet is NOT_FOUND, naming the field (Node).
    let unknown_canon = app
        .gql_with(
            &admin,
            CREATE_BOARD,
            input(alice_id, None, &Uuid::new_v4().to_string()),
        )
        .await;
    assert_eq!(error_code(&unknown_canon), "NOT_FOUND");
    assert!(
        crate::helpers::message(&unknown_canon).contains("kanbanCanonId"),
        "{unknown_canon}"
    );
    let unknown_meet = app
        .gql_with(
            &admin,
            CREATE_BOARD,
            input(alice_id, Some(Uuid::new_v4()), &canon.id),
        )
        .await;
    assert_eq!(error_code(&unknown_meet), "NOT_FOUND");
    assert!(
        crate::helpers::message(&unknown_meet).contains("meetId"),
        "{unknown_meet}"
    );
    assert_eq!(
        error_field(
            &app.gql_with(&admin, CREATE_BOARD, input(Uuid::new_v4(), None, &canon.id))
                .await
        ),
        "userId"
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM \"kanbanSessions\"")
            .await,
        3
    );
}

#[tokio::test]
async fn boards_are_private_to_their_owner_and_admins() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let (alice_id, alice) = app.user_client("alice@example.com").await;
    let (bob_id, bob) = app.user_client("bob@example.com").await;
    let canon = canon_with_cards(&app, &admin, 2).await;
    let board = board_for(&app, &alice, &canon.id, alice_id, None).await;
    let bobs = board_for(&app, &bob, &canon.id, bob_id, None).await;
    let by_id = "query($id: UUID!) { kanban(id: $id) { id userId } }";
    assert_eq!(
        data(&app.gql_with(&alice, by_id, json!({ "id": board })).await)["kanban"]["id"],
        board
    );
    assert_eq!(
        error_code(&app.gql_with(&bob, by_id, json!({ "id": board })).await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&app.gql(by_id, json!({ "id": board })).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        data(&app.gql_with(&admin, by_id, json!({ "id": board })).await)["kanban"]["userId"],
        alice_id.to_string()
    );
    assert!(
        data(
            &app.gql_with(&alice, by_id, json!({ "id": Uuid::new_v4() }))
                .await
        )["kanban"]
            .is_null()
    );

    let by_key = "query($c: UUID, $u: UUID) { kanban(kanbanCanonId: $c, userId: $u) { id } }";
    assert_eq!(
        data(&app.gql_with(&alice, by_key, json!({ "c": canon.id })).await)["kanban"]["id"],
        board
    );
    assert_eq!(
        error_code(
            &app.gql_with(&alice, by_key, json!({ "c": canon.id, "u": bob_id }))
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        data(
            &app.gql_with(&admin, by_key, json!({ "c": canon.id, "u": bob_id }))
                .await
        )["kanban"]["id"],
        bobs
    );
    assert_eq!(
        error_code(&app.gql_with(&alice, "{ kanban { id } }", json!({})).await),
        "BAD_USER_INPUT"
    );

    let list = "query($u: UUID) { kanbans(userId: $u) { id } }";
    assert_eq!(
        data(&app.gql_with(&alice, list, json!({})).await)["kanbans"],
        json!([{ "id": board }])
    );
    assert_eq!(
        error_code(&app.gql_with(&alice, list, json!({ "u": bob_id })).await),
        "FORBIDDEN"
    );
    assert_eq!(
        data(&app.gql_with(&admin, list, json!({})).await)["kanbans"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let moves =
        json!({ "id": board, "input": { "cardId": canon.cards[0], "status": "DONE", "index": 0 } });
    assert_eq!(
        error_code(&app.gql_with(&bob, MOVE_ON_BOARD, moves.clone()).await),
        "FORBIDDEN"
    );
    data(&app.gql_with(&admin, MOVE_ON_BOARD, moves).await);
    let delete = "mutation($id: UUID!) { deleteKanban(id: $id) }";
    assert_eq!(
        error_code(&app.gql_with(&bob, delete, json!({ "id": board })).await),
        "FORBIDDEN"
    );
    assert_eq!(
        data(&app.gql_with(&alice, delete, json!({ "id": board })).await)["deleteKanban"],
        true
    );
    assert!(data(&app.gql_with(&alice, by_id, json!({ "id": board })).await)["kanban"].is_null());
    assert_eq!(
        data(&app.gql_with(&admin, delete, json!({ "id": bobs })).await)["deleteKanban"],
        true
    );
    // A deleted board can be created again, starting from the canon.
    let again = board_for(&app, &alice, &canon.id, alice_id, None).await;
    assert_eq!(
        board_columns(&app, &alice, &again).await,
        [canon.cards.clone(), vec![], vec![]]
    );
}

#[tokio::test]
async fn a_board_overlays_the_users_moves_on_the_live_canon() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let (user_id, user) = app.user_client("user@example.com").await;
    let canon = canon_with_cards(&app, &admin, 4).await;
    let c = canon.cards.clone();
    let board = board_for(&app, &user, &canon.id, user_id, None).await;

    let body = app
        .gql_with(
            &user,
            MOVE_ON_BOARD,
            json!({ "id": board, "input": { "cardId": c[3], "status": "DONE", "index": 0 } }),
        )
        .await;
    assert_eq!(
        columns(&data(&body)["updateKanbanCardPositions"]),
        [c[..3].to_vec(), vec![], vec![c[3].clone()]]
    );
    // The canon itself is unchanged.
    let body = app.gql(CANON_POSITIONS, json!({ "id": canon.id })).await;
    assert_eq!(ids(&data(&body)["kanbanCanon"]["cardPositions"]["todo"]), c);

    // The admin moves a card this user never moved: the user's board follows.
    app.gql_with(
        &admin,
        MOVE_ON_CANON,
        json!({ "id": canon.id, "input": { "cardId": c[2], "status": "WIP", "index": 0 } }),
    )
    .await;
    assert_eq!(
        board_columns(&app, &user, &board).await,
        [
            vec![c[0].clone(), c[1].clone()],
            vec![c[2].clone()],
            vec![c[3].clone()]
        ]
    );
    // ...but not a card the user moved.
    app.gql_with(
        &admin,
        MOVE_ON_CANON,
        json!({ "id": canon.id, "input": { "cardId": c[3], "status": "TODO", "index": 0 } }),
    )
    .await;
    assert_eq!(
        board_columns(&app, &user, &board).await[2],
        vec![c[3].clone()]
    );

    // A new canon card appears for every user at its canon place.
    let body = app
        .gql_with(&admin, CREATE_CARD, json!({ "input": { "kanbanCanonId": canon.id, "title": "New", "body": "Do it", "status": "WIP", "index": 0 } }))
        .await;
    let fresh = data(&body)["createKanbanCanonCard"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        board_columns(&app, &user, &board).await[1],
        vec![fresh.clone(), c[2].clone()]
    );

    // A deleted card disappears from the canon and from every board's stored positions.
    let body = app
        .gql_with(
            &admin,
            "mutation($id: UUID!) { deleteKanbanCanonCard(id: $id) }",
            json!({ "id": c[3] }),
        )
        .await;
    assert_eq!(data(&body)["deleteKanbanCanonCard"], true);
    let seen = board_columns(&app, &user, &board).await;
    assert!(seen.iter().flatten().all(|id| *id != c[3]), "{seen:?}");
    let stored = app
        .scalar_string(&format!(
            "SELECT \"cardPositions\"::text FROM \"kanbanSessions\" WHERE id = '{board}'"
        ))
        .await;
    assert!(!stored.contains(&c[3]), "{stored}");
    let canon_stored = app
        .scalar_string(&format!(
            "SELECT \"cardPositions\"::text FROM \"kanbanCanons\" WHERE id = '{}'",
            canon.id
        ))
        .await;
    assert!(!canon_stored.contains(&c[3]), "{canon_stored}");
    let body = app
        .gql(
            "query($id: UUID!) { kanbanCanonCard(id: $id) { id } }",
            json!({ "id": c[3] }),
        )
        .await;
    assert!(data(&body)["kanbanCanonCard"].is_null());

    // Bad moves are reported, not ignored.
    let negative = app
        .gql_with(
            &user,
            MOVE_ON_BOARD,
            json!({ "id": board, "input": { "cardId": c[0], "status": "DONE", "index": -1 } }),
        )
        .await;
    assert_eq!(error_field(&negative), "index");
    let deleted_card = app
        .gql_with(
            &user,
            MOVE_ON_BOARD,
            json!({ "id": board, "input": { "cardId": c[3], "status": "DONE", "index": 0 } }),
        )
        .await;
    assert_eq!(error_field(&deleted_card), "cardId");
}

#[tokio::test]
async fn concurrent_moves_on_one_board_are_never_lost() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let (user_id, user) = app.user_client("user@example.com").await;
    let canon = canon_with_cards(&app, &admin, 12).await;
    let board = board_for(&app, &user, &canon.id, user_id, None).await;
    // Twelve requests at once, each moving a different card to the top of DONE.
    let requests = canon.cards.iter().map(|card| {
        let variables =
            json!({ "id": board, "input": { "cardId": card, "status": "DONE", "index": 0 } });
        async { app.gql_with(&user, MOVE_ON_BOARD, variables).await }
    });
    for body in futures_util::future::join_all(requests).await {
        data(&body);
    }
    let seen = board_columns(&app, &user, &board).await;
    assert!(seen[0].is_empty() && seen[1].is_empty(), "{seen:?}");
    let done: HashSet<&String> = seen[2].iter().collect();
    assert_eq!(
        seen[2].len(),
        12,
        "a card was duplicated or dropped: {seen:?}"
    );
    assert_eq!(done, canon.cards.iter().collect::<HashSet<_>>());

    // The same on the canon itself.
    let requests = canon.cards.iter().map(|card| {
        let variables =
            json!({ "id": canon.id, "input": { "cardId": card, "status": "WIP", "index": 0 } });
        async { app.gql_with(&admin, MOVE_ON_CANON, variables).await }
    });
    for body in futures_util::future::join_all(requests).await {
        data(&body);
    }
    let body = app.gql(CANON_POSITIONS, json!({ "id": canon.id })).await;
    let [todo, wip, done] = columns(&data(&body)["kanbanCanon"]["cardPositions"]);
    assert!(todo.is_empty() && done.is_empty());
    assert_eq!(
        wip.iter().collect::<HashSet<_>>(),
        canon.cards.iter().collect::<HashSet<_>>()
    );
    assert_eq!(wip.len(), 12);
}

#[tokio::test]
async fn meets_expose_their_canon_and_the_callers_board() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let (user_id, user) = app.user_client("user@example.com").await;
    let canon = canon_with_cards(&app, &admin, 2).await;
    let meet = app
        .create_meet(
            "Jam",
            "HACKATHON",
            "2030-01-01T10:00:00",
            "2030-01-03T10:00:00",
            "UTC",
        )
        .await;
    let attach = "mutation($id: UUID!, $canon: UUID) { editMeet(id: $id, input: { kanbanCanonId: $canon }) { kanbanCanonId } }";
    let body = app
        .gql_with(&admin, attach, json!({ "id": meet, "canon": canon.id }))
        .await;
    assert_eq!(data(&body)["editMeet"]["kanbanCanonId"], canon.id);

    let query = "query($id: UUID!) { meet(id: $id) { kanbanCanonId kanbanCanon { title kanbanCanonCards { id } } kanban { id cardPositions { todo } } } }";
    let body = app.gql_with(&user, query, json!({ "id": meet })).await;
    assert_eq!(
        data(&body)["meet"]["kanbanCanon"]["kanbanCanonCards"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(data(&body)["meet"]["kanban"].is_null(), "no board yet");
    let board = board_for(&app, &user, &canon.id, user_id, Some(meet)).await;
    let body = app.gql_with(&user, query, json!({ "id": meet })).await;
    assert_eq!(data(&body)["meet"]["kanban"]["id"], board);
    // Someone else, or nobody, sees no board.
    let body = app.gql(query, json!({ "id": meet })).await;
    assert!(data(&body)["meet"]["kanban"].is_null());
    let body = app.gql_with(&admin, query, json!({ "id": meet })).await;
    assert!(data(&body)["meet"]["kanban"].is_null());

    let body = app
        .gql_with(&admin, attach, json!({ "id": meet, "canon": null }))
        .await;
    assert!(data(&body)["editMeet"]["kanbanCanonId"].is_null());
}

#[tokio::test]
async fn kanban_fields_of_many_meets_cost_a_constant_number_of_statements() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let (user_id, user) = app.user_client("user@example.com").await;
    let query = "{ meets { kanbanCanon { title cardPositions { todo } kanbanCanonCards { id } } kanban { title cardPositions { todo } kanbanCards { id } } } }";
    let mut counts = Vec::new();
    for round in [2, 8] {
        for _ in 0..round {
            let canon = canon_with_cards(&app, &admin, 3).await;
            let meet = app
                .create_meet(
                    "M",
                    "WORKSHOP",
                    "2030-01-01T10:00:00",
                    "2030-01-01T12:00:00",
                    "UTC",
                )
                .await;
            app.sql_values(
                r#"UPDATE meets SET "kanbanCanonId" = $1 WHERE id = $2"#,
                vec![Uuid::parse_str(&canon.id).unwrap().into(), meet.into()],
            )
            .await;
            board_for(&app, &user, &canon.id, user_id, Some(meet)).await;
        }
        app.reset_statement_count();
        let body = app.gql_with(&user, query, json!({})).await;
        counts.push(app.statement_count());
        let meets = data(&body)["meets"].as_array().unwrap().clone();
        assert!(meets.iter().all(|m| {
            m["kanban"]["cardPositions"]["todo"]
                .as_array()
                .unwrap()
                .len()
                == 3
        }));
    }
    assert_eq!(
        counts[0],
        counts[1],
        "statements grew with the number of meets: {counts:?}\n{}",
        app.statements_run()
    );
    // session user, meets, canons, cards, boards.
    assert!(counts[1] <= 5, "{counts:?}\n{}", app.statements_run());
}

/// Sessions of this test's database waiting for a lock.
async fn lock_waiters(app: &TestApp) -> i64 {
    app.scalar_i64(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND wait_event_type = 'Lock'",
        app.db_name
    ))
    .await
}

async fn until_waiting(app: &TestApp, count: i64) {
    for _ in 0..200 {
        if lock_waiters(app).await >= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("fewer than {count} requests are waiting for the canon's lock");
}

#[tokio::test]
async fn an_edit_racing_a_delete_never_brings_the_card_back() {
    use sea_orm::{ConnectionTrait, TransactionTrait};

    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let canon = canon_with_cards(&app, &admin, 3).await;
    let card = canon.cards[1].clone();
    // Hold the canon's row lock so both requests queue up behind it: the delete first, then
    // an edit that moves the card.
    let blocker = mintbean_core::db::connect(&crate::helpers::database_url(&app.db_name), 1)
        .await
        .unwrap();
    let txn = blocker.begin().await.unwrap();
    txn.execute_unprepared(&format!(
        r#"SELECT 1 FROM "kanbanCanons" WHERE id = '{}' FOR UPDATE"#,
        canon.id
    ))
    .await
    .unwrap();
    let delete = {
        let (app, admin, card) = (&app, admin.clone(), card.clone());
        async move {
            app.gql_with(
                &admin,
                "mutation($id: UUID!) { deleteKanbanCanonCard(id: $id) }",
                json!({ "id": card }),
            )
            .await
        }
    };
    let edit = {
        let (app, admin, card) = (&app, admin.clone(), card.clone());
        async move {
            app.gql_with(
                &admin,
                "mutation($id: UUID!) { editKanbanCanonCard(id: $id, input: { status: DONE, index: 0 }) { id } }",
                json!({ "id": card }),
            )
            .await
        }
    };
    let (deleted, edited) = tokio::join!(delete, async {
        until_waiting(&app, 1).await; // the delete waits for the lock
        let (edited, ()) = tokio::join!(edit, async {
            until_waiting(&app, 2).await; // and now the edit too
            txn.rollback().await.unwrap();
        });
        edited
    });
    assert_eq!(data(&deleted)["deleteKanbanCanonCard"], true);
    assert_eq!(error_code(&edited), "NOT_FOUND", "{edited}");
    let stored = app
        .scalar_string(&format!(
            r#"SELECT "cardPositions"::text FROM "kanbanCanons" WHERE id = '{}'"#,
            canon.id
        ))
        .await;
    assert!(
        !stored.contains(&card),
        "the deleted card is back: {stored}"
    );
    let status = app
        .scalar_string(&format!(
            r#"SELECT status || ' ' || deleted FROM "kanbanCanonCards" WHERE id = '{card}'"#
        ))
        .await;
    assert_eq!(status, "TODO true");
}
