//! GraphQL for users: `PublicUser`, `PrivateUser`, `me`, `user`, `login`, `logout`, `register`.

use std::collections::HashMap;

use async_graphql::{Context, Object, Result, dataloader::Loader};
use uuid::Uuid;

use super::{entity::Model as User, service};
use crate::{
    graphql::limits::list_complexity,
    graphql::{
        context::{app, client_address, current_user, loaders, session},
        loader::{DbLoader, LoadError, ids, into_load_error},
        scalars::DateTime,
    },
    meets::graphql::{Meet, registered_meets_of},
    posts::graphql::{Post, posts_of_user},
    projects::graphql::{Project, projects_of_user},
    relation_key,
};

relation_key!(
    /// A non-deleted user by id.
    UserById
);

impl Loader<UserById> for DbLoader {
    type Value = User;
    type Error = LoadError;

    async fn load(&self, keys: &[UserById]) -> Result<HashMap<UserById, User>, LoadError> {
        self.fetch_once(keys, |db, keys| async move {
            let users = service::find_active_many(&db, &ids(&keys))
                .await
                .map_err(into_load_error)?;
            Ok(users.into_iter().map(|u| (UserById(u.id), u)).collect())
        })
        .await
    }
}

pub async fn public_user(ctx: &Context<'_>, id: Uuid) -> Result<Option<PublicUser>> {
    Ok(loaders(ctx)
        .load_one(UserById(id))
        .await
        .map_err(crate::error::AppError::from)?
        .map(PublicUser))
}

/// A user as anyone may see them: never their email.
pub struct PublicUser(pub User);

#[Object]
impl PublicUser {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn first_name(&self) -> &str {
        &self.0.first_name
    }
    async fn last_name(&self) -> &str {
        &self.0.last_name
    }
    async fn is_admin(&self) -> bool {
        self.0.is_admin
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn registered_meets(&self, ctx: &Context<'_>) -> Result<Option<Vec<Meet>>> {
        Ok(Some(registered_meets_of(ctx, self.0.id).await?))
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn posts(&self, ctx: &Context<'_>) -> Result<Option<Vec<Option<Post>>>> {
        Ok(Some(posts_of_user(ctx, self.0.id).await?))
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn projects(&self, ctx: &Context<'_>) -> Result<Option<Vec<Project>>> {
        Ok(Some(projects_of_user(ctx, self.0.id).await?))
    }
}

/// The logged-in user's own view, with email and (right after login/register) the session token.
pub struct PrivateUser {
    pub user: User,
    pub token: Option<String>,
}

#[Object]
impl PrivateUser {
    async fn id(&self) -> Uuid {
        self.user.id
    }
    async fn email(&self) -> &str {
        &self.user.email
    }
    async fn first_name(&self) -> &str {
        &self.user.first_name
    }
    async fn last_name(&self) -> &str {
        &self.user.last_name
    }
    async fn created_at(&self) -> DateTime {
        self.user.created_at.into()
    }
    async fn updated_at(&self) -> DateTime {
        self.user.updated_at.into()
    }
    async fn is_admin(&self) -> bool {
        self.user.is_admin
    }
    async fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn registered_meets(&self, ctx: &Context<'_>) -> Result<Option<Vec<Meet>>> {
        Ok(Some(registered_meets_of(ctx, self.user.id).await?))
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn posts(&self, ctx: &Context<'_>) -> Result<Option<Vec<Option<Post>>>> {
        Ok(Some(posts_of_user(ctx, self.user.id).await?))
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn projects(&self, ctx: &Context<'_>) -> Result<Option<Vec<Project>>> {
        Ok(Some(projects_of_user(ctx, self.user.id).await?))
    }
}

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// A user's public profile; null when there is no such (active) account.
    async fn user(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<PublicUser>> {
        public_user(ctx, id).await
    }

    /// The logged-in user; `UNAUTHENTICATED` when logged out.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<PrivateUser>> {
        let user = current_user(ctx)
            .await?
            .ok_or_else(crate::error::AppError::unauthenticated)?;
        Ok(Some(PrivateUser { user, token: None }))
    }
}

/// Starts the session of `user`. The token is in the `HttpOnly` cookie; the body carries it only
/// when `SESSION_TOKEN_IN_RESPONSE` asks for the Node backend's behaviour.
fn logged_in(ctx: &Context<'_>, user: User) -> Result<PrivateUser> {
    let token = session(ctx).log_in(&user)?;
    let token = app(ctx).config.graphql.token_in_response.then_some(token);
    Ok(PrivateUser { user, token })
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Logs in and sets the `jwt` session cookie. Failed attempts are limited per account and
    /// per client (`TOO_MANY_REQUESTS`, with `extensions.retryAfter` in seconds).
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> Result<PrivateUser> {
        let state = app(ctx);
        let user = service::authenticate(
            &state.db,
            &state.passwords,
            &state.config.login_limits,
            &email,
            &password,
            client_address(ctx),
        )
        .await?;
        logged_in(ctx, user)
    }

    /// Ends the session: clears the cookie and revokes its token on the server.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        session(ctx).log_out(&app(ctx).db).await?;
        Ok(true)
    }

    /// Creates an account and logs it in.
    async fn register(
        &self,
        ctx: &Context<'_>,
        input: service::Registration,
    ) -> Result<PrivateUser> {
        let state = app(ctx);
        let user = service::register(&state.db, &state.passwords, input).await?;
        logged_in(ctx, user)
    }
}
