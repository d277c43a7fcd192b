//! Kanban canons, their cards, and users' boards. Every read-modify-write of a `cardPositions`
//! document happens in a transaction holding the row's lock (`SELECT ... FOR UPDATE`), so two
//! moves at the same moment apply one after the other and none is lost.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement, TransactionTrait,
};
use uuid::Uuid;

use super::{
    board::{self, Model as Board},
    canon::{self, Model as Canon},
    card::{self, Model as Card},
    positions::{self, Column, LiveCard, Positions},
};
use crate::{
    error::{AppError, AppResult},
    meets::service as meets,
    users::{entity::Model as User, service as users},
    validation,
};

const TITLE_MAX: usize = 128;
const DESCRIPTION_MAX: usize = 5000;
const BODY_MAX: usize = 20_000;

/// A requested position. Negative indexes are refused; past the end means "at the end".
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    pub column: Column,
    pub index: Option<i32>,
}

fn index_of(index: Option<i32>) -> AppResult<usize> {
    match index {
        None => Ok(usize::MAX),
        Some(i) if i < 0 => Err(AppError::bad_input("index", "index must not be negative")),
        Some(i) => Ok(i as usize),
    }
}

pub fn live_cards(cards: &[Card]) -> Vec<LiveCard> {
    cards
        .iter()
        .filter(|c| !c.deleted)
        .map(|c| LiveCard {
            id: c.id,
            status: Column::from_stored(&c.status),
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
        .filter(canon::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?)
}

async fn lock_canon(txn: &DatabaseTransaction, id: Uuid, field: &str) -> AppResult<Canon> {
    canon::Entity::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| {
            AppError::bad_input(
                field,
                format!("{field} does not refer to an existing kanban canon"),
            )
        })
}

pub async fn create_canon(
    db: &impl ConnectionTrait,
    title: &str,
    description: &str,
) -> AppResult<Canon> {
    let now = Utc::now();
    Ok(canon::ActiveModel {
        id: Set(Uuid::new_v4()),
        title: Set(validation::text("title", title, 1, TITLE_MAX)?),
        description: Set(validation::text(
            "description",
            description,
            1,
            DESCRIPTION_MAX,
        )?),
        card_positions: Set(Some(Positions::default().to_json())),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

pub async fn edit_canon(
    db: &impl ConnectionTrait,
    id: Uuid,
    title: Option<&str>,
    description: Option<&str>,
) -> AppResult<Canon> {
    let canon = find_canon(db, id)
        .await?
        .ok_or_else(|| AppError::not_found("Kanban canon"))?;
    let mut model: canon::ActiveModel = canon.into();
    if let Some(title) = title {
        model.title = Set(validation::text("title", title, 1, TITLE_MAX)?);
    }
    if let Some(description) = description {
        model.description = Set(validation::text(
            "description",
            description,
            1,
            DESCRIPTION_MAX,
        )?);
    }
    model.updated_at = Set(Utc::now());
    Ok(model.update(db).await?)
}

// ---- canon cards --------------------------------------------------------------------------

/// Live cards of the given canons, oldest first.
pub async fn cards_of(db: &impl ConnectionTrait, canon_ids: &[Uuid]) -> AppResult<Vec<Card>> {
    Ok(card::Entity::find()
        .filter(card::Column::KanbanCanonId.is_in(canon_ids.iter().copied()))
        .filter(card::Column::Deleted.eq(false))
        .order_by_asc(card::Column::CreatedAt)
        .order_by_asc(card::Column::Id)
        .all(db)
        .await?)
}

pub async fn find_card(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<Card>> {
    Ok(card::Entity::find_by_id(id)
        .filter(card::Column::Deleted.eq(false))
        .one(db)
        .await?)
}

async fn save_canon_positions(
    txn: &DatabaseTransaction,
    canon: Canon,
    board: &Positions,
) -> AppResult<()> {
    let mut model: canon::ActiveModel = canon.into();
    model.card_positions = Set(Some(board.to_json()));
    model.updated_at = Set(Utc::now());
    model.update(txn).await?;
    Ok(())
}

async fn set_card_status(txn: &DatabaseTransaction, card: Card, column: Column) -> AppResult<Card> {
    if card.status == column.as_stored() {
        return Ok(card);
    }
    let mut model: card::ActiveModel = card.into();
    model.status = Set(column.as_stored().to_owned());
    model.updated_at = Set(Utc::now());
    Ok(model.update(txn).await?)
}

#[derive(async_graphql::InputObject)]
#[graphql(name = "CreateKanbanCanonCardInput")]
pub struct NewCard {
    pub kanban_canon_id: Uuid,
    pub title: String,
    /// Column; TODO when omitted.
    pub status: Option<Column>,
    /// Position in the column; the end when omitted.
    pub index: Option<i32>,
    /// Markdown.
    pub body: String,
}

pub async fn create_card(db: &DatabaseConnection, input: NewCard) -> AppResult<Card> {
    let title = validation::text("title", &input.title, 1, TITLE_MAX)?;
    let body = validation::text("body", &input.body, 1, BODY_MAX)?;
    let column = input.status.unwrap_or(Column::Todo);
    let index = index_of(input.index)?;
    let txn = db.begin().await?;
    let canon = lock_canon(&txn, input.kanban_canon_id, "kanbanCanonId").await?;
    let cards = cards_of(&txn, &[canon.id]).await?;
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

/// Fields left out stay as they are; `status` and/or `index` move the card on the canon.
#[derive(async_graphql::InputObject)]
#[graphql(name = "EditKanbanCanonCardInput")]
pub struct CardChanges {
    pub title: Option<String>,
    pub status: Option<Column>,
    pub index: Option<i32>,
    pub body: Option<String>,
}

pub async fn edit_card(db: &DatabaseConnection, id: Uuid, changes: CardChanges) -> AppResult<Card> {
    let title = validation::optional_text("title", changes.title.as_deref(), 1, TITLE_MAX)?;
    let body = validation::optional_text("body", changes.body.as_deref(), 1, BODY_MAX)?;
    let index = changes.index.map(|i| index_of(Some(i))).transpose()?;
    let txn = db.begin().await?;
    let existing = find_card(&txn, id)
        .await?
        .ok_or_else(|| AppError::not_found("Kanban canon card"))?;
    let canon = lock_canon(&txn, existing.kanban_canon_id, "kanbanCanonId").await?;
    let mut card = existing;
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
        let cards = cards_of(&txn, &[canon.id]).await?;
        let mut board = canon_board(&canon, &cards);
        let current = Column::ALL
            .into_iter()
            .find(|c| board.column(*c).contains(&card.id))
            .unwrap_or(Column::Todo);
        let column = changes.status.unwrap_or(current);
        board.place(card.id, column, index.unwrap_or(usize::MAX));
        save_canon_positions(&txn, canon, &board).await?;
        card = set_card_status(&txn, card, column).await?;
    }
    txn.commit().await?;
    Ok(card)
}

/// Moves a card on the canon's own board.
pub async fn move_on_canon(
    db: &DatabaseConnection,
    canon_id: Uuid,
    card_id: Uuid,
    placement: Placement,
) -> AppResult<Positions> {
    let index = index_of(placement.index)?;
    let txn = db.begin().await?;
    let canon = canon::Entity::find_by_id(canon_id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("Kanban canon"))?;
    let cards = cards_of(&txn, &[canon.id]).await?;
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

/// Soft-deletes a card and removes it from the canon's positions and from every board's.
pub async fn delete_card(db: &DatabaseConnection, id: Uuid) -> AppResult<()> {
    let txn = db.begin().await?;
    let card = find_card(&txn, id)
        .await?
        .ok_or_else(|| AppError::not_found("Kanban canon card"))?;
    let canon = lock_canon(&txn, card.kanban_canon_id, "kanbanCanonId").await?;
    let mut stored = Positions::from_json(canon.card_positions.as_ref());
    stored.remove(card.id);
    let canon_id = canon.id;
    save_canon_positions(&txn, canon, &stored).await?;
    let mut model: card::ActiveModel = card.into();
    model.deleted = Set(true);
    model.updated_at = Set(Utc::now());
    model.update(&txn).await?;
    // One statement rewrites every board of the canon that holds the card; each row is locked
    // while it is rewritten, so it serialises with moves on that board.
    txn.execute_raw(Statement::from_sql_and_values(
        txn.get_database_backend(),
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
        [canon_id.into(), id.to_string().into()],
    ))
    .await?;
    txn.commit().await?;
    Ok(())
}

// ---- boards (kanbanSessions) --------------------------------------------------------------

/// Filters for listing boards; `None` means any.
#[derive(Default, Clone, Copy)]
pub struct BoardFilter {
    pub kanban_canon_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    /// `Some(None)` selects boards without a meet.
    pub meet_id: Option<Option<Uuid>>,
}

pub async fn find_board(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<Board>> {
    Ok(board::Entity::find_by_id(id)
        .filter(board::Column::Deleted.eq(false))
        .one(db)
        .await?)
}

pub async fn list_boards(db: &impl ConnectionTrait, filter: BoardFilter) -> AppResult<Vec<Board>> {
    let mut query = board::Entity::find().filter(board::Column::Deleted.eq(false));
    if let Some(canon_id) = filter.kanban_canon_id {
        query = query.filter(board::Column::KanbanCanonId.eq(canon_id));
    }
    if let Some(user_id) = filter.user_id {
        query = query.filter(board::Column::UserId.eq(user_id));
    }
    match filter.meet_id {
        Some(Some(meet_id)) => query = query.filter(board::Column::MeetId.eq(meet_id)),
        Some(None) => query = query.filter(board::Column::MeetId.is_null()),
        None => {}
    }
    Ok(query.order_by_asc(board::Column::CreatedAt).all(db).await?)
}

/// Boards of users for meets, for `Meet.kanban`: rows matching any of the (canon, user, meet)
/// triples (the caller picks exact matches).
pub async fn boards_for(
    db: &impl ConnectionTrait,
    keys: &[(Uuid, Uuid, Uuid)],
) -> AppResult<Vec<Board>> {
    let canons: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
    let users: Vec<Uuid> = keys.iter().map(|k| k.1).collect();
    let meets: Vec<Uuid> = keys.iter().map(|k| k.2).collect();
    Ok(board::Entity::find()
        .filter(board::Column::Deleted.eq(false))
        .filter(board::Column::KanbanCanonId.is_in(canons))
        .filter(board::Column::UserId.is_in(users))
        .filter(board::Column::MeetId.is_in(meets))
        .all(db)
        .await?)
}

fn ensure_owner_or_admin(actor: &User, board: &Board) -> AppResult<()> {
    if board.user_id == actor.id || actor.is_admin {
        Ok(())
    } else {
        Err(AppError::forbidden("This kanban belongs to another user"))
    }
}

#[derive(async_graphql::InputObject)]
#[graphql(name = "CreateKanbanInput")]
pub struct NewBoard {
    pub kanban_canon_id: Uuid,
    pub user_id: Uuid,
    pub meet_id: Option<Uuid>,
}

/// Creates a user's board. Users create their own; admins anyone's.
pub async fn create_board(
    db: &DatabaseConnection,
    actor: &User,
    input: NewBoard,
) -> AppResult<Board> {
    if input.user_id != actor.id && !actor.is_admin {
        return Err(AppError::forbidden(
            "You can only create a kanban for yourself",
        ));
    }
    let txn = db.begin().await?;
    // Serialise creations for one canon and user: the UNIQUE constraint does not cover a NULL meet.
    txn.execute_raw(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        [format!("kanban:{}:{}", input.kanban_canon_id, input.user_id).into()],
    ))
    .await?;
    if find_canon(&txn, input.kanban_canon_id).await?.is_none() {
        return Err(AppError::bad_input(
            "kanbanCanonId",
            "kanbanCanonId does not refer to an existing kanban canon",
        ));
    }
    if users::find_active(&txn, input.user_id).await?.is_none() {
        return Err(AppError::bad_input(
            "userId",
            "userId does not refer to an existing user",
        ));
    }
    if let Some(meet_id) = input.meet_id
        && meets::find(&txn, meet_id).await?.is_none()
    {
        return Err(AppError::bad_input(
            "meetId",
            "meetId does not refer to an existing meet",
        ));
    }
    let mut existing = board::Entity::find()
        .filter(board::Column::KanbanCanonId.eq(input.kanban_canon_id))
        .filter(board::Column::UserId.eq(input.user_id));
    existing = match input.meet_id {
        Some(meet_id) => existing.filter(board::Column::MeetId.eq(meet_id)),
        None => existing.filter(board::Column::MeetId.is_null()),
    };
    let existing = existing
        .order_by_asc(board::Column::Deleted)
        .one(&txn)
        .await?;
    let now = Utc::now();
    let board = match existing {
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

/// Moves a card on a user's board; returns what the user now sees.
pub async fn move_on_board(
    db: &DatabaseConnection,
    actor: &User,
    board_id: Uuid,
    card_id: Uuid,
    placement: Placement,
) -> AppResult<Positions> {
    let index = index_of(placement.index)?;
    let txn = db.begin().await?;
    let board = board::Entity::find_by_id(board_id)
        .filter(board::Column::Deleted.eq(false))
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("Kanban"))?;
    ensure_owner_or_admin(actor, &board)?;
    let canon = find_canon(&txn, board.kanban_canon_id)
        .await?
        .ok_or_else(|| AppError::not_found("Kanban canon"))?;
    let cards = cards_of(&txn, &[canon.id]).await?;
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

pub async fn delete_board(db: &DatabaseConnection, actor: &User, id: Uuid) -> AppResult<()> {
    let txn = db.begin().await?;
    let board = board::Entity::find_by_id(id)
        .filter(board::Column::Deleted.eq(false))
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("Kanban"))?;
    ensure_owner_or_admin(actor, &board)?;
    let mut model: board::ActiveModel = board.into();
    model.deleted = Set(true);
    model.updated_at = Set(Utc::now());
    model.update(&txn).await?;
    txn.commit().await?;
    Ok(())
}
