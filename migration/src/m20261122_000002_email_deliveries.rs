//! Our email tables (snake_case, like every table of ours):
//!
//! * `email_deliveries`: one row per recipient of an email. A due `"scheduledEmails"` row is
//!   expanded into these (a meet-addressed email fans out to every registrant at that moment) and
//!   then removed from the queue, as the Node backend removed sent rows. Each delivery is sent,
//!   retried and recorded on its own; failed ones stay, with the reason, for operators to see.
//!   `message_id` is fixed when the row is created, so a re-send carries the same Message-ID.
//! * `contact_messages`: what the contact form received (sanitised), also the basis of its
//!   per-client rate limit.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    r#"CREATE TABLE contact_messages (
        id uuid PRIMARY KEY DEFAULT uuid_generate_v4(),
        client_key text NOT NULL,
        subject text NOT NULL,
        html text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )"#,
    "CREATE INDEX contact_messages_client_key_created_at_idx ON contact_messages (client_key, created_at)",
    r#"CREATE TABLE email_deliveries (
        id uuid PRIMARY KEY DEFAULT uuid_generate_v4(),
        scheduled_email_id uuid,
        contact_message_id uuid REFERENCES contact_messages(id) ON DELETE CASCADE,
        template_name text NOT NULL,
        meet_id uuid REFERENCES meets(id) ON DELETE CASCADE,
        recipient_user_id uuid REFERENCES users(id) ON DELETE CASCADE,
        recipient_email text NOT NULL,
        message_id text NOT NULL UNIQUE,
        status text NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'sent', 'failed', 'skipped', 'cancelled')),
        attempts integer NOT NULL DEFAULT 0,
        retries_left integer NOT NULL DEFAULT 3,
        send_after timestamptz NOT NULL DEFAULT now(),
        last_error text,
        sent_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (scheduled_email_id, recipient_email)
    )"#,
    "CREATE INDEX email_deliveries_due_idx ON email_deliveries (send_after) WHERE status = 'pending'",
    "CREATE INDEX email_deliveries_contact_message_id_idx ON email_deliveries (contact_message_id)",
    "CREATE INDEX email_deliveries_meet_id_idx ON email_deliveries (meet_id)",
    "CREATE INDEX email_deliveries_recipient_user_id_idx ON email_deliveries (recipient_user_id)",
    // The drainer looks for due rows of the Node queue table.
    r#"CREATE INDEX IF NOT EXISTS scheduled_emails_send_at_idx ON "scheduledEmails" ("sendAt")"#,
];

const DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS scheduled_emails_send_at_idx",
    "DROP TABLE IF EXISTS email_deliveries",
    "DROP TABLE IF EXISTS contact_messages",
];

sql_migration!();
