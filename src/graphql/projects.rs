//! GraphQL for projects and media assets.

use async_graphql::{ComplexObject, Context, InputObject, Lookahead, Object, SimpleObject};

use crate::graphql::error::Result;
use futures_util::future::BoxFuture;
use uuid::Uuid;

use super::{
    badges::{Badge, BadgesOfProject},
    meets::{Meet, MeetById},
    users::{PublicUser, UserById},
};
use crate::{
    graphql::{
        context::{app, caller},
        limits::list_complexity,
        loader::{Preload, preloaded},
        scalars::DateTime,
    },
    loader,
};
use mintbean_core::error::AppResult;
use mintbean_core::projects::{
    entity::Model as ProjectModel,
    jobs::{self as link_check, CheckState, Link, LinkCheck as LinkCheckRecord},
    media_asset::Model as MediaAssetModel,
    service::{self, NewProject},
};

loader!(
    /// The projects submitted for a meet, newest first.
    ProjectsOfMeet: many ProjectModel = service::list_by_meet
);
loader!(
    /// The projects of a user, newest first.
    ProjectsOfUser: many ProjectModel = service::list_by_user
);
loader!(
    /// The latest check of each of a project's links.
    LinkChecksOfProject: many LinkCheckRecord = link_check::latest
);
loader!(
    /// The media assets of a project, in order.
    MediaAssetsOfProject: many MediaAssetModel = service::list_media_assets
);

impl Preload for ProjectModel {
    fn preload<'a>(
        ctx: &'a Context<'_>,
        selection: &'a Lookahead<'_>,
        projects: &'a [&'a Self],
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            let ids = || projects.iter().map(|project| project.id);
            let owners = projects.iter().map(|project| project.user_id);
            let meets = projects.iter().filter_map(|project| project.meet_id);
            futures_util::try_join!(
                UserById::preload(ctx, selection, &["user"], owners),
                MeetById::preload(ctx, selection, &["meet"], meets),
                BadgesOfProject::preload(ctx, selection, &["badges"], ids()),
                MediaAssetsOfProject::preload(ctx, selection, &["mediaAssets"], ids()),
                LinkChecksOfProject::preload(ctx, selection, &["linkCheck"], ids()),
            )?;
            Ok(())
        })
    }
}

impl Preload for MediaAssetModel {}
impl Preload for LinkCheckRecord {}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Project {
    pub id: Uuid,
    pub user_id: Uuid,
    pub meet_id: Option<Uuid>,
    pub title: String,
    pub source_code_url: String,
    pub live_url: String,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

impl From<ProjectModel> for Project {
    fn from(project: ProjectModel) -> Self {
        Project {
            id: project.id,
            user_id: project.user_id,
            meet_id: project.meet_id,
            title: project.title,
            source_code_url: project.source_code_url,
            live_url: project.live_url,
            created_at: project.created_at.into(),
            updated_at: project.updated_at.into(),
        }
    }
}

#[ComplexObject]
impl Project {
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<PublicUser>> {
        UserById::load_public(ctx, self.user_id).await
    }
    async fn meet(&self, ctx: &Context<'_>) -> Result<Option<Meet>> {
        match self.meet_id {
            Some(meet_id) => Ok(MeetById::load(ctx, meet_id).await?.map(Meet::from)),
            None => Ok(None),
        }
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn badges(&self, ctx: &Context<'_>) -> Result<Option<Vec<Option<Badge>>>> {
        let badges = BadgesOfProject::load(ctx, self.id).await?;
        Ok(Some(badges.into_iter().map(|b| Some(b.into())).collect()))
    }
    /// The latest checks of the project's links; null until a check was queued.
    async fn link_check(&self, ctx: &Context<'_>) -> Result<Option<ProjectLinkCheck>> {
        let checks = LinkChecksOfProject::load(ctx, self.id).await?;
        if checks.is_empty() {
            return Ok(None);
        }
        let of = |link: Link| checks.iter().find(|c| c.link == link).map(LinkCheck::from);
        Ok(Some(ProjectLinkCheck {
            source_code: of(Link::SourceCode),
            live: of(Link::Live),
        }))
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn media_assets(&self, ctx: &Context<'_>) -> Result<Option<Vec<MediaAsset>>> {
        let assets = MediaAssetsOfProject::load(ctx, self.id).await?;
        Ok(Some(assets.into_iter().map(MediaAsset::from).collect()))
    }
}

/// What the link checker found for a project's two links.
#[derive(SimpleObject)]
pub struct ProjectLinkCheck {
    pub source_code: Option<LinkCheck>,
    pub live: Option<LinkCheck>,
}

#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "CheckState")]
pub enum LinkCheckState {
    Queued,
    Running,
    Done,
    /// The check could not be made (not: the link is down; see `ok`).
    Failed,
}

/// The latest check of one link.
#[derive(SimpleObject)]
pub struct LinkCheck {
    pub url: String,
    pub state: LinkCheckState,
    pub checked_at: Option<DateTime>,
    /// A 2xx answer after at most three redirects; null until checked.
    pub ok: Option<bool>,
    pub status_code: Option<i32>,
    pub final_url: Option<String>,
    pub redirects: Option<i32>,
    pub latency_ms: Option<i32>,
    /// Why the link is not ok (unreachable, refused, too many redirects), or why the check
    /// failed.
    pub error: Option<String>,
}

impl From<&LinkCheckRecord> for LinkCheck {
    fn from(check: &LinkCheckRecord) -> Self {
        let report = check.report.as_ref();
        LinkCheck {
            url: check.url.clone(),
            state: check.state.into(),
            checked_at: check.checked_at.map(Into::into),
            ok: report.map(|r| r.ok),
            status_code: report.and_then(|r| r.status_code).map(i32::from),
            final_url: report.and_then(|r| r.final_url.clone()),
            redirects: report.map(|r| r.redirects as i32),
            latency_ms: report.map(|r| r.latency_ms.min(i32::MAX as u64) as i32),
            error: report
                .and_then(|r| r.error.clone())
                .or_else(|| check.error.clone()),
        }
    }
}

#[derive(SimpleObject)]
pub struct MediaAsset {
    pub id: Uuid,
    pub user_id: Uuid,
    pub cloudinary_public_id: String,
    /// Position among the project's assets, from 0.
    pub index: i32,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

impl From<MediaAssetModel> for MediaAsset {
    fn from(asset: MediaAssetModel) -> Self {
        MediaAsset {
            id: asset.id,
            user_id: asset.user_id,
            cloudinary_public_id: asset.cloudinary_public_id,
            index: asset.index.unwrap_or(0),
            created_at: asset.created_at.into(),
            updated_at: asset.updated_at.into(),
        }
    }
}

#[derive(InputObject)]
pub struct CreateProjectInput {
    /// Honoured for admins only (submitting on someone's behalf).
    pub user_id: Option<Uuid>,
    pub meet_id: Option<Uuid>,
    pub title: String,
    pub source_code_url: String,
    pub live_url: String,
    /// Cloudinary public ids of the project's images/videos, in display order.
    pub cloudinary_public_ids: Option<Vec<String>>,
}

impl From<CreateProjectInput> for NewProject {
    fn from(input: CreateProjectInput) -> Self {
        NewProject {
            user_id: input.user_id,
            meet_id: input.meet_id,
            title: input.title,
            source_code_url: input.source_code_url,
            live_url: input.live_url,
            cloudinary_public_ids: input.cloudinary_public_ids.unwrap_or_default(),
        }
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
        preloaded(ctx, &projects).await?;
        Ok(Some(projects.into_iter().map(|p| Some(p.into())).collect()))
    }

    /// A project by id; null when there is none.
    async fn project(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Project>> {
        let project = service::find(&app(ctx).db, id).await?;
        preloaded(ctx, project.as_slice()).await?;
        Ok(project.map(Project::from))
    }
}

#[derive(Default)]
pub struct ProjectMutation;

#[Object]
impl ProjectMutation {
    /// Submits a project for the logged-in user (admins may pass `userId`).
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        input: CreateProjectInput,
    ) -> Result<Project> {
        let project = service::create(&app(ctx).db, &caller(ctx).await?, input.into()).await?;
        Ok(project.into())
    }

    /// Admins. Queues a check of the project's links at high priority; the result shows on
    /// `Project.linkCheck`.
    async fn check_project_links(&self, ctx: &Context<'_>, project_id: Uuid) -> Result<Project> {
        let project = service::check_links(&app(ctx).db, &caller(ctx).await?, project_id).await?;
        Ok(project.into())
    }

    /// The project's owner or an admin.
    async fn delete_project(&self, ctx: &Context<'_>, id: Uuid) -> Result<bool> {
        service::delete(&app(ctx).db, &caller(ctx).await?, id).await?;
        Ok(true)
    }
}
