//! The drainer: turning the email queue into deliveries, and sending one delivery. Sending runs
//! on the job engine (one `email.send` job per delivery, `super::jobs::SendEmail`), which claims,
//! retries and records it; the drainer holds what a send needs (templates, the mail server).
//!
//! 1. **Expand** ([`Drainer::expand_due`], the `email.drain` job every `EMAIL_POLL_INTERVAL_SECS`
//!    and `jobs email`). Due `"scheduledEmails"` rows (reminders at their time, rows the Node
//!    backend wrote) are claimed with `FOR UPDATE SKIP LOCKED`; each becomes one
//!    `email_deliveries` row per recipient (a meet-addressed email fans out to the users
//!    registered at that moment) with its send job, and the queue row is removed — all in one
//!    transaction. Bad data (unknown template, deleted meet, recipient without an address)
//!    becomes a failed delivery carrying the reason; it never stops the batch.
//! 2. **Deliver** ([`Drainer::deliver`], the `email.send` job). The delivery row is locked, the
//!    email sent, and the outcome recorded in the same transaction, which commits right after
//!    the SMTP server answers. If the process dies, its transaction rolls back and the job runs
//!    again: an email is re-sent only if the crash fell between the server's acceptance and the
//!    commit, and then with the same Message-ID (fixed when the delivery row was created). A
//!    refusal for now is a retry that uses up one of the delivery's retries; an unreachable mail
//!    server is not (the job snoozes), so an outage never turns into failed emails.

use std::{
    collections::HashMap,
    fmt,
    panic::AssertUnwindSafe,
    sync::{LazyLock, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use lettre::message::Mailbox;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult,
    IdenStatic, Iterable, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
    TransactionTrait,
    sea_query::{LockBehavior, LockType},
};
use tracing::Instrument;
use uuid::Uuid;

use super::{
    delivery::{self, NewDelivery, Status},
    ics,
    message::{self, Outgoing},
    schedule::{CONTACT_FORM_TEMPLATE, TemplateName},
    scheduled_email,
    templates::{self, ContactView, MeetView, RecipientView, SiteView, Templates},
    transport::{Mailer, SendError, Session},
};
use crate::{
    config::EmailConfig,
    meets::{entity as meets, registration},
    users::entity as users,
};

/// Queue rows expanded per transaction.
const EXPAND_BATCH: u64 = 500;
/// Consecutive connection-level failures after which a run stops instead of burning retries.
const UNAVAILABLE_LIMIT: u32 = 3;
const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);

#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub sent: u64,
    /// Failed for now and scheduled again.
    pub retried: u64,
    /// Given up on (permanent refusal, exhausted retries, or bad data).
    pub failed: u64,
    /// Of `failed`: those that used up their retries.
    pub exhausted: u64,
    /// Deliberately not sent (meet over, nobody registered, account deleted).
    pub skipped: u64,
    pub elapsed: Duration,
    /// Why the run stopped early, if it did.
    pub aborted: Option<String>,
}

impl Summary {
    /// Adds `other`'s counts (and its reason to stop, if any) to these.
    pub fn absorb(&mut self, other: &Summary) {
        self.sent += other.sent;
        self.retried += other.retried;
        self.failed += other.failed;
        self.exhausted += other.exhausted;
        self.skipped += other.skipped;
        if other.aborted.is_some() {
            self.aborted.clone_from(&other.aborted);
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {}, retried {}, failed {} ({} after exhausting retries), skipped {} in {:.2}s",
            self.sent,
            self.retried,
            self.failed,
            self.exhausted,
            self.skipped,
            self.elapsed.as_secs_f64()
        )?;
        if let Some(reason) = &self.aborted {
            write!(f, "; stopped early: {reason}")?;
        }
        Ok(())
    }
}

pub struct Drainer {
    db: DatabaseConnection,
    mailer: Mailer,
    templates: Templates,
    config: EmailConfig,
    sender: Mailbox,
    domain: String,
    /// After [`UNAVAILABLE_LIMIT`] unreachable tries in a row, sends are deferred without
    /// connecting until this time (no hammering a mail server that is down).
    unreachable: Mutex<(u32, Option<Instant>)>,
}

/// What became of one delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivered {
    Sent,
    /// Nothing done: it was sent, failed, skipped or cancelled before (its status), or it is
    /// gone.
    Settled(String),
    /// Another worker holds it (it is being sent).
    Busy,
    /// Refused for now: one retry used up; the next try is at `at`.
    Retry {
        reason: String,
        at: DateTime<Utc>,
    },
    /// The mail server could not be reached: the next try is at `at`, no retry used up.
    Deferred {
        reason: String,
        at: DateTime<Utc>,
    },
    /// Given up (a permanent refusal, bad data, or retries used up).
    Failed {
        reason: String,
        exhausted: bool,
    },
}

/// A claimed delivery with what is needed to build it.
#[derive(Debug, FromQueryResult)]
struct Due {
    id: Uuid,
    status: String,
    template_name: String,
    meet_id: Option<Uuid>,
    recipient_email: String,
    message_id: String,
    retries_left: i32,
    attempts: i32,
    first_name: Option<String>,
    last_name: Option<String>,
    contact_subject: Option<String>,
    contact_html: Option<String>,
    contact_created_at: Option<DateTime<Utc>>,
    context: Option<serde_json::Value>,
}

enum Outcome {
    Sent,
    /// Refused for now: try again at the time, using up one retry.
    Retry(String, DateTime<Utc>),
    /// The mail server could not be reached: try again at the time without using up a retry
    /// (an outage must not turn into failed emails).
    Deferred(String, DateTime<Utc>),
    Fail(String),
    Exhausted(String),
}

impl From<Outcome> for Delivered {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Sent => Delivered::Sent,
            Outcome::Retry(reason, at) => Delivered::Retry { reason, at },
            Outcome::Deferred(reason, at) => Delivered::Deferred { reason, at },
            Outcome::Fail(reason) => Delivered::Failed {
                reason,
                exhausted: false,
            },
            Outcome::Exhausted(reason) => Delivered::Failed {
                reason,
                exhausted: true,
            },
        }
    }
}

impl Drainer {
    pub fn new(db: DatabaseConnection, config: EmailConfig) -> Result<Drainer, String> {
        let templates = Templates::new().map_err(|e| format!("email templates: {e}"))?;
        Drainer::with_templates(db, config, templates)
    }

    /// A drainer rendering with `templates` (the embedded ones, customised).
    pub fn with_templates(
        db: DatabaseConnection,
        config: EmailConfig,
        templates: Templates,
    ) -> Result<Drainer, String> {
        let sender: Mailbox = config
            .sender
            .parse()
            .map_err(|e| format!("SENDER_EMAIL is not a valid address: {e}"))?;
        let domain = sender.email.domain().to_owned();
        Ok(Drainer {
            mailer: Mailer::from_config(&config)?,
            templates,
            db,
            config,
            sender,
            domain,
            unreachable: Mutex::default(),
        })
    }

    /// The sender's domain (Message-IDs are made in it).
    pub fn sender_domain(&self) -> &str {
        &self.domain
    }

    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// Turns every due queue row into deliveries and their send jobs. The summary counts the
    /// deliveries made failed or skipped (they have no job).
    pub async fn expand_due(&self) -> Result<Summary, DbErr> {
        let started = Instant::now();
        let mut summary = Summary::default();
        loop {
            let txn = self.db.begin().await?;
            let rows = scheduled_email::Entity::find()
                .filter(scheduled_email::Column::SendAt.lte(Utc::now()))
                .order_by_asc(scheduled_email::Column::SendAt)
                .limit(EXPAND_BATCH)
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .all(&txn)
                .await?;
            if rows.is_empty() {
                txn.commit().await?;
                summary.elapsed = started.elapsed();
                return Ok(summary);
            }
            let planned = self.plan_deliveries(&txn, &rows).await?;
            let mut deliveries = Vec::with_capacity(planned.len());
            for (delivery, status) in planned {
                match status {
                    Status::Failed => summary.failed += 1,
                    Status::Skipped => summary.skipped += 1,
                    _ => {}
                }
                deliveries.push(delivery);
            }
            for chunk in deliveries.chunks(1000) {
                // A row expanded twice (it cannot be, under the lock) would not duplicate anyone.
                delivery::store(&txn, chunk.to_vec())
                    .await
                    .map_err(|e| DbErr::Custom(e.to_string()))?;
            }
            scheduled_email::Entity::delete_many()
                .filter(scheduled_email::Column::Id.is_in(rows.iter().map(|r| r.id)))
                .exec(&txn)
                .await?;
            txn.commit().await?;
        }
    }

    /// One delivery row per recipient of each queue row, or one failed/skipped row saying why not.
    async fn plan_deliveries(
        &self,
        db: &impl ConnectionTrait,
        rows: &[scheduled_email::Model],
    ) -> Result<Vec<(delivery::ActiveModel, Status)>, DbErr> {
        let audience = Audience::load(db, rows).await?;
        let now = Utc::now();
        let mut planned = Vec::new();
        for row in rows {
            let recipients = match expansion_problem(row, &audience, now) {
                Some((status, reason)) => vec![Recipient::none(status, reason)],
                None => audience.recipients_of(row),
            };
            for recipient in recipients {
                let status = recipient.status;
                planned.push((self.delivery_row(row, &audience, recipient, now), status));
            }
        }
        Ok(planned)
    }

    fn delivery_row(
        &self,
        row: &scheduled_email::Model,
        audience: &Audience,
        recipient: Recipient<'_>,
        now: DateTime<Utc>,
    ) -> delivery::ActiveModel {
        NewDelivery {
            scheduled_email_id: Some(row.id),
            contact_message_id: None,
            template_name: row.template_name.clone(),
            meet_id: row.meet_id.filter(|m| audience.meets.contains_key(m)),
            recipient_user_id: recipient.user.map(|u| u.id),
            recipient_email: recipient.email.to_owned(),
            status: recipient.status,
            reason: recipient.reason,
            retries_left: row.retries_left.max(0),
            context: None,
            dedupe_key: None,
        }
        .into_row(&self.domain, now)
    }

    /// Sends one delivery and records the outcome with it (the `email.send` job's work). `last`:
    /// the job has no attempt left after this one.
    pub async fn deliver(&self, id: Uuid, last: bool) -> Result<Delivered, DbErr> {
        let txn = self.db.begin().await?;
        let claimed = txn
            .query_one_raw(Statement::from_sql_and_values(
                txn.get_database_backend(),
                claim_statement(),
                [id.into()],
            ))
            .await?;
        let Some(row) = claimed else {
            txn.commit().await?;
            let status = delivery::Entity::find_by_id(id).one(&self.db).await?;
            return Ok(match status {
                Some(_) => Delivered::Busy,
                None => Delivered::Settled("gone".into()),
            });
        };
        let due = Due::from_query_result(&row, "")?;
        if due.status != Status::Pending.as_str() {
            txn.commit().await?;
            return Ok(Delivered::Settled(due.status));
        }
        // The meet comes with the claim (one statement per email, not two).
        let meet = match row.try_get::<Option<Uuid>>("", "m_id")? {
            Some(_) => Some(meets::Model::from_query_result(&row, "m_")?),
            None => None,
        };
        let span = tracing::info_span!(
            "email_delivery",
            delivery_id = %due.id,
            template = %due.template_name,
            attempt = due.attempts + 1,
        );
        let outcome = match self.deferred_until() {
            Some(at) => Outcome::Deferred("the mail server is unavailable".into(), at),
            None => {
                let mut session = self.mailer.session();
                // A panic while rendering or sending fails this email with the reason; it never
                // takes the process down (and the job would panic again).
                let outcome = AssertUnwindSafe(self.send(&mut session, &due, meet.as_ref(), last))
                    .catch_unwind()
                    .instrument(span.clone())
                    .await
                    .unwrap_or_else(|panic| {
                        Outcome::Fail(format!(
                            "panicked while preparing or sending: {}",
                            engine::panic_message(&panic)
                        ))
                    });
                session.release();
                self.note_reachability(&outcome);
                outcome
            }
        };
        self.record(&txn, &due, &outcome).instrument(span).await?;
        txn.commit().await?;
        Ok(outcome.into())
    }

    /// When the mail server was unreachable [`UNAVAILABLE_LIMIT`] times in a row: the time
    /// until which sends are deferred without trying.
    fn deferred_until(&self) -> Option<DateTime<Utc>> {
        let state = self.unreachable.lock().unwrap_or_else(|e| e.into_inner());
        let until = state.1.filter(|until| *until > Instant::now())?;
        Some(Utc::now() + chrono::Duration::from_std(until - Instant::now()).unwrap_or_default())
    }

    fn note_reachability(&self, outcome: &Outcome) {
        let mut state = self.unreachable.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Outcome::Deferred(..) => {
                state.0 += 1;
                if state.0 >= UNAVAILABLE_LIMIT {
                    state.1 = Some(Instant::now() + self.outage_pause());
                }
            }
            _ => *state = (0, None),
        }
    }

    /// How long sends wait once the mail server is found unreachable.
    fn outage_pause(&self) -> Duration {
        self.config.retry_backoff.max(Duration::from_secs(1))
    }

    async fn send(
        &self,
        session: &mut Session<'_>,
        due: &Due,
        meet: Option<&meets::Model>,
        last: bool,
    ) -> Outcome {
        match self.prepare(due, meet) {
            Err(reason) => Outcome::Fail(reason),
            Ok(message) => match session.send(&message, self.config.send_timeout).await {
                Ok(()) => Outcome::Sent,
                Err(SendError::Permanent(reason)) => {
                    Outcome::Fail(format!("the mail server refused: {reason}"))
                }
                Err(SendError::Transient(reason)) => self.retry_or_give_up(due, reason, last),
                Err(SendError::Unavailable(reason)) => {
                    let wait = self.backoff(due.attempts).max(Duration::from_secs(1));
                    let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                    Outcome::Deferred(reason, at)
                }
            },
        }
    }

    fn retry_or_give_up(&self, due: &Due, reason: String, last: bool) -> Outcome {
        if due.retries_left > 0 && !last {
            let wait = self.backoff(due.attempts);
            Outcome::Retry(
                reason,
                Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
            )
        } else {
            Outcome::Exhausted(format!(
                "gave up after {} attempts: {reason}",
                due.attempts + 1
            ))
        }
    }

    fn backoff(&self, attempts_so_far: i32) -> Duration {
        let factor = 2u32.saturating_pow(attempts_so_far.clamp(0, 20) as u32);
        self.config
            .retry_backoff
            .saturating_mul(factor)
            .min(MAX_BACKOFF)
    }

    async fn record(
        &self,
        db: &impl ConnectionTrait,
        due: &Due,
        outcome: &Outcome,
    ) -> Result<(), DbErr> {
        let backend = db.get_database_backend();
        let statement = match outcome {
            Outcome::Sent => Statement::from_sql_and_values(
                backend,
                "UPDATE email_deliveries SET status = $2, sent_at = now(), attempts = attempts + 1,
                        last_error = NULL, updated_at = now() WHERE id = $1",
                [due.id.into(), Status::Sent.as_str().into()],
            ),
            Outcome::Retry(reason, at) => Statement::from_sql_and_values(
                backend,
                "UPDATE email_deliveries SET attempts = attempts + 1, retries_left = retries_left - 1,
                        send_after = $2, last_error = $3, updated_at = now()
                 WHERE id = $1",
                [due.id.into(), (*at).into(), reason.clone().into()],
            ),
            Outcome::Deferred(reason, at) => Statement::from_sql_and_values(
                backend,
                "UPDATE email_deliveries SET attempts = attempts + 1, send_after = $2,
                        last_error = $3, updated_at = now()
                 WHERE id = $1",
                [due.id.into(), (*at).into(), reason.clone().into()],
            ),
            Outcome::Fail(reason) | Outcome::Exhausted(reason) => Statement::from_sql_and_values(
                backend,
                "UPDATE email_deliveries SET status = $3, attempts = attempts + 1, last_error = $2,
                        updated_at = now() WHERE id = $1",
                [
                    due.id.into(),
                    reason.clone().into(),
                    Status::Failed.as_str().into(),
                ],
            ),
        };
        db.execute_raw(statement).await?;
        match outcome {
            Outcome::Fail(reason) | Outcome::Exhausted(reason) => {
                tracing::warn!(delivery = %due.id, template = %due.template_name, %reason, "email failed");
            }
            Outcome::Retry(reason, _) | Outcome::Deferred(reason, _) => {
                tracing::info!(delivery = %due.id, template = %due.template_name, %reason, "email will be retried");
            }
            Outcome::Sent => {}
        }
        Ok(())
    }

    /// Renders and builds the message, or says why it cannot be sent.
    fn prepare(&self, due: &Due, meet: Option<&meets::Model>) -> Result<lettre::Message, String> {
        let name = due.template_name.as_str();
        if !self.templates.has(name) {
            return Err(format!("unknown template `{name}`"));
        }
        let recipient_name = [due.first_name.as_deref(), due.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let address: lettre::Address = due
            .recipient_email
            .trim()
            .parse()
            .map_err(|_| format!("invalid recipient address {:?}", due.recipient_email))?;
        let to = Mailbox::new(
            (!recipient_name.is_empty()).then_some(recipient_name),
            address,
        );
        let (context, invite) = if name == CONTACT_FORM_TEMPLATE {
            (self.contact_context(due)?, None)
        } else if name.starts_with(templates::NOTIFICATION_PREFIX) {
            (self.notification_context(due)?, None)
        } else {
            self.meet_context(due, meet)?
        };
        let rendered = self.templates.render(name, &context)?;
        message::build(Outgoing {
            from: &self.sender,
            to,
            message_id: &due.message_id,
            rendered,
            invite,
        })
    }

    fn site_and_recipient(&self, due: &Due) -> (SiteView, RecipientView) {
        let site = SiteView {
            name: "Mintbean".into(),
            url: self.config.frontend_url.clone(),
        };
        let recipient = RecipientView {
            first_name: due.first_name.clone().unwrap_or_else(|| "there".into()),
            last_name: due.last_name.clone().unwrap_or_default(),
            email: due.recipient_email.clone(),
        };
        (site, recipient)
    }

    fn contact_context(&self, due: &Due) -> Result<tera::Context, String> {
        let (Some(subject), Some(html)) = (&due.contact_subject, &due.contact_html) else {
            return Err("the contact message is missing".into());
        };
        let received = due.contact_created_at.unwrap_or_else(Utc::now);
        let contact = ContactView {
            subject: subject.clone(),
            text: super::contact::html_to_text(html),
            html: html.clone(),
            received: received.to_rfc2822(),
        };
        let (site, recipient) = self.site_and_recipient(due);
        Ok(templates::context(
            site,
            Some(recipient),
            None,
            Some(contact),
        ))
    }

    /// A notification's context: its stored data as `notification`.
    fn notification_context(&self, due: &Due) -> Result<tera::Context, String> {
        let Some(data) = &due.context else {
            return Err("the notification has no data".into());
        };
        let (site, recipient) = self.site_and_recipient(due);
        let mut context = templates::context(site, Some(recipient), None, None);
        context.insert("notification", data);
        Ok(context)
    }

    /// The context of a meet email, with the calendar invite of a registration confirmation.
    fn meet_context(
        &self,
        due: &Due,
        meet: Option<&meets::Model>,
    ) -> Result<(tera::Context, Option<String>), String> {
        let meet = match (due.meet_id, meet) {
            (_, Some(m)) if !m.deleted => m,
            (Some(id), _) => return Err(format!("meet {id} was deleted")),
            (None, _) => return Err("the email names no meet".into()),
        };
        let view = MeetView::new(meet, &self.config.frontend_url);
        let invite = TemplateName::parse(&due.template_name)
            .filter(|t| t.kind == super::schedule::Kind::RegistrationConfirmation)
            .map(|_| ics::invite(meet, &view.url, &self.domain, Utc::now()));
        let (site, recipient) = self.site_and_recipient(due);
        Ok((
            templates::context(site, Some(recipient), Some(view), None),
            invite,
        ))
    }
}

/// The meets and people the queue rows being expanded refer to, loaded in three statements.
struct Audience {
    meets: HashMap<Uuid, meets::Model>,
    /// Recipients of user-addressed emails, deleted accounts included (they are skipped).
    users: HashMap<Uuid, users::Model>,
    /// Active registrants of the meets emails are addressed to, oldest registration first.
    registrants: HashMap<Uuid, Vec<users::Model>>,
}

impl Audience {
    async fn load(
        db: &impl ConnectionTrait,
        rows: &[scheduled_email::Model],
    ) -> Result<Self, DbErr> {
        let meet_ids: Vec<Uuid> = rows
            .iter()
            .flat_map(|r| [r.meet_id, r.meet_recipient_id])
            .flatten()
            .collect();
        let meets = meets::Entity::find()
            .filter(meets::Column::Id.is_in(meet_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        let user_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.user_recipient_id).collect();
        let users = users::Entity::find()
            .filter(users::Column::Id.is_in(user_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        let audience_meets: Vec<Uuid> = rows.iter().filter_map(|r| r.meet_recipient_id).collect();
        let mut registrants: HashMap<Uuid, Vec<users::Model>> = HashMap::new();
        for (reg, user) in registration::Entity::live()
            .find_also_related(users::Entity)
            .filter(registration::Column::MeetId.is_in(audience_meets))
            .filter(users::Column::Deleted.eq(false))
            .order_by_asc(registration::Column::CreatedAt)
            .all(db)
            .await?
        {
            if let Some(user) = user {
                registrants.entry(reg.meet_id).or_default().push(user);
            }
        }
        Ok(Audience {
            meets,
            users,
            registrants,
        })
    }

    /// Who a queue row goes to: a meet's registrants at this moment, or one user.
    fn recipients_of(&self, row: &scheduled_email::Model) -> Vec<Recipient<'_>> {
        match (row.meet_recipient_id, row.user_recipient_id) {
            (Some(meet_id), _) => match self.registrants.get(&meet_id) {
                Some(list) if !list.is_empty() => list.iter().map(Recipient::user).collect(),
                _ => vec![Recipient::none(
                    Status::Skipped,
                    "nobody is registered for the meet".into(),
                )],
            },
            (None, Some(user_id)) => vec![match self.users.get(&user_id) {
                Some(user) if user.deleted => Recipient {
                    status: Status::Skipped,
                    reason: Some("the recipient's account was deleted".into()),
                    ..Recipient::user(user)
                },
                Some(user) => Recipient::user(user),
                None => Recipient::none(Status::Skipped, format!("user {user_id} does not exist")),
            }],
            (None, None) => vec![Recipient::none(
                Status::Failed,
                "the email names no recipient".into(),
            )],
        }
    }
}

/// One recipient of a queue row, or (without a user) the reason it has none.
struct Recipient<'a> {
    user: Option<&'a users::Model>,
    email: &'a str,
    status: Status,
    reason: Option<String>,
}

impl<'a> Recipient<'a> {
    fn user(user: &'a users::Model) -> Self {
        if user.email.trim().is_empty() {
            return Recipient {
                user: Some(user),
                email: "",
                status: Status::Failed,
                reason: Some("the recipient has no email address".into()),
            };
        }
        Recipient {
            user: Some(user),
            email: &user.email,
            status: Status::Pending,
            reason: None,
        }
    }

    fn none(status: Status, reason: String) -> Self {
        Recipient {
            user: None,
            email: "",
            status,
            reason: Some(reason),
        }
    }
}

/// Why a queue row cannot be sent to anyone, if it cannot.
fn expansion_problem(
    row: &scheduled_email::Model,
    audience: &Audience,
    now: DateTime<Utc>,
) -> Option<(Status, String)> {
    let template = TemplateName::parse(&row.template_name);
    let meet = row.meet_id.and_then(|id| audience.meets.get(&id));
    let fail = |why: String| Some((Status::Failed, why));
    match (template, row.meet_id, meet) {
        (None, _, _) => fail(format!("unknown template `{}`", row.template_name)),
        (_, None, _) => fail("the email names no meet".into()),
        (_, Some(id), None) => fail(format!("meet {id} does not exist")),
        (_, _, Some(m)) if m.deleted => fail(format!("meet {} was deleted", m.id)),
        (Some(t), _, Some(m)) if t.kind.is_reminder() && m.end_instant() <= now => {
            Some((Status::Skipped, "the meet is already over".into()))
        }
        _ => None,
    }
}

/// The lock of one delivery with everything needed to send it (none when another worker holds it). The meet's columns are
/// listed from the entity (as `m_<column>`), so a column added to `meets` is read too.
fn claim_statement() -> &'static str {
    static CLAIM: LazyLock<String> = LazyLock::new(|| {
        let meet_columns = meets::Column::iter()
            .map(|column| {
                let name = column.as_str();
                format!(r#"m."{name}" AS "m_{name}""#)
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            r#"SELECT d.id, d.status, d.template_name, d.meet_id, d.recipient_email,
                      d.message_id, d.retries_left, d.attempts, d.context,
                      u."firstName" AS first_name, u."lastName" AS last_name,
                      c.subject AS contact_subject, c.html AS contact_html,
                      c.created_at AS contact_created_at, {meet_columns}
               FROM email_deliveries d
               LEFT JOIN users u ON u.id = d.recipient_user_id
               LEFT JOIN contact_messages c ON c.id = d.contact_message_id
               LEFT JOIN meets m ON m.id = d.meet_id
               WHERE d.id = $1
               FOR UPDATE OF d SKIP LOCKED"#
        )
    });
    &CLAIM
}

/// The queue and the deliveries: what `jobs email status` and the dashboard show.
pub struct EmailStatus {
    pub queued: u64,
    pub due: u64,
    /// Every status, with its count (zero included).
    pub deliveries: Vec<(&'static str, i64)>,
    /// The latest failed deliveries, newest first.
    pub failures: Vec<delivery::Model>,
}

pub async fn status(db: &impl ConnectionTrait, failures: u64) -> Result<EmailStatus, DbErr> {
    let counts: HashMap<String, i64> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Status)
        .column_as(delivery::Column::Id.count(), "count")
        .group_by(delivery::Column::Status)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(EmailStatus {
        queued: scheduled_email::Entity::find().count(db).await?,
        due: scheduled_email::Entity::find()
            .filter(scheduled_email::Column::SendAt.lte(Utc::now()))
            .count(db)
            .await?,
        deliveries: Status::ALL
            .iter()
            .map(|s| (s.as_str(), counts.get(s.as_str()).copied().unwrap_or(0)))
            .collect(),
        failures: delivery::Entity::find()
            .filter(delivery::Column::Status.eq(Status::Failed.as_str()))
            .order_by_desc(delivery::Column::UpdatedAt)
            .limit(failures)
            .all(db)
            .await?,
    })
}

/// Counts of deliveries by status and the most recent failures, for `jobs email status`.
pub async fn status_report(db: &DatabaseConnection) -> Result<String, DbErr> {
    let status = status(db, 20).await?;
    let mut out = format!(
        "queue: {} scheduled emails ({} due now)\ndeliveries:",
        status.queued, status.due
    );
    for (name, count) in &status.deliveries {
        out.push_str(&format!(" {name} {count}"));
    }
    if !status.failures.is_empty() {
        out.push_str("\nrecent failures:");
        for f in status.failures {
            out.push_str(&format!(
                "\n  {} {} to {:?}: {}",
                f.id,
                f.template_name,
                f.recipient_email,
                f.last_error.unwrap_or_default()
            ));
        }
    }
    Ok(out)
}

/// Makes failed deliveries pending again (with fresh retries and their send jobs), e.g. after
/// fixing the mail server. Returns how many.
pub async fn retry_failed(db: &impl ConnectionTrait, id: Option<Uuid>) -> Result<u64, DbErr> {
    let mut update = delivery::Entity::update_many()
        .col_expr(
            delivery::Column::Status,
            sea_orm::sea_query::Expr::value(Status::Pending.as_str()),
        )
        .col_expr(
            delivery::Column::RetriesLeft,
            sea_orm::sea_query::Expr::value(delivery::RETRY_BUDGET),
        )
        .col_expr(
            delivery::Column::SendAfter,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .col_expr(
            delivery::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(delivery::Column::Status.eq(Status::Failed.as_str()))
        .filter(delivery::Column::RecipientEmail.ne(""));
    if let Some(id) = id {
        update = update.filter(delivery::Column::Id.eq(id));
    }
    let pending = update.exec_with_returning(db).await?;
    delivery::send(db, &pending)
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    Ok(pending.len() as u64)
}

/// The pool of a process sending emails: two connections per email sent at once (the
/// delivery's lock and the job's own statements) and the job engine's.
pub fn pool_size(config: &EmailConfig) -> u32 {
    (config.concurrency as u32)
        .saturating_mul(2)
        .saturating_add(10)
}
