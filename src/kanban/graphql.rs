//! GraphQL for kanban canons, canon cards and users' boards (`Kanban`).

use std::collections::HashMap;

use async_graphql::{Context, InputObject, Object, Result, SimpleObject, dataloader::Loader};
use uuid::Uuid;

use super::{
    board::Model as BoardModel,
    canon::Model as CanonModel,
    card::Model as CardModel,
    positions::{Column, Positions},
    service::{self, BoardFilter, CardChanges, NewBoard, NewCard, Placement},
};
use crate::{
    error::AppError,
    graphql::limits::list_complexity,
    graphql::{
        context::{app, current_user, loaders, require_admin, require_user},
        loader::{DbLoader, LoadError, group_rows, ids, into_load_error},
        scalars::DateTime,
    },
    relation_key,
};

relation_key!(
    /// A kanban canon by id.
    CanonById
);
relation_key!(
    /// The live cards of a canon.
    CardsOfCanon
);

/// The board of one user for one meet's canon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BoardOfUserForMeet {
    pub canon_id: Uuid,
    pub user_id: Uuid,
    pub meet_id: Uuid,
}

impl Loader<CanonById> for DbLoader {
    type Value = CanonModel;
    type Error = LoadError;

    async fn load(&self, keys: &[CanonById]) -> Result<HashMap<CanonById, CanonModel>, LoadError> {
        self.fetch_once(keys, |db, keys| async move {
            let canons = service::find_canons(&db, &ids(&keys))
                .await
                .map_err(into_load_error)?;
            Ok(canons.into_iter().map(|c| (CanonById(c.id), c)).collect())
        })
        .await
    }
}

impl Loader<CardsOfCanon> for DbLoader {
    type Value = Vec<CardModel>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[CardsOfCanon],
    ) -> Result<HashMap<CardsOfCanon, Vec<CardModel>>, LoadError> {
        self.fetch_once(keys, |db, keys| async move {
            let cards = service::cards_of(&db, &ids(&keys))
                .await
                .map_err(into_load_error)?;
            Ok(group_rows(
                &keys,
                cards
                    .into_iter()
                    .map(|c| (CardsOfCanon(c.kanban_canon_id), c)),
            ))
        })
        .await
    }
}

impl Loader<BoardOfUserForMeet> for DbLoader {
    type Value = BoardModel;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[BoardOfUserForMeet],
    ) -> Result<HashMap<BoardOfUserForMeet, BoardModel>, LoadError> {
        self.fetch_once(keys, |db, keys| async move {
            let triples: Vec<(Uuid, Uuid, Uuid)> = keys
                .iter()
                .map(|k| (k.canon_id, k.user_id, k.meet_id))
                .collect();
            let boards = service::boards_for(&db, &triples)
                .await
                .map_err(into_load_error)?;
            Ok(boards
                .into_iter()
                .filter_map(|b| {
                    let key = BoardOfUserForMeet {
                        canon_id: b.kanban_canon_id,
                        user_id: b.user_id,
                        meet_id: b.meet_id?,
                    };
                    keys.contains(&key).then_some((key, b))
                })
                .collect())
        })
        .await
    }
}

async fn canon_of(ctx: &Context<'_>, id: Uuid) -> Result<Option<CanonModel>> {
    Ok(loaders(ctx)
        .load_one(CanonById(id))
        .await
        .map_err(AppError::from)?)
}

async fn cards_of(ctx: &Context<'_>, canon_id: Uuid) -> Result<Vec<CardModel>> {
    Ok(loaders(ctx)
        .load_one(CardsOfCanon(canon_id))
        .await
        .map_err(AppError::from)?
        .unwrap_or_default())
}

/// `Meet.kanbanCanon`.
pub async fn canon_by_id(ctx: &Context<'_>, id: Uuid) -> Result<Option<KanbanCanon>> {
    Ok(canon_of(ctx, id).await?.map(KanbanCanon))
}

/// `Meet.kanban`: the logged-in user's board for this meet's canon; null when logged out or none.
pub async fn board_of_current_user(
    ctx: &Context<'_>,
    canon_id: Uuid,
    meet_id: Uuid,
) -> Result<Option<Kanban>> {
    let Some(user) = current_user(ctx).await? else {
        return Ok(None);
    };
    let key = BoardOfUserForMeet {
        canon_id,
        user_id: user.id,
        meet_id,
    };
    Ok(loaders(ctx)
        .load_one(key)
        .await
        .map_err(AppError::from)?
        .map(Kanban))
}

#[derive(SimpleObject)]
pub struct KanbanCardPositions {
    #[graphql(complexity = "list_complexity(child_complexity)")]
    pub todo: Vec<Uuid>,
    #[graphql(complexity = "list_complexity(child_complexity)")]
    pub wip: Vec<Uuid>,
    #[graphql(complexity = "list_complexity(child_complexity)")]
    pub done: Vec<Uuid>,
}

impl From<Positions> for KanbanCardPositions {
    fn from(p: Positions) -> Self {
        KanbanCardPositions {
            todo: p.todo,
            wip: p.wip,
            done: p.done,
        }
    }
}

pub struct KanbanCanonCard(pub CardModel);

#[Object]
impl KanbanCanonCard {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Markdown.
    async fn body(&self) -> &str {
        &self.0.body
    }
    async fn kanban_canon_id(&self) -> Uuid {
        self.0.kanban_canon_id
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
}

fn card_list(cards: Vec<CardModel>) -> Option<Vec<Option<KanbanCanonCard>>> {
    Some(
        cards
            .into_iter()
            .map(|c| Some(KanbanCanonCard(c)))
            .collect(),
    )
}

/// The master board an admin maintains.
pub struct KanbanCanon(pub CanonModel);

#[Object]
impl KanbanCanon {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// The order of the canon's live cards in its three columns.
    async fn card_positions(&self, ctx: &Context<'_>) -> Result<KanbanCardPositions> {
        let cards = cards_of(ctx, self.0.id).await?;
        Ok(service::canon_board(&self.0, &cards).into())
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn kanban_canon_cards(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<Vec<Option<KanbanCanonCard>>>> {
        Ok(card_list(cards_of(ctx, self.0.id).await?))
    }
}

/// One user's board for a canon: the canon's cards with the user's own moves applied.
pub struct Kanban(pub BoardModel);

impl Kanban {
    async fn canon(&self, ctx: &Context<'_>) -> Result<CanonModel> {
        Ok(canon_of(ctx, self.0.kanban_canon_id)
            .await?
            .ok_or_else(|| AppError::internal("kanban refers to a missing canon"))?)
    }
}

#[Object]
impl Kanban {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// The canon's title.
    async fn title(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.canon(ctx).await?.title)
    }
    /// The canon's description.
    async fn description(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.canon(ctx).await?.description)
    }
    async fn kanban_canon_id(&self) -> Uuid {
        self.0.kanban_canon_id
    }
    async fn user_id(&self) -> Uuid {
        self.0.user_id
    }
    async fn meet_id(&self) -> Option<Uuid> {
        self.0.meet_id
    }
    /// Where this user sees each card: the canon's positions with the user's moves on top.
    async fn card_positions(&self, ctx: &Context<'_>) -> Result<KanbanCardPositions> {
        let (canon, cards) =
            futures_util::try_join!(self.canon(ctx), cards_of(ctx, self.0.kanban_canon_id))?;
        Ok(service::board_view(&self.0, &canon, &cards).into())
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
    /// The canon's live cards.
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn kanban_cards(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<Vec<Option<KanbanCanonCard>>>> {
        Ok(card_list(cards_of(ctx, self.0.kanban_canon_id).await?))
    }
}

#[derive(InputObject)]
pub struct CreateKanbanCanonInput {
    pub title: String,
    pub description: String,
}

#[derive(InputObject)]
pub struct EditKanbanCanonInput {
    pub title: Option<String>,
    pub description: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateCardPositionInput {
    pub card_id: Uuid,
    pub status: Column,
    /// Position in the column; past the end means the end. Negative is an error.
    pub index: i32,
}

fn boards(list: Vec<BoardModel>) -> Option<Vec<Option<Kanban>>> {
    Some(list.into_iter().map(|b| Some(Kanban(b))).collect())
}

#[derive(Default)]
pub struct KanbanQuery;

#[Object]
impl KanbanQuery {
    /// A board by `id`, or by `kanbanCanonId` + `userId` (default: you) + `meetId` (null: no meet).
    /// Users see their own boards; admins anyone's. Null when there is no such board.
    async fn kanban(
        &self,
        ctx: &Context<'_>,
        id: Option<Uuid>,
        kanban_canon_id: Option<Uuid>,
        user_id: Option<Uuid>,
        meet_id: Option<Uuid>,
    ) -> Result<Option<Kanban>> {
        let actor = require_user(ctx).await?;
        let db = &app(ctx).db;
        let board = match (id, kanban_canon_id) {
            (Some(id), _) => service::find_board(db, id).await?,
            (None, Some(canon_id)) => {
                let filter = BoardFilter {
                    kanban_canon_id: Some(canon_id),
                    user_id: Some(user_id.unwrap_or(actor.id)),
                    meet_id: Some(meet_id),
                };
                service::list_boards(db, filter).await?.into_iter().next()
            }
            (None, None) => {
                return Err(AppError::bad_input("id", "give either id or kanbanCanonId").into());
            }
        };
        let Some(board) = board else {
            return Ok(None);
        };
        if board.user_id != actor.id && !actor.is_admin {
            return Err(AppError::forbidden("This kanban belongs to another user").into());
        }
        Ok(Some(Kanban(board)))
    }

    /// Boards matching the filters. Users see only their own; admins anyone's.
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn kanbans(
        &self,
        ctx: &Context<'_>,
        kanban_canon_id: Option<Uuid>,
        user_id: Option<Uuid>,
        meet_id: Option<Uuid>,
    ) -> Result<Option<Vec<Option<Kanban>>>> {
        let actor = require_user(ctx).await?;
        let user_id = match user_id {
            Some(other) if other != actor.id && !actor.is_admin => {
                return Err(AppError::forbidden("You can only list your own kanbans").into());
            }
            Some(id) => Some(id),
            None if actor.is_admin => None,
            None => Some(actor.id),
        };
        let filter = BoardFilter {
            kanban_canon_id,
            user_id,
            meet_id: meet_id.map(Some),
        };
        Ok(boards(service::list_boards(&app(ctx).db, filter).await?))
    }

    /// A canon by id; null when there is none.
    async fn kanban_canon(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<KanbanCanon>> {
        Ok(service::find_canon(&app(ctx).db, id)
            .await?
            .map(KanbanCanon))
    }

    /// All canons, newest first.
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn kanban_canons(&self, ctx: &Context<'_>) -> Result<Option<Vec<Option<KanbanCanon>>>> {
        let canons = service::list_canons(&app(ctx).db).await?;
        Ok(Some(
            canons.into_iter().map(|c| Some(KanbanCanon(c))).collect(),
        ))
    }

    /// A live canon card by id; null when there is none.
    async fn kanban_canon_card(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> Result<Option<KanbanCanonCard>> {
        Ok(service::find_card(&app(ctx).db, id)
            .await?
            .map(KanbanCanonCard))
    }

    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn kanban_canon_cards(
        &self,
        ctx: &Context<'_>,
        kanban_canon_id: Uuid,
    ) -> Result<Option<Vec<Option<KanbanCanonCard>>>> {
        Ok(card_list(
            service::cards_of(&app(ctx).db, &[kanban_canon_id]).await?,
        ))
    }
}

#[derive(Default)]
pub struct KanbanMutation;

#[Object]
impl KanbanMutation {
    /// Creates a board for yourself (admins: for anyone).
    async fn create_kanban(&self, ctx: &Context<'_>, input: NewBoard) -> Result<Kanban> {
        let actor = require_user(ctx).await?;
        let board = service::create_board(&app(ctx).db, &actor, input).await?;
        Ok(Kanban(board))
    }

    /// Moves a card on a board (its owner or an admin); returns the positions the owner now sees.
    async fn update_kanban_card_positions(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateCardPositionInput,
    ) -> Result<KanbanCardPositions> {
        let actor = require_user(ctx).await?;
        let placement = Placement {
            column: input.status,
            index: Some(input.index),
        };
        let view =
            service::move_on_board(&app(ctx).db, &actor, id, input.card_id, placement).await?;
        Ok(view.into())
    }

    /// Deletes a board (its owner or an admin).
    async fn delete_kanban(&self, ctx: &Context<'_>, id: Uuid) -> Result<bool> {
        let actor = require_user(ctx).await?;
        service::delete_board(&app(ctx).db, &actor, id).await?;
        Ok(true)
    }

    /// Admin only.
    async fn create_kanban_canon(
        &self,
        ctx: &Context<'_>,
        input: CreateKanbanCanonInput,
    ) -> Result<KanbanCanon> {
        require_admin(ctx).await?;
        let canon = service::create_canon(&app(ctx).db, &input.title, &input.description).await?;
        Ok(KanbanCanon(canon))
    }

    /// Admin only.
    async fn edit_kanban_canon(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: EditKanbanCanonInput,
    ) -> Result<KanbanCanon> {
        require_admin(ctx).await?;
        let canon = service::edit_canon(
            &app(ctx).db,
            id,
            input.title.as_deref(),
            input.description.as_deref(),
        )
        .await?;
        Ok(KanbanCanon(canon))
    }

    /// Admin only. Moves a card on the canon; returns the canon's new positions.
    async fn update_kanban_canon_card_positions(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateCardPositionInput,
    ) -> Result<KanbanCardPositions> {
        require_admin(ctx).await?;
        let placement = Placement {
            column: input.status,
            index: Some(input.index),
        };
        Ok(
            service::move_on_canon(&app(ctx).db, id, input.card_id, placement)
                .await?
                .into(),
        )
    }

    /// Admin only.
    async fn create_kanban_canon_card(
        &self,
        ctx: &Context<'_>,
        input: NewCard,
    ) -> Result<KanbanCanonCard> {
        require_admin(ctx).await?;
        let card = service::create_card(&app(ctx).db, input).await?;
        Ok(KanbanCanonCard(card))
    }

    /// Admin only. `status` and/or `index` move the card on the canon.
    async fn edit_kanban_canon_card(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: CardChanges,
    ) -> Result<KanbanCanonCard> {
        require_admin(ctx).await?;
        let card = service::edit_card(&app(ctx).db, id, input).await?;
        Ok(KanbanCanonCard(card))
    }

    /// Admin only. Removes the card from the canon and from every board.
    async fn delete_kanban_canon_card(&self, ctx: &Context<'_>, id: Uuid) -> Result<bool> {
        require_admin(ctx).await?;
        service::delete_card(&app(ctx).db, id).await?;
        Ok(true)
    }
}
