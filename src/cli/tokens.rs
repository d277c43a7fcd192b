//! `mintbean tokens …` and `mintbean webhooks …`: what operators do with API tokens and webhook
//! endpoints from a shell.

use clap::Subcommand;
use engine::webhooks;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::tasks::tokens;
use mintbean_core::config::Config;

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create an API token (printed once; stored as its SHA-256)
    Create {
        #[arg(long)]
        name: String,
        /// KIND:ACTION, ACTION one of create, read, cancel, admin; KIND `*` for every kind
        #[arg(long = "scope", value_name = "KIND:ACTION", required = true)]
        scopes: Vec<String>,
        /// It expires after this (90s, 10m, 2h, 30d)
        #[arg(long, value_name = "DURATION", value_parser = super::duration)]
        expires: Option<std::time::Duration>,
    },
    /// Every token, with its scopes and whether it is active
    List,
    /// Revoke a token: refused at its next request
    Revoke { id: Uuid },
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Register a webhook endpoint (its signing secret is printed once)
    Add {
        url: String,
        /// task.succeeded, task.failed, task.handler_error (default: all)
        #[arg(long = "event", value_name = "EVENT")]
        events: Vec<String>,
        /// Only tasks of these kinds (default: every kind offered to clients)
        #[arg(long = "kind", value_name = "KIND")]
        kinds: Vec<String>,
        /// json (Standard Webhooks) or koalati-form
        #[arg(long)]
        format: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Every endpoint
    List,
    /// Remove an endpoint (deliveries still waiting for it are dropped)
    Remove { id: Uuid },
    /// An endpoint's latest deliveries
    Deliveries { id: Uuid },
}

pub async fn tokens(db: &DatabaseConnection, command: TokensCommand) -> anyhow::Result<()> {
    match command {
        TokensCommand::Create {
            name,
            scopes,
            expires,
        } => {
            let expires_at = expires
                .map(|d| chrono::Utc::now() + chrono::Duration::from_std(d).unwrap_or_default());
            let (token, secret) =
                tokens::create(db, &name, &scopes, expires_at, Some("cli".into())).await?;
            println!("created token {} ({})", token.id, token.name);
            println!("scopes: {}", token.scopes.join(" "));
            if let Some(at) = token.expires_at {
                println!("expires: {at}");
            }
            println!("\n{secret}\n\nThis is the only time the token is shown; store it now.");
        }
        TokensCommand::List => {
            for token in tokens::list(db).await? {
                let status = match (token.revoked_at, token.expires_at) {
                    (Some(_), _) => "revoked".to_owned(),
                    (None, Some(at)) if at <= chrono::Utc::now() => "expired".to_owned(),
                    (None, Some(at)) => format!("expires {at}"),
                    (None, None) => "active".to_owned(),
                };
                println!(
                    "{}  {}…  {}  [{}]  {}",
                    token.id,
                    token.prefix,
                    token.name,
                    token.scopes.join(" "),
                    status
                );
            }
        }
        TokensCommand::Revoke { id } => {
            let token = tokens::revoke(db, id).await?;
            println!("revoked token {} ({})", token.id, token.name);
        }
    }
    Ok(())
}

pub async fn webhooks(
    db: &DatabaseConnection,
    config: &Config,
    command: WebhooksCommand,
) -> anyhow::Result<()> {
    match command {
        WebhooksCommand::Add {
            url,
            events,
            kinds,
            format,
            description,
        } => {
            let state = crate::AppState::new(db.clone(), config.clone())?;
            let endpoint = crate::tasks::admin::register_endpoint(
                db,
                config,
                &state.jobs,
                webhooks::NewEndpoint {
                    url,
                    events,
                    kinds: (!kinds.is_empty()).then_some(kinds),
                    format,
                    description,
                    created_by: Some("cli".into()),
                },
            )
            .await?;
            println!("registered webhook {} → {}", endpoint.id, endpoint.url);
            println!("events: {}", endpoint.events.join(" "));
            println!(
                "\nsigning secret: {}\n\nThis is the only time the secret is shown.",
                endpoint.secret
            );
        }
        WebhooksCommand::List => {
            for endpoint in webhooks::list(db).await? {
                println!(
                    "{}  {}  [{}]  {}  {}",
                    endpoint.id,
                    endpoint.url,
                    endpoint.events.join(" "),
                    endpoint.format,
                    if endpoint.enabled {
                        "enabled"
                    } else {
                        "disabled"
                    }
                );
            }
        }
        WebhooksCommand::Remove { id } => {
            webhooks::remove(db, id).await?;
            println!("removed webhook {id}");
        }
        WebhooksCommand::Deliveries { id } => {
            for delivery in webhooks::deliveries(db, id, 50).await? {
                println!(
                    "{}  {}  task {}  {}  tries {}  {}",
                    delivery.created_at.format("%F %T"),
                    delivery.event_type.unwrap_or_default(),
                    delivery.task_id.unwrap_or_default(),
                    delivery.state,
                    delivery.attempts,
                    delivery
                        .last_error
                        .or(delivery.result.map(|r| r.to_string()))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}
