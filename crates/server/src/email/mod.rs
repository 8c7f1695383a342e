//! Email: templates render a message, the outbox table keeps it, a worker delivers it.
//!
//! To send an email with a change, render it and enqueue it in the change's transaction:
//!
//! ```text
//! let email = app.mailer.render(invitee.as_str(), &Invitation { … })?;
//! // in the store, inside the transaction that creates the invitation:
//! tollgate_store::enqueue_email_in(&mut tx, &email, now).await?;
//! // after the commit:
//! app.mailer.wake();
//! ```
//!
//! An email that goes with no other change: `app.send_email(to, &Receipt { … }).await?`.

pub mod config;
pub mod templates;
pub mod transport;
pub mod worker;

use std::time::Duration;

use anyhow::Context;
use lettre::message::Mailbox;
use tokio::sync::Notify;
use tollgate_store::{OutgoingEmail, StoreError};

pub use config::{EmailConfig, SmtpConfig, SmtpSecurity, TransportConfig};
pub use templates::{
    EmailTemplate, EmailTemplates, EmailVerification, Invitation, PasswordReset, Receipt,
    RechargeFailed, RechargeSucceeded, RenderError, RenewalFailed,
};
pub use transport::{MemoryOutbox, SendError, SentEmail, Transport};
pub use worker::{deliver_due, DeliveryReport, EmailWorker};

use crate::app::App;
use crate::service::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<EmailError> for ServiceError {
    fn from(e: EmailError) -> Self {
        Self::Internal(e.into())
    }
}

/// What the server needs to send email: templates, the sender, the transport, and the bell
/// that wakes this process's worker when a message was just enqueued.
pub struct Mailer {
    templates: EmailTemplates,
    from: Mailbox,
    transport: Transport,
    /// How long a claimed message stays reserved to one worker: longer than any delivery.
    lease: Duration,
    poll_interval: Duration,
    wake: Notify,
}

impl Mailer {
    /// Checks the configuration and prepares the transport; fails start-up on a bad sender
    /// address or an output directory that cannot be created.
    pub fn new(config: &EmailConfig) -> anyhow::Result<Self> {
        let from: Mailbox = config
            .from
            .parse()
            .with_context(|| format!("email sender '{}' is not a valid address", config.from))?;
        if let TransportConfig::File { dir } = &config.transport {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("creating the email outbox directory {}", dir.display())
            })?;
        }
        Ok(Self {
            templates: EmailTemplates::load().context("loading email templates")?,
            from,
            transport: Transport::new(&config.transport).context("email transport")?,
            lease: transport::max_send_time(&config.transport) + Duration::from_secs(60),
            poll_interval: config.poll_interval,
            wake: Notify::new(),
        })
    }

    /// Renders the email `T` to `to`; the result goes to the outbox.
    pub fn render<T: EmailTemplate>(
        &self,
        to: &str,
        email: &T,
    ) -> Result<OutgoingEmail, RenderError> {
        self.templates.render(to, email)
    }

    /// Tells this process's worker that a message is waiting, so that it does not wait for its
    /// next poll. Call it after the transaction that enqueued the message has committed.
    /// (Workers of other processes find it at their next poll.)
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The messages sent so far, when the transport is `memory`.
    pub fn memory_outbox(&self) -> Option<&MemoryOutbox> {
        match &self.transport {
            Transport::Memory(outbox) => Some(outbox),
            _ => None,
        }
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    pub fn from(&self) -> &Mailbox {
        &self.from
    }
}

impl App {
    /// Renders an email, puts it in the outbox on its own and wakes the worker. For an email
    /// caused by a change, enqueue it in the change's transaction instead (module docs).
    pub async fn send_email<T: EmailTemplate>(
        &self,
        to: &str,
        email: &T,
    ) -> Result<i64, EmailError> {
        let message = self.mailer.render(to, email)?;
        let id = self.store.enqueue_email(&message, self.now()).await?;
        self.mailer.wake();
        Ok(id)
    }
}
