//! GraphQL for badges.

use async_graphql::{ComplexObject, Context, Enum, InputObject, Lookahead, Object, SimpleObject};

use crate::graphql::error::Result;
use futures_util::future::BoxFuture;
use uuid::Uuid;

use super::projects::Project;
use crate::{
    graphql::{
        context::{app, caller},
        limits::list_complexity,
        loader::{Preload, preloaded},
        scalars::DateTime,
    },
    loader,
};
use mintbean_core::badges::{
    entity::{BadgeShape, Model as BadgeModel},
    service::{self, BadgeChanges, NewBadge},
};
use mintbean_core::{
    error::{AppError, AppResult},
    projects::entity::Model as ProjectModel,
};

loader!(
    /// The badges awarded to a project, heaviest first.
    BadgesOfProject: many BadgeModel = service::list_by_project
);
loader!(
    /// The projects a badge was awarded to, newest first.
    ProjectsOfBadge: many ProjectModel = service::list_projects
);

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "BadgeShape", remote = "BadgeShape")]
pub enum GqlBadgeShape {
    Star,
    Circle,
    Square,
}

impl Preload for BadgeModel {
    fn preload<'a>(
        ctx: &'a Context<'_>,
        selection: &'a Lookahead<'_>,
        badges: &'a [&'a Self],
    ) -> BoxFuture<'a, AppResult<()>> {
        let ids = badges.iter().map(|badge| badge.id);
        ProjectsOfBadge::preload(ctx, selection, &["projects"], ids)
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Badge {
    pub id: Uuid,
    /// Unique short code such as `:trophy:`.
    pub alias: String,
    pub badge_shape: GqlBadgeShape,
    /// Font Awesome icon name.
    pub fa_icon: String,
    /// Six hex digits, no `#`.
    pub background_hex: Option<String>,
    pub icon_hex: Option<String>,
    pub title: String,
    pub description: Option<String>,
    /// Heavier badges sort first.
    pub weight: Option<i32>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

impl From<BadgeModel> for Badge {
    fn from(badge: BadgeModel) -> Self {
        Badge {
            id: badge.id,
            badge_shape: BadgeShape::from_stored(&badge.badge_shape).into(),
            alias: badge.alias,
            fa_icon: badge.fa_icon,
            background_hex: badge.background_hex,
            icon_hex: badge.icon_hex,
            title: badge.title,
            description: Some(badge.description),
            weight: Some(badge.weight),
            created_at: badge.created_at.into(),
            updated_at: badge.updated_at.into(),
        }
    }
}

#[ComplexObject]
impl Badge {
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn projects(&self, ctx: &Context<'_>) -> Result<Option<Vec<Option<Project>>>> {
        let projects = ProjectsOfBadge::load(ctx, self.id).await?;
        Ok(Some(projects.into_iter().map(|p| Some(p.into())).collect()))
    }
}

/// A new badge: like `EditBadgeInput`, with the required fields required.
#[derive(InputObject)]
pub struct CreateBadgeInput {
    pub alias: String,
    pub badge_shape: GqlBadgeShape,
    pub fa_icon: String,
    pub background_hex: Option<String>,
    pub icon_hex: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub weight: Option<i32>,
}

impl From<CreateBadgeInput> for NewBadge {
    fn from(input: CreateBadgeInput) -> Self {
        NewBadge {
            alias: input.alias,
            badge_shape: input.badge_shape.into(),
            fa_icon: input.fa_icon,
            background_hex: input.background_hex,
            icon_hex: input.icon_hex,
            title: input.title,
            description: input.description,
            weight: input.weight,
        }
    }
}

/// A badge's fields; fields left out stay as they are.
#[derive(InputObject)]
pub struct EditBadgeInput {
    pub alias: Option<String>,
    pub badge_shape: Option<GqlBadgeShape>,
    pub fa_icon: Option<String>,
    pub background_hex: Option<String>,
    pub icon_hex: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub weight: Option<i32>,
}

impl From<EditBadgeInput> for BadgeChanges {
    fn from(input: EditBadgeInput) -> Self {
        BadgeChanges {
            alias: input.alias,
            badge_shape: input.badge_shape.map(Into::into),
            fa_icon: input.fa_icon,
            background_hex: input.background_hex,
            icon_hex: input.icon_hex,
            title: input.title,
            description: input.description,
            weight: input.weight,
        }
    }
}

#[derive(Default)]
pub struct BadgeQuery;

#[Object]
impl BadgeQuery {
    /// All badges, newest first.
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn badges(&self, ctx: &Context<'_>) -> Result<Option<Vec<Option<Badge>>>> {
        let badges = service::list(&app(ctx).db).await?;
        preloaded(ctx, &badges).await?;
        Ok(Some(badges.into_iter().map(|b| Some(b.into())).collect()))
    }

    /// A badge by id; null when there is none.
    async fn badge(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Badge>> {
        let badge = service::find(&app(ctx).db, id).await?;
        preloaded(ctx, badge.as_slice()).await?;
        Ok(badge.map(Badge::from))
    }
}

#[derive(Default)]
pub struct BadgeMutation;

#[Object]
impl BadgeMutation {
    /// Admin only.
    async fn create_badge(&self, ctx: &Context<'_>, input: CreateBadgeInput) -> Result<Badge> {
        let badge = service::create(&app(ctx).db, &caller(ctx).await?, input.into()).await?;
        Ok(badge.into())
    }

    /// Admin only. Fields left out stay as they are.
    async fn edit_badge(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: EditBadgeInput,
    ) -> Result<Badge> {
        let badge = service::edit(&app(ctx).db, &caller(ctx).await?, id, input.into()).await?;
        Ok(badge.into())
    }

    /// Admin only. Also removes the badge from every project.
    async fn delete_badge(&self, ctx: &Context<'_>, id: Uuid) -> Result<bool> {
        service::delete(&app(ctx).db, &caller(ctx).await?, id).await?;
        Ok(true)
    }

    /// Admin only. Replaces the project's badges with exactly `badgeIds`.
    async fn award_badges_to_project(
        &self,
        ctx: &Context<'_>,
        project_id: Uuid,
        badge_ids: Vec<Option<Uuid>>,
    ) -> Result<Option<Project>> {
        let ids = badge_ids
            .into_iter()
            .collect::<Option<Vec<Uuid>>>()
            .ok_or_else(|| AppError::bad_input("badgeIds", "badgeIds must not contain null"))?;
        let caller = caller(ctx).await?;
        let project = service::award_to_project(&app(ctx).db, &caller, project_id, &ids).await?;
        Ok(Some(project.into()))
    }
}
