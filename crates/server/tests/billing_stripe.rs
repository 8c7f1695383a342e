#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Billing on the stripe provider, end to end against the Stripe stand-in, on both engines:
//! a card saved through a SetupIntent, a purchase charged once however often it is replayed,
//! a decline, a crash reconciled, and a payment settled by a webhook.

use serde_json::{json, Value};
use tollgate_domain::payment::PaymentStatus;
use tollgate_domain::PaymentId;
use tollgate_server::payments::stand_in::{StripeStandIn, STAND_IN_WEBHOOK_SECRET};
use tollgate_server::payments::PaymentsConfig;
use tollgate_server::testing::{send, TestApp, TestUser};
use tollgate_store::{on_both_engines, Engine};

fn billing(org: &str, rest: &str) -> String {
    format!("/api/v1/orgs/{org}/billing{rest}")
}

/// Saves a card the way the console does with Stripe.js: a SetupIntent, confirmed in the
/// "browser" with a test payment method, then its PaymentMethod id sent to Tollgate.
async fn save_card(t: &TestApp, stand_in: &StripeStandIn, user: &TestUser, magic: &str) -> Value {
    let (s, intent) = send(
        user.client
            .post(t.url(&billing(&user.org_id, "/setup-intent"))),
    )
    .await;
    assert_eq!(s, 200, "{intent}");
    assert!(intent["client_secret"]
        .as_str()
        .unwrap()
        .contains("_secret_"));
    let pm = stand_in
        .confirm_setup_intent(intent["id"].as_str().unwrap(), magic)
        .unwrap();
    let (s, b) = send(
        user.client
            .put(t.url(&billing(&user.org_id, "/payment-method")))
            .json(&json!({ "payment_method_id": pm })),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b
}

async fn buy(t: &TestApp, user: &TestUser, key: &str, amount: &str) -> (u16, Value) {
    send(
        user.client
            .post(t.url(&billing(&user.org_id, "/credits")))
            .header("Idempotency-Key", key)
            .json(&json!({ "amount": amount })),
    )
    .await
}

async fn balance(t: &TestApp, user: &TestUser) -> String {
    let (_, b) = send(user.client.get(t.url(&billing(&user.org_id, "")))).await;
    b["balance"].as_str().unwrap().to_owned()
}

async fn the_stripe_provider_end_to_end(engine: Engine) {
    let stand_in = StripeStandIn::start().await;
    let config = stand_in.config();
    let t = TestApp::spawn_with(engine, |c| c.payments = PaymentsConfig::Stripe(config)).await;
    let ada = t.sign_up("ada@example.com").await;

    let b = save_card(&t, &stand_in, &ada, "pm_card_visa").await;
    assert_eq!(b["payment_method"]["last4"], "4242");
    assert_eq!(b["payment_method"]["brand"], "visa");
    // Typed card numbers are not for the stripe provider.
    let (s, _) = send(
        ada.client
            .put(t.url(&billing(&ada.org_id, "/payment-method")))
            .json(&json!({"card_number": "4242424242424242", "exp_month": 1, "exp_year": 2034, "cvc": "123"})),
    )
    .await;
    assert!((400..500).contains(&s), "{s}");

    // Buy, replay: charged once at Stripe.
    let (s1, p1) = buy(&t, &ada, "order-1", "25.00").await;
    let (s2, p2) = buy(&t, &ada, "order-1", "25.00").await;
    assert_eq!((s1, s2), (201, 201), "{p1} {p2}");
    assert_eq!(p1["id"], p2["id"]);
    assert_eq!(stand_in.succeeded_charges(), 1);
    let created = stand_in.requests_to("POST", "/v1/payment_intents");
    assert_eq!(created[0].param("amount"), Some("2500"));
    assert_eq!(
        stand_in.payment_intents_created(),
        1,
        "the replay created no PaymentIntent"
    );
    assert_eq!(balance(&t, &ada).await, "25.00");

    // A crash after Stripe charged: the reconciler finds the PaymentIntent by its key.
    t.app.charge_faults.crash_after_charge(1);
    let (s, _) = buy(&t, &ada, "order-2", "10.00").await;
    assert_eq!(s, 500);
    assert_eq!(stand_in.succeeded_charges(), 2);
    t.clock.advance_ms(300_000);
    assert_eq!(t.app.reconcile_payments().await.unwrap(), 1);
    assert_eq!(balance(&t, &ada).await, "35.00");
    assert_eq!(
        stand_in.succeeded_charges(),
        2,
        "reconciling charged nothing more"
    );

    // Declined: 402, no balance change.
    save_card(
        &t,
        &stand_in,
        &ada,
        "pm_card_chargeDeclinedInsufficientFunds",
    )
    .await;
    let (s, e) = buy(&t, &ada, "order-3", "25.00").await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (402, Some("insufficient_funds")),
        "{e}"
    );
    save_card(&t, &stand_in, &ada, "pm_card_chargeDeclined").await;
    let (s, e) = buy(&t, &ada, "order-4", "25.00").await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (402, Some("card_declined")),
        "{e}"
    );
    assert_eq!(balance(&t, &ada).await, "35.00");

    // Processing, then settled by Stripe's webhook — once, however often it is delivered.
    save_card(&t, &stand_in, &ada, "pm_standin_processing").await;
    let (s, p) = buy(&t, &ada, "order-5", "10.00").await;
    assert_eq!((s, p["status"].as_str()), (202, Some("pending")), "{p}");
    assert_eq!(balance(&t, &ada).await, "35.00");
    let payment = t
        .app
        .store
        .payment_by_id(&PaymentId::parse(p["id"].as_str().unwrap()).unwrap())
        .await
        .unwrap()
        .unwrap();
    let pi = payment.provider_payment_id.clone().unwrap();
    assert!(stand_in.set_payment_intent_status(&pi, "succeeded"));
    let hook = t.url("/api/v1/webhooks/stripe");
    for _ in 0..2 {
        let r = stand_in
            .send_webhook(
                &hook,
                STAND_IN_WEBHOOK_SECRET,
                "payment_intent.succeeded",
                &pi,
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(balance(&t, &ada).await, "45.00");
    // A forged event is refused and changes nothing.
    let r = stand_in
        .send_webhook(&hook, "whsec_forged", "payment_intent.succeeded", &pi)
        .await;
    assert_eq!(r.status(), 400);
    let store = &t.app.store;
    assert_eq!(
        store
            .count_payments(&ada.org_id, PaymentStatus::Succeeded)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .count_payments(&ada.org_id, PaymentStatus::Failed)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .count_payments(&ada.org_id, PaymentStatus::Pending)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.ledger_total(&ada.org_id).await.unwrap().micros(),
        45_000_000
    );
}

async fn a_failed_payment_webhook_fails_a_pending_payment(engine: Engine) {
    let stand_in = StripeStandIn::start().await;
    let config = stand_in.config();
    let t = TestApp::spawn_with(engine, |c| c.payments = PaymentsConfig::Stripe(config)).await;
    let ada = t.sign_up("ada@example.com").await;
    save_card(&t, &stand_in, &ada, "pm_standin_processing").await;
    let (s, p) = buy(&t, &ada, "order-1", "10.00").await;
    assert_eq!(s, 202, "{p}");
    let payment = t
        .app
        .store
        .payment_by_id(&PaymentId::parse(p["id"].as_str().unwrap()).unwrap())
        .await
        .unwrap()
        .unwrap();
    let pi = payment.provider_payment_id.unwrap();
    assert!(stand_in.set_payment_intent_status(&pi, "requires_payment_method"));
    let r = stand_in
        .send_webhook(
            &t.url("/api/v1/webhooks/stripe"),
            STAND_IN_WEBHOOK_SECRET,
            "payment_intent.payment_failed",
            &pi,
        )
        .await;
    assert_eq!(r.status(), 200);
    let (_, list) = send(ada.client.get(t.url(&billing(&ada.org_id, "/payments")))).await;
    assert_eq!(list["data"][0]["status"], "failed", "{list}");
    assert_eq!(balance(&t, &ada).await, "0.00");
}

on_both_engines!(
    the_stripe_provider_end_to_end,
    a_failed_payment_webhook_fails_a_pending_payment,
);
