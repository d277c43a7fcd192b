//! GraphQL for badges.

use std::collections::HashMap;

use async_graphql::{Context, InputObject, Object, Result, dataloader::Loader};
use uuid::Uuid;

use super::{
    entity::{BadgeShape, Model as BadgeModel},
    service::{self, BadgeFields},
};
use crate::{
    error::AppError,
    graphql::limits::list_complexity,
    graphql::{
        context::{app, loaders, require_admin},
        loader::{DbLoader, LoadError, group_rows, ids, into_load_error},
        scalars::DateTime,
    },
    projects::{entity::Model as ProjectModel, graphql::Project},
    relation_key,
};

relation_key!(
    /// The badges awarded to a project.
    BadgesOfProject
);
relation_key!(
    /// The projects a badge was awarded to.
    ProjectsOfBadge
);

impl Loader<BadgesOfProject> for DbLoader {
    type Value = Vec<BadgeModel>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[BadgesOfProject],
    ) -> Result<HashMap<BadgesOfProject, Self::Value>, LoadError> {
        self.fetch_once(keys, |db, keys| async move {
            let rows = service::badges_of_projects(&db, &ids(&keys))
                .await
                .map_err(into_load_error)?;
            Ok(group_rows(
                &keys,
                rows.into_iter()
                    .map(|(project_id, b)| (BadgesOfProject(project_id), b)),
            ))
        })
        .await
    }
}

impl Loader<ProjectsOfBadge> for DbLoader {
    type Value = Vec<ProjectModel>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ProjectsOfBadge],
    ) -> Result<HashMap<ProjectsOfBadge, Self::Value>, LoadError> {
        self.fetch_once(keys, |db, keys| async move {
            let rows = service::projects_of_badges(&db, &ids(&keys))
                .await
                .map_err(into_load_error)?;
            Ok(group_rows(
                &keys,
                rows.into_iter()
                    .map(|(badge_id, p)| (ProjectsOfBadge(badge_id), p)),
            ))
        })
        .await
    }
}

pub async fn badges_of_project(ctx: &Context<'_>, project_id: Uuid) -> Result<Vec<Badge>> {
    let badges = loaders(ctx)
        .load_one(BadgesOfProject(project_id))
        .await
        .map_err(AppError::from)?
        .unwrap_or_default();
    Ok(badges.into_iter().map(Badge).collect())
}

pub struct Badge(pub BadgeModel);

#[Object]
impl Badge {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// Unique short code such as `:trophy:`.
    async fn alias(&self) -> &str {
        &self.0.alias
    }
    async fn badge_shape(&self) -> BadgeShape {
        BadgeShape::from_stored(&self.0.badge_shape)
    }
    /// Font Awesome icon name.
    async fn fa_icon(&self) -> &str {
        &self.0.fa_icon
    }
    /// Six hex digits, no `#`.
    async fn background_hex(&self) -> Option<&str> {
        self.0.background_hex.as_deref()
    }
    async fn icon_hex(&self) -> Option<&str> {
        self.0.icon_hex.as_deref()
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> Option<&str> {
        Some(&self.0.description)
    }
    /// Heavier badges sort first.
    async fn weight(&self) -> Option<i32> {
        Some(self.0.weight)
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn projects(&self, ctx: &Context<'_>) -> Result<Option<Vec<Option<Project>>>> {
        let projects = loaders(ctx)
            .load_one(ProjectsOfBadge(self.0.id))
            .await
            .map_err(AppError::from)?
            .unwrap_or_default();
        Ok(Some(
            projects.into_iter().map(|p| Some(Project(p))).collect(),
        ))
    }
}

/// A new badge: like `EditBadgeInput`, with the required fields required.
#[derive(InputObject)]
pub struct CreateBadgeInput {
    pub alias: String,
    pub badge_shape: BadgeShape,
    pub fa_icon: String,
    pub background_hex: Option<String>,
    pub icon_hex: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub weight: Option<i32>,
}

impl From<CreateBadgeInput> for BadgeFields {
    fn from(input: CreateBadgeInput) -> Self {
        BadgeFields {
            alias: Some(input.alias),
            badge_shape: Some(input.badge_shape),
            fa_icon: Some(input.fa_icon),
            background_hex: input.background_hex,
            icon_hex: input.icon_hex,
            title: Some(input.title),
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
        Ok(Some(badges.into_iter().map(|b| Some(Badge(b))).collect()))
    }

    /// A badge by id; null when there is none.
    async fn badge(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Badge>> {
        Ok(service::find(&app(ctx).db, id).await?.map(Badge))
    }
}

#[derive(Default)]
pub struct BadgeMutation;

#[Object]
impl BadgeMutation {
    /// Admin only.
    async fn create_badge(&self, ctx: &Context<'_>, input: CreateBadgeInput) -> Result<Badge> {
        require_admin(ctx).await?;
        let badge = service::create(&app(ctx).db, input.into()).await?;
        Ok(Badge(badge))
    }

    /// Admin only. Fields left out stay as they are.
    async fn edit_badge(&self, ctx: &Context<'_>, id: Uuid, input: BadgeFields) -> Result<Badge> {
        require_admin(ctx).await?;
        let badge = service::edit(&app(ctx).db, id, input).await?;
        Ok(Badge(badge))
    }

    /// Admin only. Also removes the badge from every project.
    async fn delete_badge(&self, ctx: &Context<'_>, id: Uuid) -> Result<bool> {
        require_admin(ctx).await?;
        service::delete(&app(ctx).db, id).await?;
        Ok(true)
    }

    /// Admin only. Replaces the project's badges with exactly `badgeIds`.
    async fn award_badges_to_project(
        &self,
        ctx: &Context<'_>,
        project_id: Uuid,
        badge_ids: Vec<Option<Uuid>>,
    ) -> Result<Option<Project>> {
        require_admin(ctx).await?;
        let ids = badge_ids
            .into_iter()
            .collect::<Option<Vec<Uuid>>>()
            .ok_or_else(|| AppError::bad_input("badgeIds", "badgeIds must not contain null"))?;
        let project = service::award_to_project(&app(ctx).db, project_id, &ids).await?;
        Ok(Some(Project(project)))
    }
}
