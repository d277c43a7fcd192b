//! The contact form: sanitised, rate-limited per client, and sent through the same durable path
//! as every other email (a delivery row per recipient, with its send job).

use std::net::IpAddr;

use chrono::{Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
    Statement, TransactionSession,
};
use uuid::Uuid;

use super::{
    contact_message,
    delivery::{self, NewDelivery, Status},
    schedule::CONTACT_FORM_TEMPLATE,
};
use crate::{
    auth::Caller,
    config::EmailConfig,
    db::Db,
    error::{AppError, AppResult},
    validation,
};

const SUBJECT_MAX: usize = 200;
const HTML_MAX: usize = 50_000;

/// What the contact form sends.
pub struct ContactMessage {
    pub subject: String,
    /// HTML; sanitised before it is stored or sent.
    pub html: String,
}

pub enum Submitted {
    Queued { recipients: Vec<String> },
    RateLimited,
    NotConfigured,
}

/// Keeps formatting tags and safe links; drops scripts, styles, event handlers and the like.
pub fn sanitise(html: &str) -> String {
    ammonia::clean(html)
}

/// A plain-text rendering of (sanitised) HTML for the text part of an email.
pub fn html_to_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut tag = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                tag.clear();
            }
            (true, '>') => {
                in_tag = false;
                let name = tag
                    .trim_start_matches('/')
                    .split([' ', '/'])
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if matches!(
                    name.as_str(),
                    "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "blockquote"
                ) {
                    text.push('\n');
                }
            }
            (true, c) => tag.push(c),
            (false, c) => text.push(c),
        }
    }
    let decoded = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    decoded
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

/// Anyone may write; the limit counts per logged-in user, or per client address.
fn client_key(caller: &Caller, address: Option<IpAddr>) -> String {
    match (caller.user(), address) {
        (Some(user), _) => format!("user:{}", user.id),
        (None, Some(ip)) => format!("ip:{ip}"),
        (None, None) => "ip:unknown".into(),
    }
}

/// The subject and sanitised HTML of a message, or why they cannot be sent.
fn validate(message: &ContactMessage) -> AppResult<(String, String)> {
    let subject = validation::text("subject", &message.subject, 1, SUBJECT_MAX)?;
    validation::no_nul("html", &message.html)?;
    if message.html.chars().count() > HTML_MAX {
        return Err(AppError::bad_input(
            "html",
            format!("html must be at most {HTML_MAX} characters"),
        ));
    }
    let html = sanitise(&message.html);
    if html_to_text(&html).is_empty() {
        return Err(AppError::bad_input("html", "html must contain a message"));
    }
    Ok((subject, html))
}

/// Whether the client may send another message this hour. Takes a lock for the client, so that
/// simultaneous requests cannot slip past the limit together.
async fn within_limit(
    db: &impl ConnectionTrait,
    client_key: &str,
    per_hour: u32,
) -> AppResult<bool> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        [format!("contact:{client_key}").into()],
    ))
    .await?;
    let recent = contact_message::Entity::find()
        .filter(contact_message::Column::ClientKey.eq(client_key))
        .filter(contact_message::Column::CreatedAt.gt(Utc::now() - Duration::hours(1)))
        .count(db)
        .await?;
    Ok(recent < u64::from(per_hour))
}

/// Anyone. Queues the message for the configured recipients, within the per-client hourly limit.
#[tracing::instrument(skip_all)]
pub async fn submit(
    db: &impl Db,
    config: &EmailConfig,
    caller: &Caller,
    address: Option<IpAddr>,
    message: ContactMessage,
) -> AppResult<Submitted> {
    let (subject, html) = validate(&message)?;
    if config.contact_recipients.is_empty() {
        tracing::warn!("contact form used but CONTACT_FORM_RECIPIENT_EMAILS is not set");
        return Ok(Submitted::NotConfigured);
    }
    let domain = config
        .sender_domain()
        .ok_or_else(|| AppError::internal("SENDER_EMAIL is not an address"))?;
    let client_key = client_key(caller, address);
    let txn = db.begin().await?;
    if !within_limit(&txn, &client_key, config.contact_form_per_hour).await? {
        return Ok(Submitted::RateLimited);
    }
    let now = Utc::now();
    let message = contact_message::ActiveModel {
        id: Set(Uuid::new_v4()),
        client_key: Set(client_key),
        subject: Set(subject),
        html: Set(html),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let rows = config.contact_recipients.iter().map(|recipient| {
        NewDelivery {
            scheduled_email_id: None,
            contact_message_id: Some(message.id),
            template_name: CONTACT_FORM_TEMPLATE.to_owned(),
            meet_id: None,
            recipient_user_id: None,
            recipient_email: recipient.clone(),
            status: Status::Pending,
            reason: None,
            retries_left: delivery::RETRY_BUDGET,
            context: None,
            dedupe_key: None,
        }
        .into_row(&domain, now)
    });
    delivery::store(&txn, rows.collect()).await?;
    txn.commit().await?;
    Ok(Submitted::Queued {
        recipients: config.contact_recipients.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitising_removes_scripts_and_handlers_but_keeps_formatting() {
        let clean = sanitise(
            r#"<p onclick="x()">Hi <b>there</b><script>alert(1)</script><a href="javascript:evil()">link</a></p>"#,
        );
        assert!(
            !clean.contains("script")
                && !clean.contains("onclick")
                && !clean.contains("javascript"),
            "{clean}"
        );
        assert!(clean.contains("<b>there</b>"), "{clean}");
    }

    #[test]
    fn html_becomes_readable_text() {
        assert_eq!(
            html_to_text("<p>Hello &amp; welcome</p><p>Line<br>two</p>"),
            "Hello & welcome\n\nLine\ntwo"
        );
        assert_eq!(html_to_text("   "), "");
    }
}
