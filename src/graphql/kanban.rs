//! GraphQL for kanban canons, canon cards and users' boards (`Kanban`).

use std::collections::HashMap;

use async_graphql::{
    ComplexObject, Context, Enum, InputObject, Lookahead, Object, SimpleObject, dataloader::Loader,
};

use crate::graphql::error::Result;
use futures_util::future::BoxFuture;
use uuid::Uuid;

use crate::{
    graphql::{
        context::{app, caller},
        limits::list_complexity,
        loader::{DbLoader, LoadError, Preload, into_load_error, loaders, preloaded},
        scalars::DateTime,
    },
    loader,
};
use mintbean_core::error::{AppError, AppResult};
use mintbean_core::kanban::{
    board::Model as BoardModel,
    canon::Model as CanonModel,
    card::Model as CardModel,
    positions::{KanbanColumn, Positions},
    service::{
        self, BoardFilter, BoardLookup, CanonChanges, CardChanges, NewBoard, NewCanon, NewCard,
        Placement,
    },
};

loader!(
    /// A kanban canon by id.
    CanonById: one CanonModel = service::find_canons, |canon| canon.id
);
loader!(
    /// The live cards of a canon, oldest first.
    CardsOfCanon: many CardModel = service::list_cards_by_canon
);

/// The board of one user for one meet's canon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BoardOfUserForMeet {
    pub canon_id: Uuid,
    pub user_id: Uuid,
    pub meet_id: Uuid,
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
            let boards = service::list_boards_for(&db, &triples)
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

/// `Meet.kanban`: the caller's board for this meet's canon; null when logged out or none.
pub async fn board_of_caller(
    ctx: &Context<'_>,
    canon_id: Uuid,
    meet_id: Uuid,
) -> Result<Option<Kanban>> {
    let caller = caller(ctx).await?;
    let Some(user) = caller.user() else {
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
        .map(Kanban::from))
}

/// Both fields are answered from the canon's cards.
impl Preload for CanonModel {
    fn preload<'a>(
        ctx: &'a Context<'_>,
        selection: &'a Lookahead<'_>,
        canons: &'a [&'a Self],
    ) -> BoxFuture<'a, AppResult<()>> {
        let ids = canons.iter().map(|canon| canon.id);
        CardsOfCanon::preload(ctx, selection, &["kanbanCanonCards", "cardPositions"], ids)
    }
}

impl Preload for CardModel {}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "KanbanCanonCardStatusEnum", remote = "KanbanColumn")]
pub enum GqlKanbanColumn {
    Todo,
    Wip,
    Done,
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

#[derive(SimpleObject)]
pub struct KanbanCanonCard {
    pub id: Uuid,
    pub title: String,
    /// Markdown.
    pub body: String,
    pub kanban_canon_id: Uuid,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

impl From<CardModel> for KanbanCanonCard {
    fn from(card: CardModel) -> Self {
        KanbanCanonCard {
            id: card.id,
            title: card.title,
            body: card.body,
            kanban_canon_id: card.kanban_canon_id,
            created_at: card.created_at.into(),
            updated_at: card.updated_at.into(),
        }
    }
}

fn card_list(cards: Vec<CardModel>) -> Option<Vec<Option<KanbanCanonCard>>> {
    Some(cards.into_iter().map(|c| Some(c.into())).collect())
}

/// The master board an admin maintains.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct KanbanCanon {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    #[graphql(skip)]
    canon: CanonModel,
}

impl From<CanonModel> for KanbanCanon {
    fn from(canon: CanonModel) -> Self {
        KanbanCanon {
            id: canon.id,
            title: canon.title.clone(),
            description: canon.description.clone(),
            created_at: canon.created_at.into(),
            updated_at: canon.updated_at.into(),
            canon,
        }
    }
}

#[ComplexObject]
impl KanbanCanon {
    /// The order of the canon's live cards in its three columns.
    async fn card_positions(&self, ctx: &Context<'_>) -> Result<KanbanCardPositions> {
        let cards = CardsOfCanon::load(ctx, self.id).await?;
        Ok(service::canon_board(&self.canon, &cards).into())
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn kanban_canon_cards(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<Vec<Option<KanbanCanonCard>>>> {
        Ok(card_list(CardsOfCanon::load(ctx, self.id).await?))
    }
}

/// One user's board for a canon: the canon's cards with the user's own moves applied.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Kanban {
    pub id: Uuid,
    pub kanban_canon_id: Uuid,
    pub user_id: Uuid,
    pub meet_id: Option<Uuid>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    #[graphql(skip)]
    board: BoardModel,
}

impl From<BoardModel> for Kanban {
    fn from(board: BoardModel) -> Self {
        Kanban {
            id: board.id,
            kanban_canon_id: board.kanban_canon_id,
            user_id: board.user_id,
            meet_id: board.meet_id,
            created_at: board.created_at.into(),
            updated_at: board.updated_at.into(),
            board,
        }
    }
}

impl Kanban {
    async fn canon(&self, ctx: &Context<'_>) -> Result<CanonModel> {
        Ok(CanonById::load(ctx, self.kanban_canon_id)
            .await?
            .ok_or_else(|| AppError::internal("kanban refers to a missing canon"))?)
    }
}

#[ComplexObject]
impl Kanban {
    /// The canon's title.
    async fn title(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.canon(ctx).await?.title)
    }
    /// The canon's description.
    async fn description(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(self.canon(ctx).await?.description)
    }
    /// Where this user sees each card: the canon's positions with the user's moves on top.
    async fn card_positions(&self, ctx: &Context<'_>) -> Result<KanbanCardPositions> {
        let (canon, cards) = futures_util::try_join!(self.canon(ctx), async {
            Ok(CardsOfCanon::load(ctx, self.kanban_canon_id).await?)
        })?;
        Ok(service::board_view(&self.board, &canon, &cards).into())
    }
    /// The canon's live cards.
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn kanban_cards(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<Vec<Option<KanbanCanonCard>>>> {
        Ok(card_list(
            CardsOfCanon::load(ctx, self.kanban_canon_id).await?,
        ))
    }
}

#[derive(InputObject)]
pub struct CreateKanbanCanonInput {
    pub title: String,
    pub description: String,
}

impl From<CreateKanbanCanonInput> for NewCanon {
    fn from(input: CreateKanbanCanonInput) -> Self {
        NewCanon {
            title: input.title,
            description: input.description,
        }
    }
}

#[derive(InputObject)]
pub struct EditKanbanCanonInput {
    pub title: Option<String>,
    pub description: Option<String>,
}

impl From<EditKanbanCanonInput> for CanonChanges {
    fn from(input: EditKanbanCanonInput) -> Self {
        CanonChanges {
            title: input.title,
            description: input.description,
        }
    }
}

#[derive(InputObject)]
pub struct CreateKanbanCanonCardInput {
    pub kanban_canon_id: Uuid,
    pub title: String,
    /// Column; TODO when omitted.
    pub status: Option<GqlKanbanColumn>,
    /// Position in the column; the end when omitted.
    pub index: Option<i32>,
    /// Markdown.
    pub body: String,
}

impl From<CreateKanbanCanonCardInput> for NewCard {
    fn from(input: CreateKanbanCanonCardInput) -> Self {
        NewCard {
            kanban_canon_id: input.kanban_canon_id,
            title: input.title,
            status: input.status.map(Into::into),
            index: input.index,
            body: input.body,
        }
    }
}

/// Fields left out stay as they are; `status` and/or `index` move the card on the canon.
#[derive(InputObject)]
pub struct EditKanbanCanonCardInput {
    pub title: Option<String>,
    pub status: Option<GqlKanbanColumn>,
    pub index: Option<i32>,
    pub body: Option<String>,
}

impl From<EditKanbanCanonCardInput> for CardChanges {
    fn from(input: EditKanbanCanonCardInput) -> Self {
        CardChanges {
            title: input.title,
            status: input.status.map(Into::into),
            index: input.index,
            body: input.body,
        }
    }
}

#[derive(InputObject)]
pub struct CreateKanbanInput {
    pub kanban_canon_id: Uuid,
    pub user_id: Uuid,
    pub meet_id: Option<Uuid>,
}

impl From<CreateKanbanInput> for NewBoard {
    fn from(input: CreateKanbanInput) -> Self {
        NewBoard {
            kanban_canon_id: input.kanban_canon_id,
            user_id: input.user_id,
            meet_id: input.meet_id,
        }
    }
}

#[derive(InputObject)]
pub struct UpdateCardPositionInput {
    pub card_id: Uuid,
    pub status: GqlKanbanColumn,
    /// Position in the column; past the end means the end. Negative is an error.
    pub index: i32,
}

impl From<&UpdateCardPositionInput> for Placement {
    fn from(input: &UpdateCardPositionInput) -> Self {
        Placement {
            column: input.status.into(),
            index: Some(input.index),
        }
    }
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
        let lookup = BoardLookup {
            id,
            kanban_canon_id,
            user_id,
            meet_id,
        };
        let board = service::find_board(&app(ctx).db, &caller(ctx).await?, lookup).await?;
        Ok(board.map(Kanban::from))
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
        let filter = BoardFilter {
            kanban_canon_id,
            user_id,
            meet_id,
        };
        let boards = service::list_boards(&app(ctx).db, &caller(ctx).await?, filter).await?;
        Ok(Some(boards.into_iter().map(|b| Some(b.into())).collect()))
    }

    /// A canon by id; null when there is none.
    async fn kanban_canon(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<KanbanCanon>> {
        let canon = service::find_canon(&app(ctx).db, id).await?;
        preloaded(ctx, canon.as_slice()).await?;
        Ok(canon.map(KanbanCanon::from))
    }

    /// All canons, newest first.
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn kanban_canons(&self, ctx: &Context<'_>) -> Result<Option<Vec<Option<KanbanCanon>>>> {
        let canons = service::list_canons(&app(ctx).db).await?;
        preloaded(ctx, &canons).await?;
        Ok(Some(canons.into_iter().map(|c| Some(c.into())).collect()))
    }

    /// A live canon card by id; null when there is none.
    async fn kanban_canon_card(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> Result<Option<KanbanCanonCard>> {
        Ok(service::find_card(&app(ctx).db, id)
            .await?
            .map(KanbanCanonCard::from))
    }

    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn kanban_canon_cards(
        &self,
        ctx: &Context<'_>,
        kanban_canon_id: Uuid,
    ) -> Result<Option<Vec<Option<KanbanCanonCard>>>> {
        Ok(card_list(
            service::list_cards(&app(ctx).db, kanban_canon_id).await?,
        ))
    }
}

#[derive(Default)]
pub struct KanbanMutation;

#[Object]
impl KanbanMutation {
    /// Creates a board for yourself (admins: for anyone).
    async fn create_kanban(&self, ctx: &Context<'_>, input: CreateKanbanInput) -> Result<Kanban> {
        let board = service::create_board(&app(ctx).db, &caller(ctx).await?, input.into()).await?;
        Ok(board.into())
    }

    /// Moves a card on a board (its owner or an admin); returns the positions the owner now sees.
    async fn update_kanban_card_positions(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateCardPositionInput,
    ) -> Result<KanbanCardPositions> {
        let caller = caller(ctx).await?;
        let view =
            service::move_on_board(&app(ctx).db, &caller, id, input.card_id, (&input).into())
                .await?;
        Ok(view.into())
    }

    /// Deletes a board (its owner or an admin).
    async fn delete_kanban(&self, ctx: &Context<'_>, id: Uuid) -> Result<bool> {
        service::delete_board(&app(ctx).db, &caller(ctx).await?, id).await?;
        Ok(true)
    }

    /// Admin only.
    async fn create_kanban_canon(
        &self,
        ctx: &Context<'_>,
        input: CreateKanbanCanonInput,
    ) -> Result<KanbanCanon> {
        let canon = service::create_canon(&app(ctx).db, &caller(ctx).await?, input.into()).await?;
        Ok(canon.into())
    }

    /// Admin only.
    async fn edit_kanban_canon(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: EditKanbanCanonInput,
    ) -> Result<KanbanCanon> {
        let canon =
            service::edit_canon(&app(ctx).db, &caller(ctx).await?, id, input.into()).await?;
        Ok(canon.into())
    }

    /// Admin only. Moves a card on the canon; returns the canon's new positions.
    async fn update_kanban_canon_card_positions(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateCardPositionInput,
    ) -> Result<KanbanCardPositions> {
        let caller = caller(ctx).await?;
        let board =
            service::move_on_canon(&app(ctx).db, &caller, id, input.card_id, (&input).into())
                .await?;
        Ok(board.into())
    }

    /// Admin only.
    async fn create_kanban_canon_card(
        &self,
        ctx: &Context<'_>,
        input: CreateKanbanCanonCardInput,
    ) -> Result<KanbanCanonCard> {
        let card = service::create_card(&app(ctx).db, &caller(ctx).await?, input.into()).await?;
        Ok(card.into())
    }

    /// Admin only. `status` and/or `index` move the card on the canon.
    async fn edit_kanban_canon_card(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: EditKanbanCanonCardInput,
    ) -> Result<KanbanCanonCard> {
        let card = service::edit_card(&app(ctx).db, &caller(ctx).await?, id, input.into()).await?;
        Ok(card.into())
    }

    /// Admin only. Removes the card from the canon and from every board.
    async fn delete_kanban_canon_card(&self, ctx: &Context<'_>, id: Uuid) -> Result<bool> {
        service::delete_card(&app(ctx).db, &caller(ctx).await?, id).await?;
        Ok(true)
    }
}
