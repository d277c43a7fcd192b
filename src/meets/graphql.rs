//! GraphQL for meets and registrations.

use std::collections::HashMap;

use async_graphql::{Context, Object, Result, dataloader::Loader};
use chrono::Utc;
use uuid::Uuid;

use super::{
    entity::{MeetType, Model as MeetModel},
    service::{self, MeetChanges, NewMeet},
    time::{RegisterLinkStatus, format_wall_clock, register_link_status},
};
use crate::{
    error::AppError,
    graphql::limits::list_complexity,
    graphql::{
        context::{app, loaders, require_admin, require_user},
        loader::{DbLoader, LoadError, group_rows, ids, into_load_error},
        scalars::DateTime,
    },
    kanban::graphql::{Kanban, KanbanCanon, board_of_current_user, canon_by_id},
    projects::graphql::{Project, projects_of_meet},
    relation_key,
    users::{entity::Model as User, graphql::PublicUser},
};

relation_key!(
    /// A non-deleted meet by id.
    MeetById
);
relation_key!(
    /// The users registered for a meet.
    RegistrantsOfMeet
);
relation_key!(
    /// The meets a user is registered for.
    RegisteredMeetsOfUser
);

impl Loader<MeetById> for DbLoader {
    type Value = MeetModel;
    type Error = LoadError;

    async fn load(&self, keys: &[MeetById]) -> Result<HashMap<MeetById, MeetModel>, LoadError> {
        self.fetch_once(keys, |db, keys| async move {
            let meets = service::find_many(&db, &ids(&keys))
                .await
                .map_err(into_load_error)?;
            Ok(meets.into_iter().map(|m| (MeetById(m.id), m)).collect())
        })
        .await
    }
}

impl Loader<RegistrantsOfMeet> for DbLoader {
    type Value = Vec<User>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[RegistrantsOfMeet],
    ) -> Result<HashMap<RegistrantsOfMeet, Vec<User>>, LoadError> {
        self.fetch_once(keys, |db, keys| async move {
            let rows = service::registrants_of(&db, &ids(&keys))
                .await
                .map_err(into_load_error)?;
            Ok(group_rows(
                &keys,
                rows.into_iter()
                    .map(|(meet_id, user)| (RegistrantsOfMeet(meet_id), user)),
            ))
        })
        .await
    }
}

impl Loader<RegisteredMeetsOfUser> for DbLoader {
    type Value = Vec<MeetModel>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[RegisteredMeetsOfUser],
    ) -> Result<HashMap<RegisteredMeetsOfUser, Vec<MeetModel>>, LoadError> {
        self.fetch_once(keys, |db, keys| async move {
            let rows = service::registered_meets_of(&db, &ids(&keys))
                .await
                .map_err(into_load_error)?;
            Ok(group_rows(
                &keys,
                rows.into_iter()
                    .map(|(user_id, meet)| (RegisteredMeetsOfUser(user_id), meet)),
            ))
        })
        .await
    }
}

pub async fn registered_meets_of(ctx: &Context<'_>, user_id: Uuid) -> Result<Vec<Meet>> {
    let meets = loaders(ctx)
        .load_one(RegisteredMeetsOfUser(user_id))
        .await
        .map_err(AppError::from)?
        .unwrap_or_default();
    Ok(meets.into_iter().map(Meet).collect())
}

pub async fn meet_by_id(ctx: &Context<'_>, id: Uuid) -> Result<Option<Meet>> {
    Ok(loaders(ctx)
        .load_one(MeetById(id))
        .await
        .map_err(AppError::from)?
        .map(Meet))
}

pub struct Meet(pub MeetModel);

impl Meet {
    fn status(&self) -> RegisterLinkStatus {
        register_link_status(self.0.start_instant(), self.0.end_instant(), Utc::now())
    }
}

#[Object]
impl Meet {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn meet_type(&self) -> MeetType {
        self.0.kind()
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn detailed_description(&self) -> Option<&str> {
        self.0.detailed_description.as_deref()
    }
    async fn instructions(&self) -> &str {
        &self.0.instructions
    }
    /// Hidden once the meet is over, as in the Node backend.
    async fn register_link(&self) -> Option<&str> {
        match self.status() {
            RegisterLinkStatus::Closed => None,
            _ => self.0.register_link.as_deref(),
        }
    }
    /// Computed from the current time: WAITING before the start, OPEN until the end, then CLOSED.
    async fn register_link_status(&self) -> Option<RegisterLinkStatus> {
        Some(self.status())
    }
    async fn cover_image_url(&self) -> &str {
        &self.0.cover_image_url
    }
    /// Wall-clock start in the meet's `region`, e.g. `2020-10-10T09:00:00.000`.
    async fn start_time(&self) -> String {
        format_wall_clock(self.0.start_wall_clock())
    }
    /// Wall-clock end in the meet's `region`.
    async fn end_time(&self) -> String {
        format_wall_clock(self.0.end_wall_clock())
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
    /// IANA time zone of the meet, e.g. `America/Toronto`.
    async fn region(&self) -> &str {
        &self.0.region
    }
    async fn kanban_canon_id(&self) -> Option<Uuid> {
        self.0.kanban_canon_id
    }
    /// The kanban canon attached to this meet.
    async fn kanban_canon(&self, ctx: &Context<'_>) -> Result<Option<KanbanCanon>> {
        match self.0.kanban_canon_id {
            Some(canon_id) => canon_by_id(ctx, canon_id).await,
            None => Ok(None),
        }
    }
    /// The logged-in user's own board for this meet's canon; null when logged out or none.
    async fn kanban(&self, ctx: &Context<'_>) -> Result<Option<Kanban>> {
        match self.0.kanban_canon_id {
            Some(canon_id) => board_of_current_user(ctx, canon_id, self.0.id).await,
            None => Ok(None),
        }
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn registrants(&self, ctx: &Context<'_>) -> Result<Option<Vec<PublicUser>>> {
        let users = loaders(ctx)
            .load_one(RegistrantsOfMeet(self.0.id))
            .await
            .map_err(AppError::from)?
            .unwrap_or_default();
        Ok(Some(users.into_iter().map(PublicUser).collect()))
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn projects(&self, ctx: &Context<'_>) -> Result<Option<Vec<Project>>> {
        Ok(Some(projects_of_meet(ctx, self.0.id).await?))
    }
}

#[derive(Default)]
pub struct MeetQuery;

#[Object]
impl MeetQuery {
    /// All meets, newest start time first.
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn meets(&self, ctx: &Context<'_>) -> Result<Option<Vec<Option<Meet>>>> {
        let meets = service::list(&app(ctx).db).await?;
        Ok(Some(meets.into_iter().map(|m| Some(Meet(m))).collect()))
    }

    /// A meet by id; null when there is none (deleted meets included).
    async fn meet(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Meet>> {
        Ok(service::find(&app(ctx).db, id).await?.map(Meet))
    }
}

#[derive(Default)]
pub struct MeetMutation;

#[Object]
impl MeetMutation {
    /// Admin only.
    async fn create_meet(&self, ctx: &Context<'_>, input: NewMeet) -> Result<Meet> {
        require_admin(ctx).await?;
        let meet = service::create(&app(ctx).db, input, &app(ctx).config.email).await?;
        Ok(Meet(meet))
    }

    /// Admin only. Fields left out stay as they are.
    async fn edit_meet(&self, ctx: &Context<'_>, id: Uuid, input: MeetChanges) -> Result<Meet> {
        require_admin(ctx).await?;
        let meet = service::edit(&app(ctx).db, id, input, &app(ctx).config.email).await?;
        Ok(Meet(meet))
    }

    /// Admin only. The meet disappears from every query.
    async fn delete_meet(&self, ctx: &Context<'_>, id: Uuid) -> Result<bool> {
        require_admin(ctx).await?;
        service::delete(&app(ctx).db, id).await?;
        Ok(true)
    }

    /// Registers the logged-in user for a meet.
    async fn register_for_meet(&self, ctx: &Context<'_>, meet_id: Uuid) -> Result<bool> {
        let user = require_user(ctx).await?;
        service::register(&app(ctx).db, &user, meet_id, &app(ctx).config.email).await?;
        Ok(true)
    }
}
