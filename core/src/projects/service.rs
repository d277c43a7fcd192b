//! Projects: listing, submitting (with media assets), deleting.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder,
    QuerySelect, RelationTrait, Select, Set, TransactionSession,
};
use uuid::Uuid;

use super::{
    entity::{ActiveModel, Column, Entity as Projects, Model as Project, Relation},
    jobs as link_check,
    media_asset::{self, Model as MediaAsset},
    project_media_asset,
};
use crate::{
    auth::Caller,
    db::Db,
    error::{AppError, AppResult},
    meets::service as meets,
    users::{entity as users, service as user_service},
    validation,
};

/// A project to submit.
pub struct NewProject {
    /// Honoured for admins only (submitting on someone's behalf).
    pub user_id: Option<Uuid>,
    pub meet_id: Option<Uuid>,
    pub title: String,
    pub source_code_url: String,
    pub live_url: String,
    /// Cloudinary public ids of the project's images/videos, in display order.
    pub cloudinary_public_ids: Vec<String>,
}

pub const MAX_MEDIA_ASSETS: usize = 50;

/// Active projects of active users.
fn visible() -> Select<Projects> {
    Projects::live()
        .join(JoinType::InnerJoin, Relation::User.def())
        .filter(users::Column::Deleted.eq(false))
}

pub async fn list(
    db: &impl ConnectionTrait,
    user_id: Option<Uuid>,
    meet_id: Option<Uuid>,
) -> AppResult<Vec<Project>> {
    let mut query = visible();
    if let Some(user_id) = user_id {
        query = query.filter(Column::UserId.eq(user_id));
    }
    if let Some(meet_id) = meet_id {
        query = query.filter(Column::MeetId.eq(meet_id));
    }
    Ok(query.order_by_desc(Column::CreatedAt).all(db).await?)
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<Project>> {
    Ok(visible().filter(Column::Id.eq(id)).one(db).await?)
}

/// Visible projects by id, newest first.
pub async fn find_many(db: &impl ConnectionTrait, ids: &[Uuid]) -> AppResult<Vec<Project>> {
    Ok(visible()
        .filter(crate::db::any_id(Column::Id, ids))
        .order_by_desc(Column::CreatedAt)
        .all(db)
        .await?)
}

/// `(meetId, project)` for the given meets' visible projects, newest first.
pub async fn list_by_meet(
    db: &impl ConnectionTrait,
    meet_ids: &[Uuid],
) -> AppResult<Vec<(Uuid, Project)>> {
    let projects = visible()
        .filter(crate::db::any_id(Column::MeetId, meet_ids))
        .order_by_desc(Column::CreatedAt)
        .all(db)
        .await?;
    Ok(projects
        .into_iter()
        .filter_map(|p| p.meet_id.map(|meet_id| (meet_id, p)))
        .collect())
}

/// `(userId, project)` for the given users' visible projects, newest first.
pub async fn list_by_user(
    db: &impl ConnectionTrait,
    user_ids: &[Uuid],
) -> AppResult<Vec<(Uuid, Project)>> {
    let projects = visible()
        .filter(crate::db::any_id(Column::UserId, user_ids))
        .order_by_desc(Column::CreatedAt)
        .all(db)
        .await?;
    Ok(projects.into_iter().map(|p| (p.user_id, p)).collect())
}

/// `(projectId, asset)` for the given projects' active assets, in `index` order.
pub async fn list_media_assets(
    db: &impl ConnectionTrait,
    project_ids: &[Uuid],
) -> AppResult<Vec<(Uuid, MediaAsset)>> {
    let rows = project_media_asset::Entity::live()
        .find_also_related(media_asset::Entity)
        .filter(crate::db::any_id(
            project_media_asset::Column::ProjectId,
            project_ids,
        ))
        .filter(media_asset::Column::Deleted.eq(false))
        .order_by_asc(media_asset::Column::Index)
        .order_by_asc(media_asset::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(link, asset)| asset.map(|a| (link.project_id, a)))
        .collect())
}

/// The validated fields of a submission.
struct Submission {
    title: String,
    source_code_url: String,
    live_url: String,
    public_ids: Vec<String>,
}

fn validate(input: &NewProject) -> AppResult<Submission> {
    if input.cloudinary_public_ids.len() > MAX_MEDIA_ASSETS {
        return Err(AppError::bad_input(
            "cloudinaryPublicIds",
            format!("a project can have at most {MAX_MEDIA_ASSETS} media assets"),
        ));
    }
    Ok(Submission {
        title: validation::text("title", &input.title, 1, 64)?,
        source_code_url: validation::url("sourceCodeUrl", &input.source_code_url)?,
        live_url: validation::url("liveUrl", &input.live_url)?,
        public_ids: input
            .cloudinary_public_ids
            .iter()
            .map(|id| validation::text("cloudinaryPublicIds", id, 1, 255))
            .collect::<AppResult<Vec<_>>>()?,
    })
}

/// Whose project this is: admins may name another user; for everyone else `userId` is ignored.
async fn owner_of(
    db: &impl ConnectionTrait,
    caller: &Caller,
    input: &NewProject,
) -> AppResult<Uuid> {
    let actor = caller.require_user()?;
    match input.user_id {
        Some(user_id) if user_id != actor.id && !caller.is_admin() => Err(AppError::forbidden(
            "Only admins can submit a project for another user",
        )),
        Some(user_id) if user_id != actor.id => {
            let owner = user_service::find(db, user_id).await?.ok_or_else(|| {
                AppError::bad_input("userId", "userId does not refer to an existing user")
            })?;
            Ok(owner.id)
        }
        _ => Ok(actor.id),
    }
}

async fn insert_media_assets(
    db: &impl ConnectionTrait,
    project: &Project,
    public_ids: Vec<String>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if public_ids.is_empty() {
        return Ok(());
    }
    let assets: Vec<media_asset::ActiveModel> = public_ids
        .into_iter()
        .enumerate()
        .map(|(index, public_id)| media_asset::ActiveModel {
            id: Set(Uuid::new_v4()),
            user_id: Set(project.user_id),
            cloudinary_public_id: Set(public_id),
            index: Set(Some(index as i32)),
            created_at: Set(now),
            updated_at: Set(now),
            deleted: Set(false),
        })
        .collect();
    let links: Vec<project_media_asset::ActiveModel> = assets
        .iter()
        .map(|asset| project_media_asset::ActiveModel {
            id: Set(Uuid::new_v4()),
            project_id: Set(project.id),
            media_asset_id: asset.id.clone(),
            created_at: Set(now),
            updated_at: Set(now),
            deleted: Set(false),
        })
        .collect();
    media_asset::Entity::insert_many(assets).exec(db).await?;
    project_media_asset::Entity::insert_many(links)
        .exec(db)
        .await?;
    Ok(())
}

/// Logged-in users. Submits a project; the project, its assets and their links are written in
/// one transaction (its link checks and the admins' email follow: `project.submitted`).
#[tracing::instrument(skip_all)]
pub async fn create(db: &impl Db, caller: &Caller, input: NewProject) -> AppResult<Project> {
    caller.require_user()?;
    let submission = validate(&input)?;
    let txn = crate::db::begin(db, caller).await?;
    let owner_id = owner_of(&txn, caller, &input).await?;
    if let Some(meet_id) = input.meet_id
        && meets::find(&txn, meet_id).await?.is_none()
    {
        return Err(AppError::bad_input(
            "meetId",
            "meetId does not refer to an existing meet",
        ));
    }
    let now = Utc::now();
    let project = ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(owner_id),
        meet_id: Set(input.meet_id),
        title: Set(submission.title),
        source_code_url: Set(submission.source_code_url),
        live_url: Set(submission.live_url),
        created_at: Set(now),
        updated_at: Set(now),
        deleted: Set(false),
    }
    .insert(&txn)
    .await?;
    insert_media_assets(&txn, &project, submission.public_ids, now).await?;
    txn.commit().await?;
    tracing::info!(project_id = %project.id, "project submitted");
    Ok(project)
}

/// Admins. Checks the project's links again, ahead of routine checks (a check already waiting
/// is moved up rather than doubled).
#[tracing::instrument(skip_all, fields(project_id = %id))]
pub async fn check_links(db: &impl Db, caller: &Caller, id: Uuid) -> AppResult<Project> {
    caller.require_admin()?;
    let project = find(db, id)
        .await?
        .ok_or_else(|| AppError::not_found("Project"))?;
    let jobs = link_check::jobs_for(&project, link_check::ADMIN_PRIORITY)?;
    engine::enqueue_many(db, jobs).await?;
    Ok(project)
}

/// The project's owner or an admin. Soft-deletes a project.
#[tracing::instrument(skip_all, fields(project_id = %id))]
pub async fn delete(db: &impl Db, caller: &Caller, id: Uuid) -> AppResult<()> {
    caller.require_user()?;
    let txn = crate::db::begin(db, caller).await?;
    let project = Projects::live()
        .filter(Column::Id.eq(id))
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("Project"))?;
    caller.require_owner_or_admin(
        project.user_id,
        "Only the project's owner or an admin can delete it",
    )?;
    let mut model: ActiveModel = project.into();
    model.deleted = Set(true);
    model.updated_at = Set(Utc::now());
    model.update(&txn).await?;
    txn.commit().await?;
    Ok(())
}
