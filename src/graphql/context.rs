//! Accessors for what every resolver needs from the GraphQL context.

use std::{net::IpAddr, sync::Arc};

use async_graphql::Context;

use super::loader::Loaders;
use crate::{auth::Session, error::AppResult, state::AppState, users::entity::Model as User};

pub fn app<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

pub fn session<'a>(ctx: &Context<'a>) -> &'a Session {
    ctx.data_unchecked::<Arc<Session>>()
}

/// The caller's network address, attached to each GraphQL request by the HTTP layer (for rate
/// limits).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub Option<IpAddr>);

pub fn client_address(ctx: &Context<'_>) -> Option<IpAddr> {
    ctx.data_opt::<ClientAddress>()
        .and_then(|address| address.0)
}

pub fn loaders<'a>(ctx: &Context<'a>) -> &'a Loaders {
    ctx.data_unchecked::<Loaders>()
}

pub async fn current_user(ctx: &Context<'_>) -> AppResult<Option<User>> {
    session(ctx).current_user(&app(ctx).db).await
}

pub async fn require_user(ctx: &Context<'_>) -> AppResult<User> {
    session(ctx).require_user(&app(ctx).db).await
}

pub async fn require_admin(ctx: &Context<'_>) -> AppResult<User> {
    session(ctx).require_admin(&app(ctx).db).await
}
