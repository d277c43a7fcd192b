//! GraphQL for meets and registrations.

use async_graphql::{
    ComplexObject, Context, Enum, InputObject, MaybeUndefined, Object, SimpleObject,
};

use crate::graphql::error::Result;
use chrono::Utc;
use futures_util::future::BoxFuture;
use uuid::Uuid;

use super::{
    kanban::{CanonById, Kanban, KanbanCanon, board_of_caller},
    projects::{Project, ProjectsOfMeet},
    users::PublicUser,
};
use crate::{
    graphql::{
        context::{app, caller, valid_until},
        limits::list_complexity,
        loader::{Preload, preloaded},
        scalars::DateTime,
        scalars::present,
    },
    loader,
};
use mintbean_core::meets::{
    entity::{MeetType, Model as MeetModel},
    service::{self, MeetChanges, NewMeet},
    time::{RegisterLinkStatus, format_wall_clock, register_link_status},
};
use mintbean_core::{error::AppResult, users::entity::Profile};

loader!(
    /// A non-deleted meet by id.
    MeetById: one MeetModel = service::find_many, |meet| meet.id
);
loader!(
    /// The users registered for a meet, oldest registration first.
    RegistrantsOfMeet: many Profile = service::list_registrants
);
loader!(
    /// The meets a user is registered for, newest start first. Kept across requests: the same
    /// for every caller, read from `meets` and `meetRegistrations`, which notify the answer
    /// cache's channel. (Every logged-in page of the frontend asks for it.)
    RegisteredMeetsOfUser: many MeetModel = service::list_registered_meets, kept
);

impl Preload for MeetModel {
    fn preload<'a>(
        ctx: &'a Context<'_>,
        selection: &'a async_graphql::Lookahead<'_>,
        meets: &'a [&'a Self],
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            let ids = || meets.iter().map(|meet| meet.id);
            let canon_ids = meets.iter().filter_map(|meet| meet.kanban_canon_id);
            futures_util::try_join!(
                RegistrantsOfMeet::preload(ctx, selection, &["registrants"], ids()),
                ProjectsOfMeet::preload(ctx, selection, &["projects"], ids()),
                CanonById::preload(ctx, selection, &["kanbanCanon"], canon_ids),
            )?;
            Ok(())
        })
    }
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "MeetType", remote = "MeetType")]
pub enum GqlMeetType {
    Hackathon,
    Workshop,
    Webinar,
    Lecture,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "RegisterLinkStatus", remote = "RegisterLinkStatus")]
pub enum GqlRegisterLinkStatus {
    Waiting,
    Open,
    Closed,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Meet {
    pub id: Uuid,
    pub meet_type: GqlMeetType,
    pub title: String,
    pub description: String,
    pub detailed_description: Option<String>,
    pub instructions: String,
    pub cover_image_url: String,
    /// Wall-clock start in the meet's `region`, e.g. `2020-10-10T09:00:00.000`.
    pub start_time: String,
    /// Wall-clock end in the meet's `region`.
    pub end_time: String,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    /// IANA time zone of the meet, e.g. `America/Toronto`.
    pub region: String,
    pub kanban_canon_id: Option<Uuid>,
    #[graphql(skip)]
    starts_at: chrono::DateTime<Utc>,
    #[graphql(skip)]
    ends_at: chrono::DateTime<Utc>,
    /// Read from the clock once per meet, so that both register link fields agree.
    #[graphql(skip)]
    status: std::sync::OnceLock<RegisterLinkStatus>,
    #[graphql(skip)]
    register_link: Option<String>,
}

impl Meet {
    /// WAITING before the start, OPEN until the end, then CLOSED; the answer is valid until the
    /// next of those moments.
    fn status(&self, ctx: &Context<'_>) -> RegisterLinkStatus {
        *self.status.get_or_init(|| {
            let status = register_link_status(self.starts_at, self.ends_at, Utc::now());
            match status {
                RegisterLinkStatus::Waiting => valid_until(ctx, self.starts_at),
                RegisterLinkStatus::Open => valid_until(ctx, self.ends_at),
                RegisterLinkStatus::Closed => {}
            }
            status
        })
    }
}

impl From<MeetModel> for Meet {
    fn from(meet: MeetModel) -> Self {
        Meet {
            id: meet.id,
            meet_type: meet.kind().into(),
            start_time: format_wall_clock(meet.start_wall_clock()),
            end_time: format_wall_clock(meet.end_wall_clock()),
            starts_at: meet.start_instant(),
            ends_at: meet.end_instant(),
            status: std::sync::OnceLock::new(),
            title: meet.title,
            description: meet.description,
            detailed_description: meet.detailed_description,
            instructions: meet.instructions,
            cover_image_url: meet.cover_image_url,
            created_at: meet.created_at.into(),
            updated_at: meet.updated_at.into(),
            region: meet.region,
            kanban_canon_id: meet.kanban_canon_id,
            register_link: meet.register_link,
        }
    }
}

#[ComplexObject]
impl Meet {
    /// Hidden once the meet is over, as in the Node backend.
    async fn register_link(&self, ctx: &Context<'_>) -> Option<&str> {
        match self.status(ctx) {
            RegisterLinkStatus::Closed => None,
            _ => self.register_link.as_deref(),
        }
    }
    /// Computed from the current time: WAITING before the start, OPEN until the end, then CLOSED.
    async fn register_link_status(&self, ctx: &Context<'_>) -> Option<GqlRegisterLinkStatus> {
        Some(self.status(ctx).into())
    }
    /// The kanban canon attached to this meet.
    async fn kanban_canon(&self, ctx: &Context<'_>) -> Result<Option<KanbanCanon>> {
        match self.kanban_canon_id {
            Some(canon_id) => Ok(CanonById::load(ctx, canon_id).await?.map(KanbanCanon::from)),
            None => Ok(None),
        }
    }
    /// The logged-in user's own board for this meet's canon; null when logged out or none.
    async fn kanban(&self, ctx: &Context<'_>) -> Result<Option<Kanban>> {
        match self.kanban_canon_id {
            Some(canon_id) => board_of_caller(ctx, canon_id, self.id).await,
            None => Ok(None),
        }
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn registrants(&self, ctx: &Context<'_>) -> Result<Option<Vec<PublicUser>>> {
        let users = RegistrantsOfMeet::load(ctx, self.id).await?;
        Ok(Some(users.into_iter().map(PublicUser::from).collect()))
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn projects(&self, ctx: &Context<'_>) -> Result<Option<Vec<Project>>> {
        let projects = ProjectsOfMeet::load(ctx, self.id).await?;
        Ok(Some(projects.into_iter().map(Project::from).collect()))
    }
}

#[derive(InputObject)]
pub struct CreateMeetInput {
    pub meet_type: GqlMeetType,
    pub title: String,
    pub description: String,
    pub detailed_description: Option<String>,
    pub instructions: String,
    pub register_link: Option<String>,
    pub cover_image_url: String,
    /// Wall-clock time in `region`, e.g. `2020-10-10T09:00`.
    pub start_time: String,
    pub end_time: String,
    /// IANA time zone, e.g. `America/Toronto`.
    pub region: String,
}

impl From<CreateMeetInput> for NewMeet {
    fn from(input: CreateMeetInput) -> Self {
        NewMeet {
            meet_type: input.meet_type.into(),
            title: input.title,
            description: input.description,
            detailed_description: input.detailed_description,
            instructions: input.instructions,
            register_link: input.register_link,
            cover_image_url: input.cover_image_url,
            start_time: input.start_time,
            end_time: input.end_time,
            region: input.region,
        }
    }
}

/// A partial edit: fields left out stay as they are; `null` clears a nullable field.
#[derive(InputObject)]
pub struct EditMeetInput {
    pub meet_type: Option<GqlMeetType>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub detailed_description: MaybeUndefined<String>,
    pub instructions: Option<String>,
    pub register_link: MaybeUndefined<String>,
    pub cover_image_url: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub region: Option<String>,
    /// Attach a kanban canon, or `null` to detach it.
    pub kanban_canon_id: MaybeUndefined<Uuid>,
}

impl From<EditMeetInput> for MeetChanges {
    fn from(input: EditMeetInput) -> Self {
        MeetChanges {
            meet_type: input.meet_type.map(Into::into),
            title: input.title,
            description: input.description,
            detailed_description: present(input.detailed_description),
            instructions: input.instructions,
            register_link: present(input.register_link),
            cover_image_url: input.cover_image_url,
            start_time: input.start_time,
            end_time: input.end_time,
            region: input.region,
            kanban_canon_id: present(input.kanban_canon_id),
        }
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
        preloaded(ctx, &meets).await?;
        Ok(Some(meets.into_iter().map(|m| Some(m.into())).collect()))
    }

    /// A meet by id; null when there is none (deleted meets included).
    async fn meet(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Meet>> {
        let meet = service::find(&app(ctx).db, id).await?;
        preloaded(ctx, meet.as_slice()).await?;
        Ok(meet.map(Meet::from))
    }
}

#[derive(Default)]
pub struct MeetMutation;

#[Object]
impl MeetMutation {
    /// Admin only.
    async fn create_meet(&self, ctx: &Context<'_>, input: CreateMeetInput) -> Result<Meet> {
        let state = app(ctx);
        let caller = caller(ctx).await?;
        let meet = service::create(&state.db, &caller, input.into()).await?;
        Ok(meet.into())
    }

    /// Admin only. Fields left out stay as they are.
    async fn edit_meet(&self, ctx: &Context<'_>, id: Uuid, input: EditMeetInput) -> Result<Meet> {
        let state = app(ctx);
        let caller = caller(ctx).await?;
        let meet = service::edit(&state.db, &caller, id, input.into()).await?;
        Ok(meet.into())
    }

    /// Admin only. The meet disappears from every query.
    async fn delete_meet(&self, ctx: &Context<'_>, id: Uuid) -> Result<bool> {
        service::delete(&app(ctx).db, &caller(ctx).await?, id).await?;
        Ok(true)
    }

    /// Registers the logged-in user for a meet.
    async fn register_for_meet(&self, ctx: &Context<'_>, meet_id: Uuid) -> Result<bool> {
        let state = app(ctx);
        let caller = caller(ctx).await?;
        service::register(&state.db, &caller, meet_id).await?;
        Ok(true)
    }
}
