//! GraphQL for posts: `Post`, `posts(userId)`, `post(id)`, and `posts` on both user types.

use async_graphql::{ComplexObject, Context, Lookahead, Object, SimpleObject};

use crate::graphql::error::Result;
use futures_util::future::BoxFuture;
use uuid::Uuid;

use super::users::{PublicUser, UserById};
use crate::{
    graphql::{
        context::app,
        limits::list_complexity,
        loader::{Preload, preloaded},
        scalars::DateTime,
    },
    loader,
};
use mintbean_core::error::AppResult;
use mintbean_core::posts::{entity::Model as PostModel, service};

loader!(
    /// The posts of a user, newest first.
    PostsOfUser: many PostModel = service::list_by_user
);

impl Preload for PostModel {
    fn preload<'a>(
        ctx: &'a Context<'_>,
        selection: &'a Lookahead<'_>,
        posts: &'a [&'a Self],
    ) -> BoxFuture<'a, AppResult<()>> {
        let authors = posts.iter().map(|post| post.user_id);
        UserById::preload(ctx, selection, &["user"], authors)
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Post {
    pub id: Uuid,
    pub user_id: Uuid,
    pub body: Option<String>,
    /// ISO-8601 (UTC) creation time. A `String` in the Node schema, kept for compatibility.
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl From<PostModel> for Post {
    fn from(post: PostModel) -> Self {
        Post {
            id: post.id,
            user_id: post.user_id,
            body: Some(post.body),
            created_at: Some(DateTime(post.created_at).to_iso()),
            updated_at: Some(DateTime(post.updated_at).to_iso()),
        }
    }
}

#[ComplexObject]
impl Post {
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<PublicUser>> {
        UserById::load_public(ctx, self.user_id).await
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
        preloaded(ctx, &posts).await?;
        Ok(Some(posts.into_iter().map(|p| Some(p.into())).collect()))
    }

    /// A post by id; null when there is none.
    async fn post(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Post>> {
        let post = service::find(&app(ctx).db, id).await?;
        preloaded(ctx, post.as_slice()).await?;
        Ok(post.map(Post::from))
    }
}
