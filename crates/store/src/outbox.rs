//! The email outbox. A message is written in the same transaction as the change that causes
//! it (an invitation, a payment), so that a committed change always has its email and a rolled
//! back one never does. Workers in any number of server processes deliver from here: a message
//! is claimed with a lease (`locked_until`) by one guarded `UPDATE`, so that two processes never
//! deliver it at the same time, and a process that dies mid-delivery only delays it until the
//! lease runs out.

use sqlx::{Any, Transaction};
use tollgate_domain::Timestamp;

use crate::{Result, Store};

/// A message to send, as rendered by the server's templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    /// What the message is about (`invitation`, `receipt`, …), for logs and operators.
    pub kind: String,
}

/// A row of the outbox.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxMessage {
    pub id: i64,
    #[sqlx(rename = "to_address")]
    pub to: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub kind: String,
    pub created_at: Timestamp,
    /// Deliveries started, the current one included once claimed.
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    /// Set while a worker holds the message; a lease that has run out can be claimed again.
    pub locked_until: Option<Timestamp>,
    pub sent_at: Option<Timestamp>,
    pub last_error: Option<String>,
    /// Set when delivery was given up.
    pub failed_at: Option<Timestamp>,
}

/// What to do with a message whose delivery failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Try again once this time has come.
    At(Timestamp),
    /// Stop trying: the message is marked failed.
    GiveUp,
}

/// Longest error text kept per message; SMTP servers can answer at length.
const MAX_ERROR_CHARS: usize = 2000;

const COLUMNS: &str = "id, to_address, subject, text_body, html_body, kind, created_at, attempts, \
     next_attempt_at, locked_until, sent_at, last_error, failed_at";

/// Writes a message to the outbox inside `tx`, due at once. Store modules call this in the
/// transaction of the change that causes the email. Returns the message's id.
pub async fn enqueue_email_in(
    tx: &mut Transaction<'static, Any>,
    email: &OutgoingEmail,
    now: Timestamp,
) -> Result<i64> {
    use sqlx::Row;
    let row = sqlx::query(
        "INSERT INTO email_outbox (to_address, subject, text_body, html_body, kind, created_at, attempts, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $6) RETURNING id",
    )
    .bind(&email.to)
    .bind(&email.subject)
    .bind(&email.text_body)
    .bind(&email.html_body)
    .bind(&email.kind)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get("id")?)
}

impl Store {
    /// Writes a message to the outbox on its own (when no other change goes with it).
    pub async fn enqueue_email(&self, email: &OutgoingEmail, now: Timestamp) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id = enqueue_email_in(&mut tx, email, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Claims up to `limit` messages that are due at `now` and not held by anyone, oldest due
    /// first, holding each until `lease_until` and counting an attempt. Messages another
    /// process claims first are skipped, so concurrent claimers never get the same message.
    pub async fn claim_due_emails(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>> {
        use sqlx::Row;
        // Look at a few more candidates than wanted: some may be taken by a concurrent claimer
        // between this read and the guarded update below.
        let candidates: Vec<i64> = sqlx::query(
            "SELECT id FROM email_outbox \
             WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 \
               AND (locked_until IS NULL OR locked_until <= $1) \
             ORDER BY next_attempt_at, id LIMIT $2",
        )
        .bind(now)
        .bind(limit.saturating_mul(4))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;

        let mut claimed = Vec::new();
        for id in candidates {
            if claimed.len() as i64 >= limit {
                break;
            }
            // The WHERE clause is re-checked against the row as it is when the update runs
            // (PostgreSQL re-evaluates it after waiting for a concurrent writer's lock), so only
            // one claimer's update matches.
            let message: Option<OutboxMessage> = sqlx::query_as(&format!(
                "UPDATE email_outbox SET locked_until = $2, attempts = attempts + 1 \
                 WHERE id = $1 AND sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $3 \
                   AND (locked_until IS NULL OR locked_until <= $3) \
                 RETURNING {COLUMNS}"
            ))
            .bind(id)
            .bind(lease_until)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            claimed.extend(message);
        }
        Ok(claimed)
    }

    /// Records a delivery. Not fenced by the lease: once a message has left, it must never be
    /// sent again, even if this worker's lease ran out meanwhile. Returns false when the
    /// message was already marked sent. The bodies are cleared: they hold raw invitation links,
    /// which the database otherwise keeps only as hashes (the file transport's `.eml` is the
    /// operator's copy).
    pub async fn mark_email_sent(&self, id: i64, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE email_outbox SET sent_at = $2, locked_until = NULL, last_error = NULL, \
               text_body = '', html_body = '' \
             WHERE id = $1 AND sent_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a failed delivery by the worker holding the lease `lease_until` (as returned by
    /// the claim) and releases the message for a later try, or gives it up. Returns false, and
    /// changes nothing, when the lease was lost to another worker or the message is settled.
    pub async fn mark_email_failed(
        &self,
        id: i64,
        lease_until: Timestamp,
        error: &str,
        retry: Retry,
        now: Timestamp,
    ) -> Result<bool> {
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        let (next_attempt_at, failed_at) = match retry {
            Retry::At(at) => (Some(at), None),
            Retry::GiveUp => (None, Some(now)),
        };
        let done = sqlx::query(
            "UPDATE email_outbox SET locked_until = NULL, last_error = $3, \
               next_attempt_at = COALESCE($4, next_attempt_at), failed_at = $5 \
             WHERE id = $1 AND locked_until = $2 AND sent_at IS NULL AND failed_at IS NULL",
        )
        .bind(id)
        .bind(lease_until)
        .bind(error)
        .bind(next_attempt_at)
        .bind(failed_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn outbox_message(&self, id: i64) -> Result<Option<OutboxMessage>> {
        Ok(
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM email_outbox WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The newest `limit` messages, newest first: for tests and operators.
    pub async fn outbox_messages(&self, limit: i64) -> Result<Vec<OutboxMessage>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM email_outbox ORDER BY id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Removes one message, sent or not: for test set-ups that consume an email themselves
    /// (`TestApp::sign_up` follows the verification link) and leave the outbox as it was.
    #[cfg(feature = "testing")]
    pub async fn discard_email(&self, id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM email_outbox WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Messages neither sent nor given up: the worker's backlog.
    pub async fn pending_email_count(&self) -> Result<i64> {
        use sqlx::Row;
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM email_outbox WHERE sent_at IS NULL AND failed_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }
}
