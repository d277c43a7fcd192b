//! GraphQL for projects and media assets.

use std::collections::HashMap;

use async_graphql::{Context, Object, Result, dataloader::Loader};
use uuid::Uuid;

use super::{
    entity::Model as ProjectModel,
    media_asset::Model as MediaAssetModel,
    service::{self, NewProject},
};
use crate::{
    badges::graphql::{Badge, badges_of_project},
    error::AppError,
    graphql::limits::list_complexity,
    graphql::{
        context::{app, loaders, require_user},
        loader::{DbLoader, LoadError, group_rows, ids, into_load_error},
        scalars::DateTime,
    },
    meets::graphql::{Meet, meet_by_id},
    relation_key,
    users::graphql::{PublicUser, public_user},
};

relation_key!(
    /// The projects submitted for a meet.
    ProjectsOfMeet
);
relation_key!(
    /// The projects of a user.
    ProjectsOfUser
);
relation_key!(
    /// The media assets of a project, in order.
    MediaAssetsOfProject
);

impl Loader<ProjectsOfMeet> for DbLoader {
    type Value = Vec<ProjectModel>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ProjectsOfMeet],
    ) -> Result<HashMap<ProjectsOfMeet, Self::Value>, LoadError> {
        self.fetch_once(keys, |db, keys| async move {
            let projects = service::of_meets(&db, &ids(&keys))
                .await
                .map_err(into_load_error)?;
            Ok(group_rows(
                &keys,
                projects
                    .into_iter()
                    .filter_map(|p| p.meet_id.map(|meet_id| (ProjectsOfMeet(meet_id), p))),
            ))
        })
        .await
    }
}

impl Loader<ProjectsOfUser> for DbLoader {
    type Value = Vec<ProjectModel>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ProjectsOfUser],
    ) -> Result<HashMap<ProjectsOfUser, Self::Value>, LoadError> {
        self.fetch_once(keys, |db, keys| async move {
            let projects = service::of_users(&db, &ids(&keys))
                .await
                .map_err(into_load_error)?;
            Ok(group_rows(
                &keys,
                projects.into_iter().map(|p| (ProjectsOfUser(p.user_id), p)),
            ))
        })
        .await
    }
}

impl Loader<MediaAssetsOfProject> for DbLoader {
    type Value = Vec<MediaAssetModel>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[MediaAssetsOfProject],
    ) -> Result<HashMap<MediaAssetsOfProject, Self::Value>, LoadError> {
        self.fetch_once(keys, |db, keys| async move {
            let rows = service::media_assets_of(&db, &ids(&keys))
                .await
                .map_err(into_load_error)?;
            Ok(group_rows(
                &keys,
                rows.into_iter()
                    .map(|(project_id, a)| (MediaAssetsOfProject(project_id), a)),
            ))
        })
        .await
    }
}

pub async fn projects_of_meet(ctx: &Context<'_>, meet_id: Uuid) -> Result<Vec<Project>> {
    let projects = loaders(ctx)
        .load_one(ProjectsOfMeet(meet_id))
        .await
        .map_err(AppError::from)?
        .unwrap_or_default();
    Ok(projects.into_iter().map(Project).collect())
}

pub async fn projects_of_user(ctx: &Context<'_>, user_id: Uuid) -> Result<Vec<Project>> {
    let projects = loaders(ctx)
        .load_one(ProjectsOfUser(user_id))
        .await
        .map_err(AppError::from)?
        .unwrap_or_default();
    Ok(projects.into_iter().map(Project).collect())
}

pub struct Project(pub ProjectModel);

#[Object]
impl Project {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn user_id(&self) -> Uuid {
        self.0.user_id
    }
    async fn meet_id(&self) -> Option<Uuid> {
        self.0.meet_id
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn source_code_url(&self) -> &str {
        &self.0.source_code_url
    }
    async fn live_url(&self) -> &str {
        &self.0.live_url
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<PublicUser>> {
        public_user(ctx, self.0.user_id).await
    }
    async fn meet(&self, ctx: &Context<'_>) -> Result<Option<Meet>> {
        match self.0.meet_id {
            Some(meet_id) => meet_by_id(ctx, meet_id).await,
            None => Ok(None),
        }
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn badges(&self, ctx: &Context<'_>) -> Result<Option<Vec<Option<Badge>>>> {
        let badges = badges_of_project(ctx, self.0.id).await?;
        Ok(Some(badges.into_iter().map(Some).collect()))
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn media_assets(&self, ctx: &Context<'_>) -> Result<Option<Vec<MediaAsset>>> {
        let assets = loaders(ctx)
            .load_one(MediaAssetsOfProject(self.0.id))
            .await
            .map_err(AppError::from)?
            .unwrap_or_default();
        Ok(Some(assets.into_iter().map(MediaAsset).collect()))
    }
}

pub struct MediaAsset(pub MediaAssetModel);

#[Object]
impl MediaAsset {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn user_id(&self) -> Uuid {
        self.0.user_id
    }
    async fn cloudinary_public_id(&self) -> &str {
        &self.0.cloudinary_public_id
    }
    /// Position among the project's assets, from 0.
    async fn index(&self) -> i32 {
        self.0.index.unwrap_or(0)
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
}

#[derive(Default)]
pub struct ProjectQuery;

#[Object]
impl ProjectQuery {
    /// Projects, newest first, optionally of one user and/or one meet.
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        user_id: Option<Uuid>,
        meet_id: Option<Uuid>,
    ) -> Result<Option<Vec<Option<Project>>>> {
        let projects = service::list(&app(ctx).db, user_id, meet_id).await?;
        Ok(Some(
            projects.into_iter().map(|p| Some(Project(p))).collect(),
        ))
    }

    /// A project by id; null when there is none.
    async fn project(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Project>> {
        Ok(service::find(&app(ctx).db, id).await?.map(Project))
    }
}

#[derive(Default)]
pub struct ProjectMutation;

#[Object]
impl ProjectMutation {
    /// Submits a project for the logged-in user (admins may pass `userId`).
    async fn create_project(&self, ctx: &Context<'_>, input: NewProject) -> Result<Project> {
        let actor = require_user(ctx).await?;
        let project = service::create(&app(ctx).db, &actor, input).await?;
        Ok(Project(project))
    }

    /// The project's owner or an admin.
    async fn delete_project(&self, ctx: &Context<'_>, id: Uuid) -> Result<bool> {
        let actor = require_user(ctx).await?;
        service::delete(&app(ctx).db, &actor, id).await?;
        Ok(true)
    }
}
