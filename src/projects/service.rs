//! Projects: listing, submitting (with media assets), deleting.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, JoinType,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait, Select, Set, TransactionTrait,
};
use uuid::Uuid;

use super::{
    entity::{ActiveModel, Column, Entity as Projects, Model as Project, Relation},
    media_asset::{self, Model as MediaAsset},
    project_media_asset,
};
use crate::{
    error::{AppError, AppResult},
    meets::service as meets,
    users::{
        entity::{self as users, Model as User},
        service as user_service,
    },
    validation,
};

#[derive(async_graphql::InputObject)]
#[graphql(name = "CreateProjectInput")]
pub struct NewProject {
    /// Honoured for admins only (submitting on someone's behalf).
    pub user_id: Option<Uuid>,
    pub meet_id: Option<Uuid>,
    pub title: String,
    pub source_code_url: String,
    pub live_url: String,
    /// Cloudinary public ids of the project's images/videos, in display order.
    pub cloudinary_public_ids: Option<Vec<String>>,
}

const MAX_MEDIA_ASSETS: usize = 50;

/// Active projects of active users.
fn visible() -> Select<Projects> {
    Projects::find()
        .join(JoinType::InnerJoin, Relation::User.def())
        .filter(Column::Deleted.eq(false))
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

pub async fn find_many(db: &impl ConnectionTrait, ids: &[Uuid]) -> AppResult<Vec<Project>> {
    Ok(visible()
        .filter(Column::Id.is_in(ids.iter().copied()))
        .order_by_desc(Column::CreatedAt)
        .all(db)
        .await?)
}

pub async fn of_meets(db: &impl ConnectionTrait, meet_ids: &[Uuid]) -> AppResult<Vec<Project>> {
    Ok(visible()
        .filter(Column::MeetId.is_in(meet_ids.iter().copied()))
        .order_by_desc(Column::CreatedAt)
        .all(db)
        .await?)
}

pub async fn of_users(db: &impl ConnectionTrait, user_ids: &[Uuid]) -> AppResult<Vec<Project>> {
    Ok(visible()
        .filter(Column::UserId.is_in(user_ids.iter().copied()))
        .order_by_desc(Column::CreatedAt)
        .all(db)
        .await?)
}

/// `(projectId, asset)` for the given projects' active assets, in `index` order.
pub async fn media_assets_of(
    db: &impl ConnectionTrait,
    project_ids: &[Uuid],
) -> AppResult<Vec<(Uuid, MediaAsset)>> {
    let rows = project_media_asset::Entity::find()
        .find_also_related(media_asset::Entity)
        .filter(project_media_asset::Column::ProjectId.is_in(project_ids.iter().copied()))
        .filter(project_media_asset::Column::Deleted.eq(false))
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

/// Submits a project. Only admins may submit on someone else's behalf (`user_id`); for everyone
/// else it is ignored. The project, its assets and their links are written in one transaction.
pub async fn create(
    db: &DatabaseConnection,
    actor: &User,
    input: NewProject,
) -> AppResult<Project> {
    let title = validation::text("title", &input.title, 1, 64)?;
    let source_code_url = validation::url("sourceCodeUrl", &input.source_code_url)?;
    let live_url = validation::url("liveUrl", &input.live_url)?;
    let public_ids = input.cloudinary_public_ids.unwrap_or_default();
    if public_ids.len() > MAX_MEDIA_ASSETS {
        return Err(AppError::bad_input(
            "cloudinaryPublicIds",
            format!("a project can have at most {MAX_MEDIA_ASSETS} media assets"),
        ));
    }
    let public_ids = public_ids
        .iter()
        .map(|id| validation::text("cloudinaryPublicIds", id, 1, 255))
        .collect::<AppResult<Vec<_>>>()?;

    let txn = db.begin().await?;
    let owner_id = match input.user_id {
        Some(user_id) if actor.is_admin && user_id != actor.id => {
            user_service::find_active(&txn, user_id)
                .await?
                .ok_or_else(|| {
                    AppError::bad_input("userId", "userId does not refer to an existing user")
                })?
                .id
        }
        _ => actor.id,
    };
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
        title: Set(title),
        source_code_url: Set(source_code_url),
        live_url: Set(live_url),
        created_at: Set(now),
        updated_at: Set(now),
        deleted: Set(false),
    }
    .insert(&txn)
    .await?;

    if !public_ids.is_empty() {
        let assets: Vec<media_asset::ActiveModel> = public_ids
            .into_iter()
            .enumerate()
            .map(|(index, public_id)| media_asset::ActiveModel {
                id: Set(Uuid::new_v4()),
                user_id: Set(owner_id),
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
        media_asset::Entity::insert_many(assets).exec(&txn).await?;
        project_media_asset::Entity::insert_many(links)
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(project)
}

/// Soft-deletes a project; only its owner or an admin may.
pub async fn delete(db: &DatabaseConnection, actor: &User, id: Uuid) -> AppResult<()> {
    let txn = db.begin().await?;
    let project = Projects::find_by_id(id)
        .filter(Column::Deleted.eq(false))
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("Project"))?;
    if project.user_id != actor.id && !actor.is_admin {
        return Err(AppError::forbidden(
            "Only the project's owner or an admin can delete it",
        ));
    }
    let mut model: ActiveModel = project.into();
    model.deleted = Set(true);
    model.updated_at = Set(Utc::now());
    model.update(&txn).await?;
    txn.commit().await?;
    Ok(())
}
