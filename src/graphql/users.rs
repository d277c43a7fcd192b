//! GraphQL for users: `PublicUser`, `PrivateUser`, `me`, `user`, `login`, `logout`, `register`.

use async_graphql::{ComplexObject, Context, InputObject, Lookahead, Object, SimpleObject};

use crate::graphql::error::Result;
use futures_util::future::BoxFuture;
use uuid::Uuid;

use super::{
    meets::{Meet, RegisteredMeetsOfUser},
    posts::{Post, PostsOfUser},
    projects::{Project, ProjectsOfUser},
};
use crate::{
    graphql::{
        context::{app, caller, client_address, session},
        limits::list_complexity,
        loader::{Preload, preloaded},
        scalars::DateTime,
    },
    loader,
};
use mintbean_core::error::AppResult;
use mintbean_core::users::{
    entity::{Model as User, Profile},
    service::{self, NewAccount},
};

loader!(
    /// A non-deleted user by id.
    UserById: one User = service::find_many, |user| user.id
);

impl UserById {
    pub async fn load_public(ctx: &Context<'_>, id: Uuid) -> Result<Option<PublicUser>> {
        Ok(Self::load(ctx, id).await?.map(PublicUser::from))
    }
}

/// The relations both user views share, for users loaded whole or as profiles.
macro_rules! preload_user_relations {
    ($($record:ty),*) => {$(
        impl Preload for $record {
            fn preload<'a>(
                ctx: &'a Context<'_>,
                selection: &'a Lookahead<'_>,
                users: &'a [&'a Self],
            ) -> BoxFuture<'a, AppResult<()>> {
                Box::pin(async move {
                    let ids = || users.iter().map(|user| user.id);
                    futures_util::try_join!(
                        RegisteredMeetsOfUser::preload(ctx, selection, &["registeredMeets"], ids()),
                        PostsOfUser::preload(ctx, selection, &["posts"], ids()),
                        ProjectsOfUser::preload(ctx, selection, &["projects"], ids()),
                    )?;
                    Ok(())
                })
            }
        }
    )*};
}

preload_user_relations!(User, Profile);

/// A user as anyone may see them: never their email.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct PublicUser {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub is_admin: bool,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

impl From<Profile> for PublicUser {
    fn from(user: Profile) -> Self {
        PublicUser {
            id: user.id,
            first_name: user.first_name,
            last_name: user.last_name,
            is_admin: user.is_admin,
            created_at: user.created_at.into(),
            updated_at: user.updated_at.into(),
        }
    }
}

impl From<User> for PublicUser {
    fn from(user: User) -> Self {
        Profile::from(user).into()
    }
}

/// The relations both user views share.
async fn registered_meets(ctx: &Context<'_>, id: Uuid) -> Result<Option<Vec<Meet>>> {
    let meets = RegisteredMeetsOfUser::load(ctx, id).await?;
    Ok(Some(meets.into_iter().map(Meet::from).collect()))
}

async fn posts(ctx: &Context<'_>, id: Uuid) -> Result<Option<Vec<Option<Post>>>> {
    let posts = PostsOfUser::load(ctx, id).await?;
    Ok(Some(posts.into_iter().map(|p| Some(p.into())).collect()))
}

async fn projects(ctx: &Context<'_>, id: Uuid) -> Result<Option<Vec<Project>>> {
    let projects = ProjectsOfUser::load(ctx, id).await?;
    Ok(Some(projects.into_iter().map(Project::from).collect()))
}

#[ComplexObject]
impl PublicUser {
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn registered_meets(&self, ctx: &Context<'_>) -> Result<Option<Vec<Meet>>> {
        registered_meets(ctx, self.id).await
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn posts(&self, ctx: &Context<'_>) -> Result<Option<Vec<Option<Post>>>> {
        posts(ctx, self.id).await
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn projects(&self, ctx: &Context<'_>) -> Result<Option<Vec<Project>>> {
        projects(ctx, self.id).await
    }
}

/// The logged-in user's own view, with email and (when `SESSION_TOKEN_IN_RESPONSE` is on, right
/// after login/register) the session token.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct PrivateUser {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    pub is_admin: bool,
    pub token: Option<String>,
}

impl PrivateUser {
    fn new(user: User, token: Option<String>) -> Self {
        PrivateUser {
            id: user.id,
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            created_at: user.created_at.into(),
            updated_at: user.updated_at.into(),
            is_admin: user.is_admin,
            token,
        }
    }
}

#[ComplexObject]
impl PrivateUser {
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn registered_meets(&self, ctx: &Context<'_>) -> Result<Option<Vec<Meet>>> {
        registered_meets(ctx, self.id).await
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn posts(&self, ctx: &Context<'_>) -> Result<Option<Vec<Option<Post>>>> {
        posts(ctx, self.id).await
    }
    #[graphql(complexity = "list_complexity(child_complexity)")]
    async fn projects(&self, ctx: &Context<'_>) -> Result<Option<Vec<Project>>> {
        projects(ctx, self.id).await
    }
}

#[derive(InputObject)]
pub struct UserRegistrationInput {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    #[graphql(secret)]
    pub password: String,
    #[graphql(secret)]
    pub password_confirmation: String,
}

impl From<UserRegistrationInput> for NewAccount {
    fn from(input: UserRegistrationInput) -> Self {
        NewAccount {
            email: input.email,
            first_name: input.first_name,
            last_name: input.last_name,
            password: input.password,
            password_confirmation: input.password_confirmation,
        }
    }
}

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// A user's public profile; null when there is no such (active) account.
    async fn user(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<PublicUser>> {
        let user = UserById::load(ctx, id).await?;
        preloaded(ctx, user.as_slice()).await?;
        Ok(user.map(PublicUser::from))
    }

    /// Admins. Every active user, newest first (the frontend's `allUsers`).
    #[graphql(complexity = "crate::graphql::limits::list_complexity(child_complexity)")]
    async fn users(&self, ctx: &Context<'_>) -> Result<Vec<PublicUser>> {
        let users = service::list(&app(ctx).db, &caller(ctx).await?).await?;
        preloaded(ctx, &users).await?;
        Ok(users.into_iter().map(PublicUser::from).collect())
    }

    /// The logged-in user; `UNAUTHENTICATED` when logged out.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<PrivateUser>> {
        let user = service::me(&caller(ctx).await?)?;
        preloaded(ctx, std::slice::from_ref(&user)).await?;
        Ok(Some(PrivateUser::new(user, None)))
    }
}

/// Starts the session of `user`. The token is in the `HttpOnly` cookie; the body carries it only
/// when `SESSION_TOKEN_IN_RESPONSE` asks for the Node backend's behaviour.
fn logged_in(ctx: &Context<'_>, user: User) -> Result<PrivateUser> {
    let token = session(ctx).log_in(&user)?;
    let token = app(ctx).config.graphql.token_in_response.then_some(token);
    Ok(PrivateUser::new(user, token))
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
        #[graphql(secret)] password: String,
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

    /// Ends the session: clears the cookie and revokes its token on the server. `false` when
    /// there was no session.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let had_session = caller(ctx).await?.user().is_some();
        session(ctx).log_out(&app(ctx).db).await?;
        Ok(had_session)
    }

    /// Creates an account and logs it in.
    async fn register(
        &self,
        ctx: &Context<'_>,
        input: UserRegistrationInput,
    ) -> Result<PrivateUser> {
        let state = app(ctx);
        let user = service::register(
            &state.db,
            &caller(ctx).await?,
            &state.passwords,
            input.into(),
        )
        .await?;
        logged_in(ctx, user)
    }
}
