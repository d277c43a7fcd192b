//! Outgoing webhooks. When a job finishes, `engine_finish` (and the reaper) write one
//! `engine.webhook` job per matching endpoint in the same transaction — an outbox, so an event
//! is never lost between a completion and a send. [`DeliverWebhook`] sends it: Standard Webhooks
//! headers (`webhook-id` the same on every try, `webhook-signature` = `v1,` base64 HMAC-SHA256
//! over `id.timestamp.body`), no redirects, public destinations only (checked when an endpoint
//! is registered and again when sending), a capped response, timeouts; 4xx other than 408/429
//! is final, the rest is retried with the engine's backoff.

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use url::Url;
use uuid::Uuid;

use crate::{
    EngineError, Handler, JobArgs, JobContext, JobError, KindSettings,
    net::{self, AllowedHosts},
    pool,
};

pub const KIND: &str = "engine.webhook";
pub const QUEUE: &str = "webhooks";
pub const EVENTS: &[&str] = &["task.succeeded", "task.failed", "task.handler_error"];
/// The body format every sender knows (Standard Webhooks' JSON); others are the application's
/// ([`WebhookSender::with_format`]).
pub const STANDARD_FORMAT: &str = "json";

/// A body format: the body of a delivery and its content type.
pub type Encoder = fn(&DeliverWebhook) -> (Vec<u8>, &'static str);

#[derive(Clone, Debug, Serialize)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    #[serde(skip)]
    pub secret: String,
    pub events: Vec<String>,
    pub kinds: Option<Vec<String>>,
    pub format: String,
    pub enabled: bool,
    pub description: Option<String>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An endpoint to register.
#[derive(Clone, Debug, Default)]
pub struct NewEndpoint {
    pub url: String,
    /// Empty: every event.
    pub events: Vec<String>,
    /// `None`: jobs of every kind.
    pub kinds: Option<Vec<String>>,
    /// [`STANDARD_FORMAT`] (default) or one the application's sender knows.
    pub format: Option<String>,
    pub description: Option<String>,
    pub created_by: Option<String>,
}

/// A new signing secret, `whsec_` + base64 of 32 random bytes (Standard Webhooks' format).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", BASE64.encode(bytes))
}

/// Checks and stores an endpoint; answers it with its secret (shown to the caller once).
pub async fn add(
    db: &DatabaseConnection,
    hosts: &AllowedHosts,
    new: NewEndpoint,
) -> Result<Endpoint, EngineError> {
    let invalid = |m: String| EngineError::Invalid(m);
    let url = Url::parse(new.url.trim()).map_err(|e| invalid(format!("url: {e}")))?;
    hosts
        .check_destination(&url)
        .await
        .map_err(|e| invalid(format!("url: {e}")))?;
    let events = if new.events.is_empty() {
        EVENTS.iter().map(|e| e.to_string()).collect()
    } else {
        new.events
    };
    if let Some(unknown) = events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
        return Err(invalid(format!(
            "events: unknown event `{unknown}` (known: {})",
            EVENTS.join(", ")
        )));
    }
    let texts = new.kinds.iter().flatten().chain(new.description.iter());
    if texts.clone().any(|t| t.contains('\0')) {
        return Err(invalid("kinds: text may not contain NUL characters".into()));
    }
    let format = new.format.unwrap_or_else(|| STANDARD_FORMAT.into());
    if format.is_empty() || format.len() > 64 || format.contains('\0') {
        return Err(invalid("format: 1 to 64 characters".into()));
    }
    Ok(sqlx::query_as!(
        Endpoint,
        "INSERT INTO engine_webhook_endpoints (url, secret, events, kinds, format, description, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        url.to_string(),
        new_secret(),
        &events,
        new.kinds.as_deref(),
        format,
        new.description,
        new.created_by
    )
    .fetch_one(pool(db))
    .await?)
}

pub async fn list(db: &DatabaseConnection) -> Result<Vec<Endpoint>, EngineError> {
    Ok(sqlx::query_as!(
        Endpoint,
        "SELECT * FROM engine_webhook_endpoints ORDER BY created_at"
    )
    .fetch_all(pool(db))
    .await?)
}

pub async fn find(db: &DatabaseConnection, id: Uuid) -> Result<Option<Endpoint>, EngineError> {
    Ok(sqlx::query_as!(
        Endpoint,
        "SELECT * FROM engine_webhook_endpoints WHERE id = $1",
        id
    )
    .fetch_optional(pool(db))
    .await?)
}

/// Removes an endpoint; deliveries still waiting for it are discarded when they run.
pub async fn remove(db: &DatabaseConnection, id: Uuid) -> Result<(), EngineError> {
    let removed = sqlx::query!("DELETE FROM engine_webhook_endpoints WHERE id = $1", id)
        .execute(pool(db))
        .await?;
    if removed.rows_affected() == 0 {
        return Err(EngineError::NotFound(format!("no webhook endpoint {id}")));
    }
    Ok(())
}

pub async fn set_enabled(
    db: &DatabaseConnection,
    id: Uuid,
    enabled: bool,
) -> Result<Endpoint, EngineError> {
    sqlx::query_as!(
        Endpoint,
        "UPDATE engine_webhook_endpoints SET enabled = $2 WHERE id = $1 RETURNING *",
        id,
        enabled
    )
    .fetch_optional(pool(db))
    .await?
    .ok_or_else(|| EngineError::NotFound(format!("no webhook endpoint {id}")))
}

/// One delivery of an endpoint's log: the event, where it stands, what the receiver said.
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    pub job_id: i64,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub task_id: Option<i64>,
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// `{status, ms}` of the accepted try.
    pub result: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The newest deliveries to an endpoint (at most `limit`, ≤ 500).
pub async fn deliveries(
    db: &DatabaseConnection,
    endpoint: Uuid,
    limit: u64,
) -> Result<Vec<Delivery>, EngineError> {
    let rows = deliveries_of(db, &[endpoint], limit).await?;
    Ok(rows.into_iter().map(|(_, delivery)| delivery).collect())
}

/// The newest `limit` (≤ 500) deliveries of each of `endpoints`, in one statement, as
/// `(endpoint, delivery)` newest first per endpoint.
pub async fn deliveries_of(
    db: &DatabaseConnection,
    endpoints: &[Uuid],
    limit: u64,
) -> Result<Vec<(Uuid, Delivery)>, EngineError> {
    let groups: Vec<String> = endpoints.iter().map(|e| format!("webhook:{e}")).collect();
    let rows = sqlx::query!(
        r#"SELECT * FROM (
               SELECT substr(group_key, 9)::uuid AS endpoint, id AS job_id,
                      args->>'eventId' AS event_id, args->>'type' AS event_type,
                      (args->'task'->>'id')::bigint AS task_id, state, attempt AS attempts,
                      last_error, result, created_at, finished_at,
                      row_number() OVER (PARTITION BY group_key ORDER BY id DESC) AS n
                 FROM engine_jobs WHERE kind = $1 AND group_key = ANY ($2)) d
            WHERE n <= $3 ORDER BY endpoint, job_id DESC"#,
        KIND,
        &groups,
        limit.clamp(1, 500) as i64
    )
    .fetch_all(pool(db))
    .await?;
    rows.into_iter()
        .map(|row| {
            let endpoint = row
                .endpoint
                .ok_or_else(|| EngineError::Invalid("a delivery without its endpoint".into()))?;
            let delivery = Delivery {
                job_id: row.job_id,
                event_id: row.event_id,
                event_type: row.event_type,
                task_id: row.task_id,
                state: row.state,
                attempts: row.attempts,
                last_error: row.last_error,
                result: row.result,
                created_at: row.created_at,
                finished_at: row.finished_at,
            };
            Ok((endpoint, delivery))
        })
        .collect()
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, the key being the secret's bytes.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = BASE64
        .decode(encoded)
        .map_err(|_| "the endpoint's secret is not base64".to_owned())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// How deliveries are sent (one per application, shared by every delivery).
#[derive(Clone)]
pub struct WebhookSender {
    hosts: AllowedHosts,
    client: reqwest::Client,
    max_response_bytes: usize,
    /// Body formats besides [`STANDARD_FORMAT`], by name.
    formats: std::collections::HashMap<&'static str, Encoder>,
}

impl WebhookSender {
    pub fn new(hosts: AllowedHosts, timeout: Duration) -> Result<Self, String> {
        let connect = timeout.min(Duration::from_secs(5));
        let client = hosts.client(connect, timeout, "mintbean-webhooks/1")?;
        Ok(WebhookSender {
            hosts,
            client,
            max_response_bytes: 64 * 1024,
            formats: Default::default(),
        })
    }

    /// Sends endpoints whose format is `name` bodies made by `encoder`.
    pub fn with_format(mut self, name: &'static str, encoder: Encoder) -> Self {
        self.formats.insert(name, encoder);
        self
    }

    /// Every format this sender knows, [`STANDARD_FORMAT`] first.
    pub fn formats(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.formats.keys().copied().collect();
        names.sort_unstable();
        names.insert(0, STANDARD_FORMAT);
        names
    }

    pub fn hosts(&self) -> &AllowedHosts {
        &self.hosts
    }
}

/// One event to one endpoint (written by `engine_emit`; not meant to be enqueued by hand).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliverWebhook {
    pub endpoint: Uuid,
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub task: Value,
}

impl JobArgs for DeliverWebhook {
    const KIND: &'static str = KIND;

    fn settings() -> KindSettings {
        KindSettings {
            queue: QUEUE,
            max_attempts: 12,
            timeout: Some(Duration::from_secs(60)),
            ..KindSettings::default()
        }
    }
}

/// The sender delivers [`DeliverWebhook`] jobs.
impl Handler<DeliverWebhook> for WebhookSender {
    async fn run(&self, delivery: DeliverWebhook, ctx: JobContext) -> Result<Value, JobError> {
        let endpoint = find(ctx.db(), delivery.endpoint)
            .await
            .map_err(JobError::retryable)?
            .ok_or_else(|| JobError::permanent("the endpoint was removed"))?;
        if !endpoint.enabled {
            return Err(JobError::permanent("the endpoint is disabled"));
        }
        delivery.send(&endpoint, self).await
    }
}

impl DeliverWebhook {
    /// The body in Standard Webhooks' JSON, and its content type.
    fn standard_body(&self) -> (Vec<u8>, &'static str) {
        let body = json!({
            "id": self.event_id,
            "type": self.event_type,
            "timestamp": self.occurred_at,
            "data": self.task,
        });
        (body.to_string().into_bytes(), "application/json")
    }

    async fn send(&self, endpoint: &Endpoint, sender: &WebhookSender) -> Result<Value, JobError> {
        let url = Url::parse(&endpoint.url).map_err(JobError::permanent)?;
        sender.hosts.check_url(&url).map_err(JobError::permanent)?;
        let (body, content_type) = match endpoint.format.as_str() {
            STANDARD_FORMAT => self.standard_body(),
            name => match sender.formats.get(name) {
                Some(encode) => encode(self),
                None => {
                    return Err(JobError::permanent(format!(
                        "the endpoint's format `{name}` is unknown to this worker"
                    )));
                }
            },
        };
        let timestamp = Utc::now().timestamp();
        let signature = sign(&endpoint.secret, &self.event_id, timestamp, &body)
            .map_err(JobError::permanent)?;
        let started = std::time::Instant::now();
        let response = sender
            .client
            .post(url)
            .header("content-type", content_type)
            .header("webhook-id", &self.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| JobError::retryable(net::describe(&e)))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        // Read (a capped part of) the answer so the connection can be reused; its text is kept
        // only in the error, briefly.
        let answer = net::read_capped(response, sender.max_response_bytes)
            .await
            .unwrap_or_default();
        let ms = started.elapsed().as_millis() as u64;
        if status.is_success() {
            return Ok(json!({ "status": status.as_u16(), "ms": ms }));
        }
        let snippet: String = String::from_utf8_lossy(&answer).chars().take(200).collect();
        let message = format!("the receiver answered {status}: {snippet}");
        match status.as_u16() {
            429 => Err(match retry_after {
                Some(at) => JobError::retry_at(at, message),
                None => JobError::retryable(message),
            }),
            408 => Err(JobError::retryable(message)),
            300..=499 => Err(JobError::permanent(message)),
            _ => Err(JobError::retryable(message)),
        }
    }
}

/// `Retry-After` in seconds (bounded to a day), as a time.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<DateTime<Utc>> {
    let seconds: i64 = headers
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Utc::now() + chrono::Duration::seconds(seconds.clamp(0, 86_400)))
}

/// Sends a delivery (a job of kind [`KIND`]) again: a failed, discarded or cancelled one is
/// retried; a completed one is copied into a new delivery job (same event, same endpoint; the
/// receiver sees the same event id and can deduplicate on it).
pub async fn redeliver(
    db: &DatabaseConnection,
    job_id: i64,
) -> Result<crate::admin::JobRow, EngineError> {
    let job = crate::admin::find(db, job_id)
        .await?
        .filter(|job| job.kind == KIND)
        .ok_or_else(|| EngineError::NotFound(format!("no webhook delivery {job_id}")))?;
    match job.state.as_str() {
        "failed" | "discarded" | "cancelled" => crate::admin::retry(db, job_id).await,
        "completed" => {
            let mut copy = crate::NewJob::new(KIND, job.args.clone())
                .queue(job.queue.clone())
                .max_attempts(job.max_attempts)
                .created_by("redeliver");
            copy.group_key = job.group_key.clone();
            let enqueued = crate::enqueue(db, copy).await?;
            crate::admin::find(db, enqueued.id)
                .await?
                .ok_or_else(|| EngineError::NotFound(format!("no job {}", enqueued.id)))
        }
        state => Err(EngineError::Conflict(format!(
            "delivery {job_id} is {state}: it is still to be sent"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_are_32_random_bytes() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        let bytes = BASE64.decode(a.strip_prefix("whsec_").unwrap()).unwrap();
        assert_eq!(bytes.len(), 32);
    }
}
