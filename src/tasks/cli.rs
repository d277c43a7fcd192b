//! `mintbean tokens …` and `mintbean webhooks …`: what operators do with API tokens and webhook
//! endpoints from a shell.

use anyhow::{Context, bail};
use engine::webhooks;
use sea_orm::DatabaseConnection;

use super::{service::parse_delay, tokens};
use mintbean_core::config::Config;

pub const USAGE: &str =
    "    tokens create --name NAME --scope KIND:ACTION [--scope …] [--expires 30d]
               Create an API token (printed once). ACTION: create, read, cancel, admin;
               KIND `*` for every kind
    tokens list | tokens revoke ID
    webhooks add URL [--event task.succeeded …] [--kind KIND …] [--format json|koalati-form]
               Register a webhook endpoint (its signing secret is printed once)
    webhooks list | webhooks remove ID | webhooks deliveries ID";

/// The values of every `--name VALUE` in `args`.
fn values(args: &[String], name: &str) -> Vec<String> {
    args.windows(2)
        .filter(|pair| pair[0] == name)
        .map(|pair| pair[1].clone())
        .collect()
}

fn value(args: &[String], name: &str) -> Option<String> {
    values(args, name).pop()
}

fn uuid_arg(args: &[String]) -> anyhow::Result<uuid::Uuid> {
    let id = args.first().context("give the ID")?;
    uuid::Uuid::parse_str(id).with_context(|| format!("`{id}` is not an ID"))
}

pub async fn tokens(db: &DatabaseConnection, args: &[String]) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("create") => {
            let name = value(args, "--name").context("give --name NAME")?;
            let scopes = values(args, "--scope");
            let expires_at = value(args, "--expires")
                .map(|text| {
                    parse_delay(&text)
                        .map(|d| {
                            chrono::Utc::now() + chrono::Duration::from_std(d).unwrap_or_default()
                        })
                        .map_err(anyhow::Error::msg)
                })
                .transpose()?;
            let (token, secret) =
                tokens::create(db, &name, &scopes, expires_at, Some("cli".into())).await?;
            println!("created token {} ({})", token.id, token.name);
            println!("scopes: {}", token.scopes.join(" "));
            if let Some(at) = token.expires_at {
                println!("expires: {at}");
            }
            println!("\n{secret}\n\nThis is the only time the token is shown; store it now.");
        }
        Some("list") => {
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
        Some("revoke") => {
            let token = tokens::revoke(db, uuid_arg(&args[1..])?).await?;
            println!("revoked token {} ({})", token.id, token.name);
        }
        _ => bail!("usage:\n{USAGE}"),
    }
    Ok(())
}

pub async fn webhooks(
    db: &DatabaseConnection,
    config: &Config,
    args: &[String],
) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("add") => {
            let url = args
                .get(1)
                .filter(|u| !u.starts_with("--"))
                .context("give the URL")?;
            let kinds = values(args, "--kind");
            let state = crate::AppState::new(db.clone(), config.clone())?;
            let endpoint = super::admin::register_endpoint(
                db,
                config,
                &state.jobs,
                webhooks::NewEndpoint {
                    url: url.clone(),
                    events: values(args, "--event"),
                    kinds: (!kinds.is_empty()).then_some(kinds),
                    format: value(args, "--format"),
                    description: value(args, "--description"),
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
        Some("list") => {
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
        Some("remove") => {
            let id = uuid_arg(&args[1..])?;
            webhooks::remove(db, id).await?;
            println!("removed webhook {id}");
        }
        Some("deliveries") => {
            for delivery in webhooks::deliveries(db, uuid_arg(&args[1..])?, 50).await? {
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
        _ => bail!("usage:\n{USAGE}"),
    }
    Ok(())
}
