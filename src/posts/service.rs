//! Posts, newest first. Posts of deleted accounts are hidden with their author.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect,
    RelationTrait, Select,
};
use uuid::Uuid;

use super::entity::{Column, Entity as Posts, Model as Post, Relation};
use crate::{error::AppResult, users::entity as users};

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

pub async fn of_users(db: &impl ConnectionTrait, user_ids: &[Uuid]) -> AppResult<Vec<Post>> {
    Ok(visible()
        .filter(Column::UserId.is_in(user_ids.iter().copied()))
        .order_by_desc(Column::CreatedAt)
        .all(db)
        .await?)
}
