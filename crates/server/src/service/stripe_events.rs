//! What billing does with Stripe's webhooks: `payment_intent.succeeded` and
//! `payment_intent.payment_failed` settle the pending payment they are about, once (a replayed
//! or late event finds it settled and changes nothing).

use std::sync::Arc;

use tollgate_domain::PaymentId;

use crate::app::App;
use crate::payments::{ChargeOutcome, StripeEvent, StripeEventHandler, StripeEventKind};

/// The handler mounted at `/api/v1/webhooks/stripe` when a webhook secret is configured.
pub struct BillingWebhooks(pub Arc<App>);

impl StripeEventHandler for BillingWebhooks {
    async fn handle(&self, event: StripeEvent) -> anyhow::Result<()> {
        let (intent, key, outcome) = match event.kind {
            StripeEventKind::PaymentSucceeded {
                payment_intent_id,
                idempotency_key,
                ..
            } => (
                payment_intent_id.clone(),
                idempotency_key,
                ChargeOutcome::Succeeded {
                    provider_payment_id: payment_intent_id,
                },
            ),
            StripeEventKind::PaymentFailed {
                payment_intent_id,
                idempotency_key,
                code,
                message,
            } => (
                payment_intent_id.clone(),
                idempotency_key,
                ChargeOutcome::Declined {
                    code,
                    message,
                    provider_payment_id: Some(payment_intent_id),
                },
            ),
            StripeEventKind::Other { .. } => return Ok(()),
        };
        let settled = self
            .0
            // The idempotency key is the payment's id when Tollgate made the charge; anything
            // else names no payment of ours.
            .settle_from_webhook(
                &intent,
                key.as_deref().and_then(PaymentId::parse).as_ref(),
                outcome,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if settled.is_none() {
            tracing::info!(event = %event.id, payment_intent = %intent, "webhook for a payment Tollgate did not make; ignored");
        }
        Ok(())
    }
}
