//! GraphQL for posts: `Post`, `posts(userId)`, `post(id)`, and `posts` on both user types.

use std::collections::HashMap;

use async_graphql::{Context, Object, Result, dataloader::Loader};
use uuid::Uuid;

use super::{entity::Model as PostModel, service};
use crate::{
    error::AppError,
    graphql::limits::list_complexity,
    graphql::{
        context::{app, loaders},
        loader::{DbLoader, LoadError, group_rows, ids, into_load_error},
        scalars::DateTime,
    },
    relation_key,
    users::graphql::{PublicUser, public_user},
};

relation_key!(
    /// The posts of a user, newest first.
    PostsOfUser
);

impl Loader<PostsOfUser> for DbLoader {
    type Value = Vec<PostModel>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[PostsOfUser],
    ) -> Result<HashMap<PostsOfUser, Self::Value>, LoadError> {
        self.fetch_once(keys, |db, keys| async move {
            let posts = service::of_users(&db, &ids(&keys))
                .await
                .map_err(into_load_error)?;
            Ok(group_rows(
                &keys,
                posts.into_iter().map(|p| (PostsOfUser(p.user_id), p)),
            ))
        })
        .await
    }
}

pub async fn posts_of_user(ctx: &Context<'_>, user_id: Uuid) -> Result<Vec<Option<Post>>> {
    let posts = loaders(ctx)
        .load_one(PostsOfUser(user_id))
        .await
        .map_err(AppError::from)?
        .unwrap_or_default();
    Ok(posts.into_iter().map(|p| Some(Post(p))).collect())
}

pub struct Post(pub PostModel);

#[Object]
impl Post {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn user_id(&self) -> Uuid {
        self.0.user_id
    }
    async fn body(&self) -> Option<&str> {
        Some(&self.0.body)
    }
    /// ISO-8601 (UTC) creation time. A `String` in the Node schema, kept for compatibility.
    async fn created_at(&self) -> Option<String> {
        Some(DateTime(self.0.created_at).to_iso())
    }
    async fn updated_at(&self) -> Option<String> {
        Some(DateTime(self.0.updated_at).to_iso())
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<PublicUser>> {
        public_user(ctx, self.0.user_id).await
    }
}

#[derive(Default)]
pub struct PostQuery;

#[Object]
impl PostQuery {
    /// All posts, or one user's, newest first.
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn posts(
        &self,
        ctx: &Context<'_>,
        user_id: Option<Uuid>,
    ) -> Result<Option<Vec<Option<Post>>>> {
        let posts = service::list(&app(ctx).db, user_id).await?;
        Ok(Some(posts.into_iter().map(|p| Some(Post(p))).collect()))
    }

    /// A post by id; null when there is none.
    async fn post(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Post>> {
        Ok(service::find(&app(ctx).db, id).await?.map(Post))
    }
}
