//! Payment providers (DESIGN.md §2 "Payments"): `sandbox` (the default: no network, Stripe's
//! test card numbers) and `stripe` (Stripe's REST API). Billing and subscriptions call
//! `app.payments` through the `PaymentProvider` trait and never learn which one it is, except
//! for the card form (`Payments::card_form`).
//!
//! Money goes in as `amount_micros: i64`, micro-USD like everywhere in Tollgate; providers
//! charge whole cents, and an amount that is not whole cents is refused, never rounded.
//!
//! The charge protocol that keeps a payment from being lost or taken twice:
//!
//! ```text
//! // 1. write the payment row, pending, with its idempotency key (e.g. its own id)
//! let request = ChargeRequest { customer, card, amount_micros, idempotency_key: payment_id, description };
//! match app.payments.charge(&request).await {
//!     Ok(ChargeOutcome::Succeeded { provider_payment_id }) => /* 2. payment + grant + entry, one tx */,
//!     Ok(ChargeOutcome::Declined { code, message, .. }) => /* mark failed; answer 402 `code` */,
//!     Ok(ChargeOutcome::Pending { provider_payment_id }) => /* keep pending; store the id */,
//!     Err(e) if e.is_retryable() => /* unknown: keep pending; the reconciler asks later */,
//!     Err(e) => /* nothing was charged: mark failed */,
//! }
//! // reconciler, for each payment still pending:
//! match app.payments.retrieve_charge(&request, stored_provider_id).await? {
//!     Some(outcome) => /* settle as above */,
//!     None => /* the provider never saw it: charge again with the same key, or fail it */,
//! }
//! ```

pub mod amount;
pub mod card;
pub mod config;
pub mod sandbox;
#[cfg(feature = "testing")]
pub mod stand_in;
pub mod stripe;
pub mod stripe_webhook;
mod stripe_wire;
pub mod types;
pub mod webhook_handler;

use std::future::Future;

use tollgate_domain::Timestamp;

pub use amount::{AmountError, MAX_CHARGE_MICROS, MIN_CHARGE_MICROS};
pub use card::{CardBrand, CardDetails, CardError};
pub use config::{PaymentsConfig, ProviderKind, SecretString, StripeConfig};
pub use sandbox::Sandbox;
pub use stripe::StripeClient;
pub use stripe_webhook::{verify_event, StripeEvent, StripeEventKind, WebhookError};
pub use types::{
    CardForm, CardInput, CardRef, ChargeOutcome, ChargeRequest, CustomerRef, DeclineCode,
    PaymentError, SavedCard, SetupIntent,
};
pub use webhook_handler::{stripe_webhook_routes, StripeEventHandler, STRIPE_WEBHOOK_PATH};

/// What Tollgate asks of a payment provider. Implemented by `Payments` (the configured one),
/// and by each provider on its own.
pub trait PaymentProvider: Send + Sync {
    /// The provider's customer for an organization. Call once and store the answer; calling
    /// again with the same arguments soon after answers the same customer.
    fn ensure_customer(
        &self,
        org_id: &str,
        email: &str,
        name: &str,
    ) -> impl Future<Output = Result<CustomerRef, PaymentError>> + Send;

    /// Stripe only: a SetupIntent for its card form. The sandbox answers `Unsupported`.
    fn create_setup_intent(
        &self,
        customer: &CustomerRef,
    ) -> impl Future<Output = Result<SetupIntent, PaymentError>> + Send;

    /// Saves a card to the customer for later off-session charges. `now` decides whether typed
    /// card details have expired (sandbox).
    fn save_card(
        &self,
        customer: &CustomerRef,
        input: &CardInput,
        now: Timestamp,
    ) -> impl Future<Output = Result<SavedCard, PaymentError>> + Send;

    /// Charges a saved card, off-session, in USD. The same idempotency key never charges twice
    /// and answers the first outcome.
    fn charge(
        &self,
        request: &ChargeRequest,
    ) -> impl Future<Output = Result<ChargeOutcome, PaymentError>> + Send;

    /// What became of an earlier `charge(request)` whose answer was lost or pending: by its
    /// payment id when known, else by its idempotency key. `None`: the provider never saw it.
    fn retrieve_charge(
        &self,
        request: &ChargeRequest,
        provider_payment_id: Option<&str>,
    ) -> impl Future<Output = Result<Option<ChargeOutcome>, PaymentError>> + Send;
}

/// The configured provider. An enum rather than `dyn PaymentProvider`: async trait methods are
/// not object safe, and there are exactly two providers.
#[derive(Debug)]
pub enum Payments {
    Sandbox(Sandbox),
    Stripe(StripeClient),
}

impl Default for Payments {
    fn default() -> Self {
        Self::Sandbox(Sandbox)
    }
}

impl Payments {
    pub fn from_config(config: &PaymentsConfig) -> Result<Self, PaymentError> {
        Ok(match config {
            PaymentsConfig::Sandbox => Self::Sandbox(Sandbox),
            PaymentsConfig::Stripe(stripe) => Self::Stripe(StripeClient::new(stripe)?),
        })
    }

    pub fn kind(&self) -> ProviderKind {
        match self {
            Self::Sandbox(_) => ProviderKind::Sandbox,
            Self::Stripe(_) => ProviderKind::Stripe,
        }
    }

    /// Which card form the payment page shows, and which `CardInput` it then posts.
    pub fn card_form(&self) -> CardForm {
        match self {
            Self::Sandbox(_) => CardForm::Sandbox,
            Self::Stripe(s) => CardForm::Stripe {
                publishable_key: s.publishable_key().to_owned(),
            },
        }
    }

    /// The secret that signs Stripe's webhooks, when the stripe provider has one configured:
    /// mount `stripe_webhook_routes` only then.
    pub fn stripe_webhook_secret(&self) -> Option<&str> {
        match self {
            Self::Sandbox(_) => None,
            Self::Stripe(s) => s.webhook_secret(),
        }
    }
}

impl PaymentProvider for Payments {
    async fn ensure_customer(
        &self,
        org_id: &str,
        email: &str,
        name: &str,
    ) -> Result<CustomerRef, PaymentError> {
        match self {
            Self::Sandbox(s) => s.ensure_customer(org_id, email, name).await,
            Self::Stripe(s) => s.ensure_customer(org_id, email, name).await,
        }
    }

    async fn create_setup_intent(
        &self,
        customer: &CustomerRef,
    ) -> Result<SetupIntent, PaymentError> {
        match self {
            Self::Sandbox(s) => s.create_setup_intent(customer).await,
            Self::Stripe(s) => s.create_setup_intent(customer).await,
        }
    }

    async fn save_card(
        &self,
        customer: &CustomerRef,
        input: &CardInput,
        now: Timestamp,
    ) -> Result<SavedCard, PaymentError> {
        match self {
            Self::Sandbox(s) => s.save_card(customer, input, now).await,
            Self::Stripe(s) => s.save_card(customer, input, now).await,
        }
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, PaymentError> {
        match self {
            Self::Sandbox(s) => s.charge(request).await,
            Self::Stripe(s) => s.charge(request).await,
        }
    }

    async fn retrieve_charge(
        &self,
        request: &ChargeRequest,
        provider_payment_id: Option<&str>,
    ) -> Result<Option<ChargeOutcome>, PaymentError> {
        match self {
            Self::Sandbox(s) => s.retrieve_charge(request, provider_payment_id).await,
            Self::Stripe(s) => s.retrieve_charge(request, provider_payment_id).await,
        }
    }
}
