//! Accessors for what every resolver needs from the GraphQL context.

use std::{net::IpAddr, sync::Arc};

use async_graphql::Context;

use super::loader::Loaders;
use crate::{auth::Caller, auth::Session, error::AppResult, state::AppState};

pub fn app<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

pub fn session<'a>(ctx: &Context<'a>) -> &'a Session {
    ctx.data_unchecked::<Arc<Session>>()
}

/// The caller of this request, for the services to authorize (looked up once per request).
pub async fn caller(ctx: &Context<'_>) -> AppResult<Caller> {
    Ok(Caller::from(session(ctx).current_user(&app(ctx).db).await?))
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
