#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Stripe webhooks: `Stripe-Signature` verification (valid, tampered, wrong secret, stale,
//! malformed) on events the stand-in signs with its own implementation, and the webhook route
//! that hands verified events to a handler.

use std::sync::{Arc, Mutex};

use tollgate_domain::{Clock, ManualClock, SystemClock};
use tollgate_server::payments::stand_in::{
    post_signed, signature_header, StripeStandIn, STAND_IN_WEBHOOK_SECRET,
};
use tollgate_server::payments::{
    stripe_webhook_routes, verify_event, CardInput, ChargeRequest, DeclineCode, PaymentProvider,
    StripeClient, StripeEvent, StripeEventHandler, StripeEventKind, WebhookError,
    STRIPE_WEBHOOK_PATH,
};

const SECRET: &str = STAND_IN_WEBHOOK_SECRET;
const T: i64 = 1_780_000_000;

fn at(secs: i64) -> i64 {
    secs * 1000
}

/// The stand-in with one succeeded and one declined PaymentIntent; answers their ids.
async fn stand_in_with_charges() -> (StripeStandIn, String, String) {
    let stand_in = StripeStandIn::start().await;
    let stripe = StripeClient::new(&stand_in.config()).unwrap();
    let customer = stripe
        .ensure_customer("org_1", "ada@example.com", "Ada")
        .await
        .unwrap();
    let mut ids = Vec::new();
    for (magic, key) in [
        ("pm_card_visa", "pay_ok"),
        ("pm_card_chargeDeclinedInsufficientFunds", "pay_no"),
    ] {
        let input = CardInput::PaymentMethod {
            payment_method_id: magic.into(),
        };
        let card = stripe.save_card(&customer, &input, 0).await.unwrap();
        let outcome = stripe
            .charge(&ChargeRequest {
                customer: customer.clone(),
                card: card.provider_ref,
                amount_micros: 25_000_000,
                idempotency_key: key.into(),
                description: "Tollgate credits".into(),
            })
            .await
            .unwrap();
        ids.push(outcome.provider_payment_id().unwrap().to_owned());
    }
    let failed = ids.pop().unwrap();
    let succeeded = ids.pop().unwrap();
    (stand_in, succeeded, failed)
}

#[tokio::test]
async fn signed_events_are_verified_and_read() {
    let (stand_in, succeeded, failed) = stand_in_with_charges().await;

    let payload = stand_in
        .event_payload("payment_intent.succeeded", &succeeded)
        .unwrap();
    let event = verify_event(
        payload.as_bytes(),
        &signature_header(&payload, SECRET, T),
        SECRET,
        at(T + 10),
    )
    .unwrap();
    assert!(event.id.starts_with("evt_"));
    assert_eq!(
        event.kind,
        StripeEventKind::PaymentSucceeded {
            payment_intent_id: succeeded,
            idempotency_key: Some("pay_ok".into()),
            amount_micros: 25_000_000,
        }
    );

    let payload = stand_in
        .event_payload("payment_intent.payment_failed", &failed)
        .unwrap();
    let event = verify_event(
        payload.as_bytes(),
        &signature_header(&payload, SECRET, T),
        SECRET,
        at(T),
    )
    .unwrap();
    assert_eq!(
        event.kind,
        StripeEventKind::PaymentFailed {
            payment_intent_id: failed.clone(),
            idempotency_key: Some("pay_no".into()),
            code: DeclineCode::InsufficientFunds,
            message: "Your card has insufficient funds.".into(),
        }
    );

    let payload = stand_in.event_payload("customer.updated", &failed).unwrap();
    let event = verify_event(
        payload.as_bytes(),
        &signature_header(&payload, SECRET, T),
        SECRET,
        at(T),
    )
    .unwrap();
    assert_eq!(
        event.kind,
        StripeEventKind::Other {
            event_type: "customer.updated".into()
        }
    );
}

#[tokio::test]
async fn tampered_foreign_stale_and_malformed_signatures_are_refused() {
    let (stand_in, succeeded, _) = stand_in_with_charges().await;
    let payload = stand_in
        .event_payload("payment_intent.succeeded", &succeeded)
        .unwrap();
    let good = signature_header(&payload, SECRET, T);
    assert!(verify_event(payload.as_bytes(), &good, SECRET, at(T)).is_ok());

    // One byte changed: the amount.
    let tampered = payload.replace("\"amount\":2500", "\"amount\":250000");
    assert_ne!(tampered, payload);
    assert_eq!(
        verify_event(tampered.as_bytes(), &good, SECRET, at(T)),
        Err(WebhookError::BadSignature)
    );
    // Signed with another endpoint's secret.
    let foreign = signature_header(&payload, "whsec_someone_else", T);
    assert_eq!(
        verify_event(payload.as_bytes(), &foreign, SECRET, at(T)),
        Err(WebhookError::BadSignature)
    );
    // The timestamp is part of what is signed.
    let moved = good.replacen(&format!("t={T}"), &format!("t={}", T + 1), 1);
    assert_eq!(
        verify_event(payload.as_bytes(), &moved, SECRET, at(T)),
        Err(WebhookError::BadSignature)
    );

    // Five minutes either way, no more.
    assert!(verify_event(payload.as_bytes(), &good, SECRET, at(T + 300)).is_ok());
    assert!(verify_event(payload.as_bytes(), &good, SECRET, at(T - 300)).is_ok());
    assert_eq!(
        verify_event(payload.as_bytes(), &good, SECRET, at(T + 301)),
        Err(WebhookError::Stale { age_secs: 301 })
    );
    assert!(matches!(
        verify_event(payload.as_bytes(), &good, SECRET, at(T - 3600)),
        Err(WebhookError::Stale { .. })
    ));

    // While a secret is rolled, Stripe sends one v1 per secret.
    let old = signature_header(&payload, "whsec_old", T);
    let both = format!("{old},{}", good.split(',').nth(1).unwrap());
    assert!(verify_event(payload.as_bytes(), &both, SECRET, at(T)).is_ok());
    let with_v0 = format!("{good},v0=abc");
    assert!(verify_event(payload.as_bytes(), &with_v0, SECRET, at(T)).is_ok());

    for header in [
        "",
        "garbage",
        "t=abc,v1=00",
        "v1=00ff",
        "t=1780000000;v1=00",
    ] {
        assert_eq!(
            verify_event(payload.as_bytes(), header, SECRET, at(T)),
            Err(WebhookError::MalformedHeader),
            "{header:?}"
        );
    }
    for header in [
        format!("t={T}"),
        format!("t={T},v1=nothex"),
        format!("t={T},v1="),
    ] {
        assert_eq!(
            verify_event(payload.as_bytes(), &header, SECRET, at(T)),
            Err(WebhookError::BadSignature),
            "{header:?}"
        );
    }

    // A correctly signed body that is not an event.
    let junk = "{\"hello\":1}";
    assert!(matches!(
        verify_event(
            junk.as_bytes(),
            &signature_header(junk, SECRET, T),
            SECRET,
            at(T)
        ),
        Err(WebhookError::BadPayload(_))
    ));
}

/// Records events; fails when told to.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<StripeEvent>>,
    fail: Mutex<bool>,
}

impl StripeEventHandler for Recorder {
    async fn handle(&self, event: StripeEvent) -> anyhow::Result<()> {
        if *self.fail.lock().unwrap() {
            anyhow::bail!("the ledger is on fire");
        }
        self.events.lock().unwrap().push(event);
        Ok(())
    }
}

async fn serve_webhooks(clock: Arc<dyn Clock>, recorder: Arc<Recorder>) -> String {
    let router: axum::Router = stripe_webhook_routes(SECRET, clock, recorder);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}{STRIPE_WEBHOOK_PATH}")
}

#[tokio::test]
async fn the_webhook_route_hands_verified_events_to_its_handler() {
    let (stand_in, succeeded, _) = stand_in_with_charges().await;
    let recorder = Arc::new(Recorder::default());
    let url = serve_webhooks(Arc::new(SystemClock), recorder.clone()).await;

    let response = stand_in
        .send_webhook(&url, SECRET, "payment_intent.succeeded", &succeeded)
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["received"], true);
    {
        let events = recorder.events.lock().unwrap();
        assert_eq!(events.len(), 1);
        assert!(matches!(
            &events[0].kind,
            StripeEventKind::PaymentSucceeded { payment_intent_id, .. } if *payment_intent_id == succeeded
        ));
    }

    let wrong = stand_in
        .send_webhook(&url, "whsec_wrong", "payment_intent.succeeded", &succeeded)
        .await;
    assert_eq!(wrong.status(), 400);
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_signature");
    let unsigned = reqwest::Client::new()
        .post(&url)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 400);
    let payload = stand_in
        .event_payload("payment_intent.succeeded", &succeeded)
        .unwrap();
    let now = SystemClock.now_ms() / 1000;
    let tampered = payload.replace("pay_ok", "pay_XX");
    let response = post_signed(&url, &tampered, &signature_header(&payload, SECRET, now)).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        recorder.events.lock().unwrap().len(),
        1,
        "nothing unverified got through"
    );

    // The handler failed: 500, so that Stripe delivers the event again.
    *recorder.fail.lock().unwrap() = true;
    let response = stand_in
        .send_webhook(&url, SECRET, "payment_intent.succeeded", &succeeded)
        .await;
    assert_eq!(response.status(), 500);
}

#[tokio::test]
async fn the_webhook_route_judges_age_by_the_servers_clock() {
    let (stand_in, succeeded, _) = stand_in_with_charges().await;
    let clock = Arc::new(ManualClock::starting_now());
    let recorder = Arc::new(Recorder::default());
    let url = serve_webhooks(clock.clone(), recorder.clone()).await;
    clock.advance_ms(10 * 60 * 1000);
    let response = stand_in
        .send_webhook(&url, SECRET, "payment_intent.succeeded", &succeeded)
        .await;
    assert_eq!(response.status(), 400);
    assert!(recorder.events.lock().unwrap().is_empty());
}
