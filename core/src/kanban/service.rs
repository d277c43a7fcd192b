//! Kanban canons, their cards, and users' boards. Every read-modify-write of a `cardPositions`
//! document happens in a transaction holding the row's lock (`SELECT ... FOR UPDATE`), so two
//! moves at the same moment apply one after the other and none is lost. A card is always read
//! *after* its canon is locked, so an edit racing a delete sees the delete.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, Statement, TransactionSession,
};
use uuid::Uuid;

use super::{
    board::{self, Model as Board},
    canon::{self, Model as Canon},
    card::{self, Model as Card},
    positions::{self, KanbanColumn, LiveCard, Positions},
};
use crate::{
    auth::Caller,
    db::Db,
    error::{AppError, AppResult},
    meets::entity as meets,
    users::service as users,
    validation,
};

/// The Node backend's lengths: titles 2–64, canon descriptions 3–150, card bodies at least 3
/// (with a generous maximum Node did not have).
const TITLE: (usize, usize) = (2, 64);
const DESCRIPTION: (usize, usize) = (3, 150);
const BODY: (usize, usize) = (3, 10_000);

pub struct NewCanon {
    pub title: String,
    pub description: String,
}

/// Fields left out (`None`) stay as they are.
pub struct CanonChanges {
    pub title: Option<String>,
    pub description: Option<String>,
}

pub struct NewCard {
    pub kanban_canon_id: Uuid,
    pub title: String,
    /// TODO when `None`.
    pub status: Option<KanbanColumn>,
    /// The end of the column when `None`.
    pub index: Option<i32>,
    /// Markdown.
    pub body: String,
}

/// Fields left out stay as they are; `status` and/or `index` move the card on the canon.
pub struct CardChanges {
    pub title: Option<String>,
    pub status: Option<KanbanColumn>,
    pub index: Option<i32>,
    pub body: Option<String>,
}

/// A user's board for a canon (and, optionally, a meet).
pub struct NewBoard {
    pub kanban_canon_id: Uuid,
    pub user_id: Uuid,
    pub meet_id: Option<Uuid>,
}

/// A requested position. Negative indexes are refused; past the end means "at the end".
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    pub column: KanbanColumn,
    pub index: Option<i32>,
}

/// Which board to read: by `id`, or by `kanban_canon_id` + `user_id` (the caller when `None`)
/// + `meet_id` (`None`: the board without a meet).
pub struct BoardLookup {
    pub id: Option<Uuid>,
    pub kanban_canon_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub meet_id: Option<Uuid>,
}

/// Filters for listing boards; `None` means any.
#[derive(Default, Clone, Copy)]
pub struct BoardFilter {
    pub kanban_canon_id: Option<Uuid>,
    /// Non-admins may only name themselves (and see only their own boards).
    pub user_id: Option<Uuid>,
    pub meet_id: Option<Uuid>,
}

const OTHERS_BOARD: &str = "This kanban belongs to another user";

fn index_of(index: Option<i32>) -> AppResult<usize> {
    match index {
        None => Ok(usize::MAX),
        Some(i) if i < 0 => Err(AppError::bad_input("index", "index must not be negative")),
        Some(i) => Ok(i as usize),
    }
}

fn canon_title(value: &str) -> AppResult<String> {
    validation::text("title", value, TITLE.0, TITLE.1)
}

fn canon_description(value: &str) -> AppResult<String> {
    validation::text("description", value, DESCRIPTION.0, DESCRIPTION.1)
}

pub fn live_cards(cards: &[Card]) -> Vec<LiveCard> {
    cards
        .iter()
        .filter(|c| !c.deleted)
        .map(|c| LiveCard {
            id: c.id,
            status: KanbanColumn::from_stored(&c.status),
        })
        .collect()
}

/// The canon's board as everyone sees it before any personal moves.
pub fn canon_board(canon: &Canon, cards: &[Card]) -> Positions {
    positions::canon_board(
        &Positions::from_json(canon.card_positions.as_ref()),
        &live_cards(cards),
    )
}

/// What the owner of `board` sees.
pub fn board_view(board: &Board, canon: &Canon, cards: &[Card]) -> Positions {
    positions::resolve(
        &Positions::from_json(board.card_positions.as_ref()),
        &Positions::from_json(canon.card_positions.as_ref()),
        &live_cards(cards),
    )
}

// ---- canons -------------------------------------------------------------------------------

pub async fn list_canons(db: &impl ConnectionTrait) -> AppResult<Vec<Canon>> {
    Ok(canon::Entity::find()
        .order_by_desc(canon::Column::CreatedAt)
        .all(db)
        .await?)
}

pub async fn find_canon(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<Canon>> {
    Ok(canon::Entity::find_by_id(id).one(db).await?)
}

pub async fn find_canons(db: &impl ConnectionTrait, ids: &[Uuid]) -> AppResult<Vec<Canon>> {
    Ok(canon::Entity::find()
        .filter(crate::db::any_id(canon::Column::Id, ids))
        .all(db)
        .await?)
}

async fn lock_canon(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<Canon>> {
    Ok(canon::Entity::find_by_id(id)
        .lock_exclusive()
        .one(db)
        .await?)
}

fn no_such_canon(field: &str) -> AppError {
    AppError::bad_input(
        field,
        format!("{field} does not refer to an existing kanban canon"),
    )
}

/// Admins only.
#[tracing::instrument(skip_all)]
pub async fn create_canon(
    db: &impl ConnectionTrait,
    caller: &Caller,
    input: NewCanon,
) -> AppResult<Canon> {
    caller.require_admin()?;
    let now = Utc::now();
    Ok(canon::ActiveModel {
        id: Set(Uuid::new_v4()),
        title: Set(canon_title(&input.title)?),
        description: Set(canon_description(&input.description)?),
        card_positions: Set(Some(Positions::default().to_json())),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// Admins only.
#[tracing::instrument(skip_all, fields(canon_id = %id))]
pub async fn edit_canon(
    db: &impl ConnectionTrait,
    caller: &Caller,
    id: Uuid,
    changes: CanonChanges,
) -> AppResult<Canon> {
    caller.require_admin()?;
    if changes.title.is_none() && changes.description.is_none() {
        return Err(validation::nothing_to_edit());
    }
    let canon = find_canon(db, id)
        .await?
        .ok_or_else(|| AppError::not_found("Kanban canon"))?;
    let mut model: canon::ActiveModel = canon.into();
    if let Some(title) = &changes.title {
        model.title = Set(canon_title(title)?);
    }
    if let Some(description) = &changes.description {
        model.description = Set(canon_description(description)?);
    }
    model.updated_at = Set(Utc::now());
    Ok(model.update(db).await?)
}

// ---- canon cards --------------------------------------------------------------------------

/// `(canonId, card)` for the live cards of the given canons, oldest first.
pub async fn list_cards_by_canon(
    db: &impl ConnectionTrait,
    canon_ids: &[Uuid],
) -> AppResult<Vec<(Uuid, Card)>> {
    let cards = card::Entity::live()
        .filter(crate::db::any_id(card::Column::KanbanCanonId, canon_ids))
        .order_by_asc(card::Column::CreatedAt)
        .order_by_asc(card::Column::Id)
        .all(db)
        .await?;
    Ok(cards.into_iter().map(|c| (c.kanban_canon_id, c)).collect())
}

/// The live cards of one canon, oldest first.
pub async fn list_cards(db: &impl ConnectionTrait, canon_id: Uuid) -> AppResult<Vec<Card>> {
    let rows = list_cards_by_canon(db, &[canon_id]).await?;
    Ok(rows.into_iter().map(|(_, card)| card).collect())
}

pub async fn find_card(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<Card>> {
    Ok(card::Entity::live()
        .filter(card::Column::Id.eq(id))
        .one(db)
        .await?)
}

/// Locks the canon of a live card, then reads the card under that lock: a delete that got the
/// lock first is seen, so the card cannot come back to life in the canon's positions.
async fn lock_card_with_canon(db: &impl ConnectionTrait, id: Uuid) -> AppResult<(Canon, Card)> {
    let not_found = || AppError::not_found("Kanban canon card");
    let canon_id = find_card(db, id)
        .await?
        .ok_or_else(not_found)?
        .kanban_canon_id;
    let canon = lock_canon(db, canon_id)
        .await?
        .ok_or_else(|| no_such_canon("kanbanCanonId"))?;
    let card = find_card(db, id)
        .await?
        .filter(|card| card.kanban_canon_id == canon.id)
        .ok_or_else(not_found)?;
    Ok((canon, card))
}

async fn save_canon_positions(
    db: &impl ConnectionTrait,
    canon: Canon,
    board: &Positions,
) -> AppResult<()> {
    let mut model: canon::ActiveModel = canon.into();
    model.card_positions = Set(Some(board.to_json()));
    model.updated_at = Set(Utc::now());
    model.update(db).await?;
    Ok(())
}

async fn set_card_status(
    db: &impl ConnectionTrait,
    card: Card,
    column: KanbanColumn,
) -> AppResult<Card> {
    if card.status == column.as_stored() {
        return Ok(card);
    }
    let mut model: card::ActiveModel = card.into();
    model.status = Set(column.as_stored().to_owned());
    model.updated_at = Set(Utc::now());
    Ok(model.update(db).await?)
}

/// Admins only.
#[tracing::instrument(skip_all)]
pub async fn create_card(db: &impl Db, caller: &Caller, input: NewCard) -> AppResult<Card> {
    caller.require_admin()?;
    let title = validation::text("title", &input.title, TITLE.0, TITLE.1)?;
    let body = validation::text("body", &input.body, BODY.0, BODY.1)?;
    let column = input.status.unwrap_or(KanbanColumn::Todo);
    let index = index_of(input.index)?;
    let txn = db.begin().await?;
    let canon = lock_canon(&txn, input.kanban_canon_id)
        .await?
        .ok_or_else(|| no_such_canon("kanbanCanonId"))?;
    let cards = list_cards(&txn, canon.id).await?;
    let mut board = canon_board(&canon, &cards);
    let now = Utc::now();
    let card = card::ActiveModel {
        id: Set(Uuid::new_v4()),
        kanban_canon_id: Set(canon.id),
        title: Set(title),
        body: Set(body),
        status: Set(column.as_stored().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        deleted: Set(false),
    }
    .insert(&txn)
    .await?;
    board.place(card.id, column, index);
    save_canon_positions(&txn, canon, &board).await?;
    txn.commit().await?;
    Ok(card)
}

/// Admins only.
#[tracing::instrument(skip_all, fields(card_id = %id))]
pub async fn edit_card(
    db: &impl Db,
    caller: &Caller,
    id: Uuid,
    changes: CardChanges,
) -> AppResult<Card> {
    caller.require_admin()?;
    if changes.title.is_none()
        && changes.body.is_none()
        && changes.status.is_none()
        && changes.index.is_none()
    {
        return Err(validation::nothing_to_edit());
    }
    let title = validation::optional_text("title", changes.title.as_deref(), TITLE.0, TITLE.1)?;
    let body = validation::optional_text("body", changes.body.as_deref(), BODY.0, BODY.1)?;
    let index = changes.index.map(|i| index_of(Some(i))).transpose()?;
    let txn = db.begin().await?;
    let (canon, mut card) = lock_card_with_canon(&txn, id).await?;
    if title.is_some() || body.is_some() {
        let mut model: card::ActiveModel = card.into();
        if let Some(title) = title {
            model.title = Set(title);
        }
        if let Some(body) = body {
            model.body = Set(body);
        }
        model.updated_at = Set(Utc::now());
        card = model.update(&txn).await?;
    }
    if changes.status.is_some() || index.is_some() {
        let cards = list_cards(&txn, canon.id).await?;
        let mut board = canon_board(&canon, &cards);
        let current = KanbanColumn::ALL
            .into_iter()
            .find(|c| board.column(*c).contains(&card.id))
            .unwrap_or(KanbanColumn::Todo);
        let column = changes.status.unwrap_or(current);
        board.place(card.id, column, index.unwrap_or(usize::MAX));
        save_canon_positions(&txn, canon, &board).await?;
        card = set_card_status(&txn, card, column).await?;
    }
    txn.commit().await?;
    Ok(card)
}

/// Admins only. Moves a card on the canon's own board.
#[tracing::instrument(skip_all, fields(canon_id = %canon_id, card_id = %card_id))]
pub async fn move_on_canon(
    db: &impl Db,
    caller: &Caller,
    canon_id: Uuid,
    card_id: Uuid,
    placement: Placement,
) -> AppResult<Positions> {
    caller.require_admin()?;
    let index = index_of(placement.index)?;
    let txn = db.begin().await?;
    let canon = lock_canon(&txn, canon_id)
        .await?
        .ok_or_else(|| AppError::not_found("Kanban canon"))?;
    let cards = list_cards(&txn, canon.id).await?;
    let card = cards
        .iter()
        .find(|c| c.id == card_id)
        .cloned()
        .ok_or_else(|| {
            AppError::bad_input("cardId", "cardId is not a card of this kanban canon")
        })?;
    let mut board = canon_board(&canon, &cards);
    board.place(card_id, placement.column, index);
    save_canon_positions(&txn, canon, &board).await?;
    set_card_status(&txn, card, placement.column).await?;
    txn.commit().await?;
    Ok(board)
}

/// Admins only. Soft-deletes a card and removes it from the canon's positions and from every
/// board's.
#[tracing::instrument(skip_all, fields(card_id = %id))]
pub async fn delete_card(db: &impl Db, caller: &Caller, id: Uuid) -> AppResult<()> {
    caller.require_admin()?;
    let txn = db.begin().await?;
    let (canon, card) = lock_card_with_canon(&txn, id).await?;
    let mut stored = Positions::from_json(canon.card_positions.as_ref());
    stored.remove(card.id);
    let canon_id = canon.id;
    save_canon_positions(&txn, canon, &stored).await?;
    let mut model: card::ActiveModel = card.into();
    model.deleted = Set(true);
    model.updated_at = Set(Utc::now());
    model.update(&txn).await?;
    remove_from_boards(&txn, canon_id, id).await?;
    txn.commit().await?;
    Ok(())
}

/// One statement rewrites every board of the canon that holds the card; each row is locked while
/// it is rewritten, so it serialises with moves on that board.
async fn remove_from_boards(
    db: &impl ConnectionTrait,
    canon_id: Uuid,
    card_id: Uuid,
) -> AppResult<()> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        r#"UPDATE "kanbanSessions" s
           SET "cardPositions" = (
                 SELECT jsonb_object_agg(col, coalesce(
                     (SELECT jsonb_agg(e ORDER BY ord)
                        FROM jsonb_array_elements(
                               CASE WHEN jsonb_typeof(s."cardPositions" -> col) = 'array'
                                    THEN s."cardPositions" -> col ELSE '[]'::jsonb END
                             ) WITH ORDINALITY AS t(e, ord)
                       WHERE e <> to_jsonb($2::text)),
                     '[]'::jsonb))
                 FROM unnest(ARRAY['todo', 'wip', 'done']) AS col),
               "updatedAt" = now()
           WHERE s."kanbanCanonId" = $1
             AND (s."cardPositions" -> 'todo' @> to_jsonb(ARRAY[$2::text])
               OR s."cardPositions" -> 'wip' @> to_jsonb(ARRAY[$2::text])
               OR s."cardPositions" -> 'done' @> to_jsonb(ARRAY[$2::text]))"#,
        [canon_id.into(), card_id.to_string().into()],
    ))
    .await?;
    Ok(())
}

// ---- boards (kanbanSessions) --------------------------------------------------------------

/// Logged-in users: their own board; admins: anyone's. `None` when there is no such board.
pub async fn find_board(
    db: &impl ConnectionTrait,
    caller: &Caller,
    lookup: BoardLookup,
) -> AppResult<Option<Board>> {
    let actor = caller.require_user()?;
    let query = match (lookup.id, lookup.kanban_canon_id) {
        (Some(id), _) => board::Entity::live().filter(board::Column::Id.eq(id)),
        (None, Some(canon_id)) => {
            let query = board::Entity::live()
                .filter(board::Column::KanbanCanonId.eq(canon_id))
                .filter(board::Column::UserId.eq(lookup.user_id.unwrap_or(actor.id)));
            match lookup.meet_id {
                Some(meet_id) => query.filter(board::Column::MeetId.eq(meet_id)),
                None => query.filter(board::Column::MeetId.is_null()),
            }
        }
        (None, None) => return Err(AppError::bad_input("id", "give either id or kanbanCanonId")),
    };
    let board = query.order_by_asc(board::Column::CreatedAt).one(db).await?;
    if let Some(board) = &board {
        caller.require_owner_or_admin(board.user_id, OTHERS_BOARD)?;
    }
    Ok(board)
}

/// Logged-in users see only their own boards (naming another user is `FORBIDDEN`); admins see
/// anyone's.
pub async fn list_boards(
    db: &impl ConnectionTrait,
    caller: &Caller,
    filter: BoardFilter,
) -> AppResult<Vec<Board>> {
    let actor = caller.require_user()?;
    let user_id = match filter.user_id {
        Some(other) if other != actor.id && !caller.is_admin() => {
            return Err(AppError::forbidden("You can only list your own kanbans"));
        }
        Some(id) => Some(id),
        None if caller.is_admin() => None,
        None => Some(actor.id),
    };
    let mut query = board::Entity::live();
    if let Some(canon_id) = filter.kanban_canon_id {
        query = query.filter(board::Column::KanbanCanonId.eq(canon_id));
    }
    if let Some(user_id) = user_id {
        query = query.filter(board::Column::UserId.eq(user_id));
    }
    if let Some(meet_id) = filter.meet_id {
        query = query.filter(board::Column::MeetId.eq(meet_id));
    }
    Ok(query.order_by_asc(board::Column::CreatedAt).all(db).await?)
}

/// Boards of users for meets, for `Meet.kanban`: rows matching any of the (canon, user, meet)
/// triples (the caller picks exact matches).
pub async fn list_boards_for(
    db: &impl ConnectionTrait,
    keys: &[(Uuid, Uuid, Uuid)],
) -> AppResult<Vec<Board>> {
    let canons: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
    let users: Vec<Uuid> = keys.iter().map(|k| k.1).collect();
    let meets: Vec<Uuid> = keys.iter().map(|k| k.2).collect();
    Ok(board::Entity::live()
        .filter(board::Column::KanbanCanonId.is_in(canons))
        .filter(board::Column::UserId.is_in(users))
        .filter(board::Column::MeetId.is_in(meets))
        .all(db)
        .await?)
}

/// Checks that what a new board refers to exists.
async fn validate_new_board(db: &impl ConnectionTrait, input: &NewBoard) -> AppResult<()> {
    // Unknown references are NOT_FOUND (naming the field), as `registerForMeet`'s meet is.
    if find_canon(db, input.kanban_canon_id).await?.is_none() {
        return Err(AppError::NotFound(
            "kanbanCanonId does not refer to an existing kanban canon".into(),
        ));
    }
    if users::find(db, input.user_id).await?.is_none() {
        return Err(AppError::bad_input(
            "userId",
            "userId does not refer to an existing user",
        ));
    }
    if let Some(meet_id) = input.meet_id {
        let meet = meets::Entity::live()
            .filter(meets::Column::Id.eq(meet_id))
            .one(db)
            .await?;
        if meet.is_none() {
            return Err(AppError::NotFound(
                "meetId does not refer to an existing meet".into(),
            ));
        }
    }
    Ok(())
}

/// The board row for (canon, user, meet), deleted or not: UNIQUE allows only one.
async fn existing_board(db: &impl ConnectionTrait, input: &NewBoard) -> AppResult<Option<Board>> {
    let query = board::Entity::find()
        .filter(board::Column::KanbanCanonId.eq(input.kanban_canon_id))
        .filter(board::Column::UserId.eq(input.user_id));
    let query = match input.meet_id {
        Some(meet_id) => query.filter(board::Column::MeetId.eq(meet_id)),
        None => query.filter(board::Column::MeetId.is_null()),
    };
    Ok(query.order_by_asc(board::Column::Deleted).one(db).await?)
}

/// Logged-in users create their own board; admins anyone's.
#[tracing::instrument(skip_all, fields(canon_id = %input.kanban_canon_id))]
pub async fn create_board(db: &impl Db, caller: &Caller, input: NewBoard) -> AppResult<Board> {
    caller.require_user()?;
    caller.require_owner_or_admin(input.user_id, "You can only create a kanban for yourself")?;
    let txn = db.begin().await?;
    // Serialise creations for one canon and user: the UNIQUE constraint does not cover a NULL meet.
    txn.execute_raw(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        [format!("kanban:{}:{}", input.kanban_canon_id, input.user_id).into()],
    ))
    .await?;
    validate_new_board(&txn, &input).await?;
    let now = Utc::now();
    let board = match existing_board(&txn, &input).await? {
        Some(board) if !board.deleted => {
            return Err(AppError::bad_input(
                "kanbanCanonId",
                "a kanban already exists for this canon, user and meet",
            ));
        }
        Some(deleted) => {
            // The unique row exists but was deleted: start it afresh.
            let mut model: board::ActiveModel = deleted.into();
            model.deleted = Set(false);
            model.card_positions = Set(Some(Positions::default().to_json()));
            model.updated_at = Set(now);
            model.update(&txn).await?
        }
        None => {
            board::ActiveModel {
                id: Set(Uuid::new_v4()),
                kanban_canon_id: Set(input.kanban_canon_id),
                user_id: Set(input.user_id),
                meet_id: Set(input.meet_id),
                card_positions: Set(Some(Positions::default().to_json())),
                created_at: Set(now),
                updated_at: Set(now),
                deleted: Set(false),
            }
            .insert(&txn)
            .await?
        }
    };
    txn.commit().await?;
    Ok(board)
}

async fn lock_board(db: &impl ConnectionTrait, caller: &Caller, id: Uuid) -> AppResult<Board> {
    caller.require_user()?;
    let board = board::Entity::live()
        .filter(board::Column::Id.eq(id))
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("Kanban"))?;
    caller.require_owner_or_admin(board.user_id, OTHERS_BOARD)?;
    Ok(board)
}

/// The board's owner or an admin. Moves a card on a user's board; returns what the user now
/// sees.
#[tracing::instrument(skip_all, fields(board_id = %board_id, card_id = %card_id))]
pub async fn move_on_board(
    db: &impl Db,
    caller: &Caller,
    board_id: Uuid,
    card_id: Uuid,
    placement: Placement,
) -> AppResult<Positions> {
    caller.require_user()?;
    let index = index_of(placement.index)?;
    let txn = db.begin().await?;
    let board = lock_board(&txn, caller, board_id).await?;
    let canon = find_canon(&txn, board.kanban_canon_id)
        .await?
        .ok_or_else(|| AppError::not_found("Kanban canon"))?;
    let cards = list_cards(&txn, canon.id).await?;
    if !cards.iter().any(|c| c.id == card_id) {
        return Err(AppError::bad_input(
            "cardId",
            "cardId is not a card of this kanban's canon",
        ));
    }
    let (stored, view) = positions::move_on_board(
        &Positions::from_json(board.card_positions.as_ref()),
        &Positions::from_json(canon.card_positions.as_ref()),
        &live_cards(&cards),
        card_id,
        placement.column,
        index,
    );
    let mut model: board::ActiveModel = board.into();
    model.card_positions = Set(Some(stored.to_json()));
    model.updated_at = Set(Utc::now());
    model.update(&txn).await?;
    txn.commit().await?;
    Ok(view)
}

/// The board's owner or an admin.
#[tracing::instrument(skip_all, fields(board_id = %id))]
pub async fn delete_board(db: &impl Db, caller: &Caller, id: Uuid) -> AppResult<()> {
    let txn = db.begin().await?;
    let board = lock_board(&txn, caller, id).await?;
    let mut model: board::ActiveModel = board.into();
    model.deleted = Set(true);
    model.updated_at = Set(Utc::now());
    model.update(&txn).await?;
    txn.commit().await?;
    Ok(())
}
