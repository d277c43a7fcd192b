//! Accessors for what every resolver needs from the GraphQL context.

use std::{
    net::IpAddr,
    sync::{Arc, Mutex},
};

use async_graphql::Context;
use chrono::{DateTime, Utc};

use crate::http::session::Session;
use crate::state::AppState;
use mintbean_core::{auth::Caller, error::AppResult};

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

/// The moment the answer being computed stops being true by the clock alone (a meet's register
/// link opens or closes), as the resolvers that read the clock report it.
#[derive(Default)]
pub struct AnswerValidity(Mutex<Option<DateTime<Utc>>>);

impl AnswerValidity {
    pub fn until(&self, moment: DateTime<Utc>) {
        let mut earliest = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if earliest.is_none_or(|current| moment < current) {
            *earliest = Some(moment);
        }
    }

    pub fn earliest(&self) -> Option<DateTime<Utc>> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Resolvers that read the clock report when their answer changes by the clock alone.
pub fn valid_until(ctx: &Context<'_>, moment: DateTime<Utc>) {
    if let Some(validity) = ctx.data_opt::<Arc<AnswerValidity>>() {
        validity.until(moment);
    }
}
