//! GraphQL for email: `sendContactFormEmail` and its `EmailResponse`.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};

use crate::graphql::error::Result;
use chrono::{SecondsFormat, Utc};
use uuid::Uuid;

use crate::graphql::{
    context::{app, caller, client_address},
    limits::list_complexity,
};
use mintbean_core::email::contact::{self, ContactMessage, Submitted};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailResponseStatus {
    Success,
    BadRequest,
    ApiServerError,
    UnknownError,
}

#[derive(SimpleObject)]
pub struct EmailResponseError {
    pub message: String,
    pub info: Option<String>,
}

/// The outcome of handing an email to the platform. The email itself is sent by the `jobs email`
/// drainer, so success means "accepted for delivery" (HTTP-style status 202).
#[derive(SimpleObject)]
pub struct EmailResponse {
    pub recipient: String,
    pub sender: String,
    pub status_code: i32,
    pub status: EmailResponseStatus,
    pub timestamp: String,
    pub meet_id: Option<Uuid>,
    #[graphql(complexity = "list_complexity(child_complexity)")]
    pub errors: Option<Vec<Option<EmailResponseError>>>,
}

#[derive(InputObject)]
pub struct SendContactFormEmailInput {
    pub subject: String,
    /// HTML; sanitised before it is stored or sent.
    pub html: String,
}

#[derive(SimpleObject)]
pub struct DeliveryCount {
    pub status: String,
    pub count: i64,
}

#[derive(SimpleObject)]
pub struct FailedDelivery {
    pub id: Uuid,
    pub template: String,
    pub recipient: String,
    pub error: Option<String>,
    pub attempts: i32,
    pub updated_at: crate::graphql::scalars::DateTime,
}

/// The email queue and its deliveries.
#[derive(SimpleObject)]
pub struct EmailStatus {
    /// Rows of `scheduledEmails`.
    pub queued: i64,
    /// Of those, due now.
    pub due: i64,
    #[graphql(complexity = "list_complexity(child_complexity)")]
    pub deliveries: Vec<DeliveryCount>,
    #[graphql(complexity = "list_complexity(child_complexity)")]
    pub latest_failures: Vec<FailedDelivery>,
}

impl From<mintbean_core::email::drain::EmailStatus> for EmailStatus {
    fn from(status: mintbean_core::email::drain::EmailStatus) -> Self {
        EmailStatus {
            queued: status.queued as i64,
            due: status.due as i64,
            deliveries: status
                .deliveries
                .into_iter()
                .map(|(status, count)| DeliveryCount {
                    status: status.to_owned(),
                    count,
                })
                .collect(),
            latest_failures: status
                .failures
                .into_iter()
                .map(|d| FailedDelivery {
                    id: d.id,
                    template: d.template_name,
                    recipient: d.recipient_email,
                    error: d.last_error,
                    attempts: d.attempts,
                    updated_at: crate::graphql::scalars::DateTime(d.updated_at),
                })
                .collect(),
        }
    }
}

#[derive(Default)]
pub struct EmailQuery;

#[Object]
impl EmailQuery {
    /// Admins. The email queue, deliveries by status, the latest failures.
    async fn email_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] failures: u64,
    ) -> Result<EmailStatus> {
        let status =
            mintbean_core::email::admin::status(&app(ctx).db, &caller(ctx).await?, failures)
                .await?;
        Ok(status.into())
    }
}

#[derive(Default)]
pub struct EmailMutation;

#[Object]
impl EmailMutation {
    /// Admins. Makes failed deliveries (or the one `id`) pending again; answers how many.
    async fn retry_failed_emails(&self, ctx: &Context<'_>, id: Option<Uuid>) -> Result<i64> {
        let count =
            mintbean_core::email::admin::retry_failed(&app(ctx).db, &caller(ctx).await?, id)
                .await?;
        Ok(count as i64)
    }

    /// Sends a message to the platform's contact addresses. Limited per client per hour.
    async fn send_contact_form_email(
        &self,
        ctx: &Context<'_>,
        input: SendContactFormEmailInput,
    ) -> Result<EmailResponse> {
        let state = app(ctx);
        let config = &state.config.email;
        let message = ContactMessage {
            subject: input.subject,
            html: input.html,
        };
        let caller = caller(ctx).await?;
        let outcome =
            contact::submit(&state.db, config, &caller, client_address(ctx), message).await?;
        let (status_code, status, errors) = match outcome {
            Submitted::Queued { .. } => (202, EmailResponseStatus::Success, None),
            Submitted::RateLimited => (
                429,
                EmailResponseStatus::BadRequest,
                Some(EmailResponseError {
                    message: "Too many messages; please try again later".into(),
                    info: Some(format!(
                        "at most {} messages per hour",
                        config.contact_form_per_hour
                    )),
                }),
            ),
            Submitted::NotConfigured => (
                503,
                EmailResponseStatus::ApiServerError,
                Some(EmailResponseError {
                    message: "The contact form is not available right now".into(),
                    info: None,
                }),
            ),
        };
        Ok(EmailResponse {
            recipient: config.contact_recipients.join(";"),
            sender: config.sender.clone(),
            status_code,
            status,
            timestamp: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            meet_id: None,
            errors: errors.map(|e| vec![Some(e)]),
        })
    }
}
