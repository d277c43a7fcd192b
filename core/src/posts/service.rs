//! Posts, newest first. Posts of deleted accounts are hidden with their author.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder,
    QuerySelect, RelationTrait, Select, Set,
};
use uuid::Uuid;

use super::entity::{ActiveModel, Column, Entity as Posts, Model as Post, Relation};
use crate::{auth::Caller, error::AppResult, users::entity as users, validation};

/// Posts whose author is an active account.
fn visible() -> Select<Posts> {
    Posts::find()
        .join(JoinType::InnerJoin, Relation::User.def())
        .filter(users::Column::Deleted.eq(false))
}

pub async fn list(db: &impl ConnectionTrait, user_id: Option<Uuid>) -> AppResult<Vec<Post>> {
    let mut query = visible();
    if let Some(user_id) = user_id {
        query = query.filter(Column::UserId.eq(user_id));
    }
    Ok(query.order_by_desc(Column::CreatedAt).all(db).await?)
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<Post>> {
    Ok(visible().filter(Column::Id.eq(id)).one(db).await?)
}

/// `(userId, post)` for the given users' posts, newest first.
pub async fn list_by_user(
    db: &impl ConnectionTrait,
    user_ids: &[Uuid],
) -> AppResult<Vec<(Uuid, Post)>> {
    let posts = visible()
        .filter(crate::db::any_id(Column::UserId, user_ids))
        .order_by_desc(Column::CreatedAt)
        .all(db)
        .await?;
    Ok(posts.into_iter().map(|p| (p.user_id, p)).collect())
}

/// Writes a post as the caller (the API has no mutation for it; the seed data uses it).
pub async fn create(db: &impl ConnectionTrait, caller: &Caller, body: &str) -> AppResult<Post> {
    let author = caller.require_user()?;
    let now = Utc::now();
    Ok(ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(author.id),
        body: Set(validation::text("body", body, 1, 5000)?),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}
