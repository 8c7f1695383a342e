#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Billing through the JSON API on the sandbox provider, on both engines: buying credits, the
//! charge flow's guarantees (replays, declines, a crash between charge and commit), bad input
//! and permissions.

use serde_json::{json, Value};
use tollgate_domain::payment::PaymentStatus;
use tollgate_domain::ProjectRole;
use tollgate_server::testing::{send, TestApp, TestUser};
use tollgate_store::{on_both_engines, Engine};

fn billing(org: &str, rest: &str) -> String {
    format!("/api/v1/orgs/{org}/billing{rest}")
}

async fn save_card(t: &TestApp, user: &TestUser, number: &str) -> (u16, Value) {
    send(
        user.client
            .put(t.url(&billing(&user.org_id, "/payment-method")))
            .json(&json!({"card_number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"})),
    )
    .await
}

async fn buy(t: &TestApp, user: &TestUser, key: &str, amount: Value) -> (u16, Value) {
    send(
        user.client
            .post(t.url(&billing(&user.org_id, "/credits")))
            .header("Idempotency-Key", key)
            .json(&json!({ "amount": amount })),
    )
    .await
}

async fn overview(t: &TestApp, user: &TestUser) -> Value {
    let (s, b) = send(user.client.get(t.url(&billing(&user.org_id, "")))).await;
    assert_eq!(s, 200, "{b}");
    b
}

async fn grants(t: &TestApp, user: &TestUser) -> Vec<Value> {
    let (s, g) = send(
        user.client
            .get(t.url(&billing(&user.org_id, "/credit-grants"))),
    )
    .await;
    assert_eq!(s, 200, "{g}");
    g["data"].as_array().unwrap().clone()
}

async fn payment_rows(t: &TestApp, org: &tollgate_domain::OrgId) -> (i64, i64, i64) {
    let s = &t.app.store;
    (
        s.count_payments(org, PaymentStatus::Pending).await.unwrap(),
        s.count_payments(org, PaymentStatus::Succeeded)
            .await
            .unwrap(),
        s.count_payments(org, PaymentStatus::Failed).await.unwrap(),
    )
}

async fn bought_credits_are_spendable_at_once(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let (s, b) = save_card(&t, &ada, "4242 4242 4242 4242").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["payment_method"]["last4"], "4242");
    assert_eq!(b["payment_method"]["label"], "Visa ending in 4242");

    let (s, p) = buy(&t, &ada, "first-purchase", json!("25")).await;
    assert_eq!(s, 201, "{p}");
    assert_eq!(p["status"], "succeeded");
    assert_eq!(p["amount"], "25.00");
    assert!(p["id"].as_str().unwrap().starts_with("pay_"));

    let b = overview(&t, &ada).await;
    assert_eq!(
        (b["balance"].as_str(), b["available"].as_str()),
        (Some("25.00"), Some("25.00"))
    );
    // Spendable now: a hold for all of it is admitted.
    assert!(t
        .app
        .store
        .place_hold(
            &ada.org_id,
            tollgate_domain::Money::from_micros(25_000_000),
            60_000,
            t.app.now()
        )
        .await
        .is_ok());

    let g = grants(&t, &ada).await;
    assert_eq!(g.len(), 1);
    assert_eq!(
        (
            g[0]["source"].as_str(),
            g[0]["category"].as_str(),
            g[0]["amount"].as_str()
        ),
        (Some("purchase"), Some("paid"), Some("25.00"))
    );
    assert!(
        g[0]["expires_at"].is_string(),
        "purchases expire after a year"
    );
    assert_eq!(p["grant_id"], g[0]["id"]);

    let (s, list) = send(ada.client.get(t.url(&billing(&ada.org_id, "/payments")))).await;
    assert_eq!(s, 200);
    assert_eq!(list["data"][0]["id"], p["id"]);
    let (s, one) = send(ada.client.get(t.url(&billing(
        &ada.org_id,
        &format!("/payments/{}", p["id"].as_str().unwrap()),
    ))))
    .await;
    assert_eq!((s, one["status"].as_str()), (200, Some("succeeded")));

    // A receipt goes to the org admins.
    t.deliver_emails().await;
    let sent = t.sent_emails();
    assert!(
        sent.iter()
            .any(|m| m.kind == "receipt" && m.to == "ada@example.com"),
        "{sent:?}"
    );
    // The ledger agrees with the account row.
    assert_eq!(
        t.app
            .store
            .ledger_total(&ada.org_id)
            .await
            .unwrap()
            .micros(),
        25_000_000
    );
}

async fn a_replayed_purchase_charges_once(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    save_card(&t, &ada, "4242424242424242").await;
    let (s1, p1) = buy(&t, &ada, "k-1", json!("25.00")).await;
    let (s2, p2) = buy(&t, &ada, "k-1", json!("25.00")).await;
    assert_eq!((s1, s2), (201, 201), "{p1} {p2}");
    assert_eq!(p1["id"], p2["id"]);
    assert_eq!(payment_rows(&t, &ada.org_id).await, (0, 1, 0));
    assert_eq!(overview(&t, &ada).await["balance"], "25.00");
    assert_eq!(grants(&t, &ada).await.len(), 1);

    // The same key with another body is refused and changes nothing.
    let (s, e) = buy(&t, &ada, "k-1", json!("30.00")).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("idempotency_key_reused"))
    );
    assert_eq!(payment_rows(&t, &ada.org_id).await, (0, 1, 0));

    // Concurrent replays of one new key: one payment, one grant.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = ada.client.clone();
        let url = t.url(&billing(&ada.org_id, "/credits"));
        tasks.push(tokio::spawn(async move {
            send(
                client
                    .post(url)
                    .header("Idempotency-Key", "k-2")
                    .json(&json!({"amount": "10"})),
            )
            .await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let (s, p) = task.await.unwrap();
        assert_eq!(s, 201, "{p}");
        ids.insert(p["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(payment_rows(&t, &ada.org_id).await, (0, 2, 0));
    assert_eq!(overview(&t, &ada).await["balance"], "35.00");
    assert_eq!(grants(&t, &ada).await.len(), 2);

    // The audit log has one purchase per payment, however often it was submitted (issue 14).
    let purchases = purchases_logged(&t, &ada.org_id).await;
    assert_eq!(purchases.len(), 2, "{purchases:?}");
    let logged: std::collections::BTreeSet<_> = purchases.iter().cloned().collect();
    assert!(logged.contains(p1["id"].as_str().unwrap()) && logged.len() == 2);
}

/// The payment ids of the organization's `billing.credits.purchase` audit entries.
async fn purchases_logged(t: &TestApp, org: &tollgate_domain::OrgId) -> Vec<String> {
    t.app
        .store
        .audit_log(org, tollgate_store::PageRequest::first(100))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "billing.credits.purchase")
        .map(|e| e.target_id)
        .collect()
}

async fn a_refused_card_answers_402_and_changes_no_balance(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    for (card, code) in [
        ("4000000000000002", "card_declined"),
        ("4000000000009995", "insufficient_funds"),
    ] {
        let (s, b) = save_card(&t, &ada, card).await;
        assert_eq!(s, 200, "{b}");
        let (s, e) = buy(&t, &ada, &format!("k-{card}"), json!("25")).await;
        assert_eq!((s, e["error"]["code"].as_str()), (402, Some(code)), "{e}");
        assert!(!e["error"]["message"].as_str().unwrap().is_empty());
        // A replay answers the same refusal, without a second charge or audit entry.
        let (s, again) = buy(&t, &ada, &format!("k-{card}"), json!("25")).await;
        assert_eq!((s, again["error"]["code"].as_str()), (402, Some(code)));
    }
    let logged = purchases_logged(&t, &ada.org_id).await;
    assert_eq!(
        logged.len(),
        2,
        "one entry per declined payment: {logged:?}"
    );
    assert!(logged.iter().all(|id| id.starts_with("pay_")), "{logged:?}");
    let b = overview(&t, &ada).await;
    assert_eq!(
        (b["balance"].as_str(), b["available"].as_str()),
        (Some("0.00"), Some("0.00"))
    );
    assert!(grants(&t, &ada).await.is_empty());
    assert_eq!(payment_rows(&t, &ada.org_id).await, (0, 0, 2));
    let (_, list) = send(ada.client.get(t.url(&billing(&ada.org_id, "/payments")))).await;
    let mut codes: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["status"], "failed");
            p["failure_code"].as_str().unwrap()
        })
        .collect();
    codes.sort_unstable();
    assert_eq!(codes, ["card_declined", "insufficient_funds"]);
}

async fn a_purchase_needs_a_payment_method(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let (s, e) = buy(&t, &ada, "k", json!("25")).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("no_payment_method"))
    );
    assert!(e["error"]["message"].as_str().unwrap().contains("Payment"));
    let (s, e) = send(
        ada.client
            .put(t.url(&billing(&ada.org_id, "/auto-recharge")))
            .json(&json!({"enabled": true, "threshold": "10", "recharge_to": "50"})),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("no_payment_method"))
    );
    assert_eq!(payment_rows(&t, &ada.org_id).await, (0, 0, 0));
}

async fn bad_input_answers_4xx_and_changes_nothing(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;

    // Cards: bad numbers and expiry dates are refused before anything is saved.
    for (body, field) in [
        (
            json!({"card_number": "4242424242424241", "exp_month": 12, "exp_year": 2034, "cvc": "123"}),
            "card_number",
        ),
        (
            json!({"card_number": "4242abcd42424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}),
            "card_number",
        ),
        (
            json!({"card_number": "4242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}),
            "card_number",
        ),
        (
            json!({"card_number": "4242424242424242", "exp_month": 13, "exp_year": 2034, "cvc": "123"}),
            "exp_month",
        ),
        (
            json!({"card_number": "4242424242424242", "exp_month": 0, "exp_year": 2034, "cvc": "123"}),
            "exp_month",
        ),
        (
            json!({"card_number": "4242424242424242", "exp_month": 1, "exp_year": 2001, "cvc": "123"}),
            "exp_year",
        ),
        (
            json!({"card_number": "4242424242424242", "exp_month": 1, "exp_year": 30, "cvc": "123"}),
            "exp_year",
        ),
        (
            json!({"card_number": "4242424242424242", "exp_month": 1, "exp_year": 2034, "cvc": "1"}),
            "cvc",
        ),
    ] {
        let (s, e) = send(
            ada.client
                .put(t.url(&billing(&ada.org_id, "/payment-method")))
                .json(&body),
        )
        .await;
        assert_eq!(s, 422, "{body} → {e}");
        assert_eq!(e["error"]["code"], "validation_failed");
        assert!(e["error"]["message"].as_str().unwrap().len() > 5);
        assert!(
            !e.to_string().contains("4242424242424242"),
            "the number is never echoed"
        );
        let _ = field;
    }
    for body in [
        json!({"card_number": "4242424242424242", "exp_month": "12", "exp_year": 2034, "cvc": "123"}),
        json!({"card_number": "4242424242424242"}),
        json!({}),
        json!({"payment_method_id": "pm_x", "card_number": "4242424242424242", "exp_month": 1, "exp_year": 2034, "cvc": "123"}),
    ] {
        let (s, _) = send(
            ada.client
                .put(t.url(&billing(&ada.org_id, "/payment-method")))
                .json(&body),
        )
        .await;
        assert_eq!(s, 422, "{body}");
    }
    assert!(overview(&t, &ada).await["payment_method"].is_null());

    save_card(&t, &ada, "4242424242424242").await;
    // Amounts: negative, zero, fractional cent, below the minimum, above the maximum, huge,
    // non-numeric, not a string.
    for amount in [
        json!("-25"),
        json!("0"),
        json!("0.00"),
        json!("25.001"),
        json!("9.99"),
        json!("10000.01"),
        json!("99999999999999999999999"),
        json!("abc"),
        json!("1e3"),
        json!(""),
        json!(25),
        json!(null),
    ] {
        let (s, e) = buy(&t, &ada, &format!("k-{amount}"), amount.clone()).await;
        assert_eq!(s, 422, "{amount} → {e}");
    }
    // The Idempotency-Key is required and checked.
    let (s, e) = send(
        ada.client
            .post(t.url(&billing(&ada.org_id, "/credits")))
            .json(&json!({"amount": "25"})),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("missing_idempotency_key"))
    );
    let (s, _) = buy(&t, &ada, &"k".repeat(201), json!("25")).await;
    assert_eq!(s, 400);

    // Auto-recharge: threshold ≥ recharge-to, negatives, fractional cents, non-numbers.
    for (threshold, recharge_to) in [
        ("50", "50"),
        ("60", "50"),
        ("-1", "50"),
        ("10", "50.001"),
        ("ten", "50"),
        ("10", "20000"),
    ] {
        let (s, e) = send(
            ada.client
                .put(t.url(&billing(&ada.org_id, "/auto-recharge")))
                .json(
                    &json!({"enabled": true, "threshold": threshold, "recharge_to": recharge_to}),
                ),
        )
        .await;
        assert_eq!(s, 422, "{threshold}/{recharge_to} → {e}");
    }
    // Address: unknown country, missing fields.
    for body in [
        json!({"name": "Ada", "line1": "1 Road", "city": "Berlin", "country": "XX"}),
        json!({"name": "", "line1": "1 Road", "city": "Berlin", "country": "DE"}),
        json!({"name": "Ada", "line1": "1 Road", "country": "DE"}),
    ] {
        let (s, _) = send(
            ada.client
                .put(t.url(&billing(&ada.org_id, "/address")))
                .json(&body),
        )
        .await;
        assert_eq!(s, 422, "{body}");
    }

    let b = overview(&t, &ada).await;
    assert_eq!(b["balance"], "0.00");
    assert_eq!(b["auto_recharge"]["enabled"], false);
    assert!(b["address"].is_null());
    assert_eq!(payment_rows(&t, &ada.org_id).await, (0, 0, 0));

    // And the good ones work.
    let (s, b) = send(
        ada.client
            .put(t.url(&billing(&ada.org_id, "/address")))
            .json(&json!({"name": "Ada Lovelace", "line1": "1 Road", "city": "Berlin", "postal_code": "10115", "country": "de"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["address"]["country"], "DE");
}

async fn only_org_admins_reach_billing(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    let project = t.default_project(&ada.org_id).await;
    t.add_member(
        &ada.org_id,
        &bob.id,
        &[(&project, ProjectRole::ProjectAdmin)],
    )
    .await;
    save_card(&t, &ada, "4242424242424242").await;
    let org = &ada.org_id;
    let requests = |c: &reqwest::Client| {
        vec![
            c.get(t.url(&billing(org, ""))),
            c.get(t.url(&billing(org, "/credit-grants"))),
            c.get(t.url(&billing(org, "/payments"))),
            c.post(t.url(&billing(org, "/credits")))
                .header("Idempotency-Key", "x")
                .json(&json!({"amount": "25"})),
            c.post(t.url(&billing(org, "/credits")))
                .json(&json!({"amount": "25"})),
            c.put(t.url(&billing(org, "/auto-recharge")))
                .json(&json!({"enabled": false, "threshold": "1", "recharge_to": "2"})),
            c.put(t.url(&billing(org, "/payment-method")))
                .json(&json!({"card_number": "4000000000000002", "exp_month": 1, "exp_year": 2034, "cvc": "123"})),
            c.put(t.url(&billing(org, "/address")))
                .json(&json!({"name": "B", "line1": "1", "city": "C", "country": "DE"})),
            c.post(t.url(&billing(org, "/setup-intent"))),
        ]
    };
    for r in requests(&bob.client) {
        let (s, e) = send(r).await;
        assert_eq!(s, 403, "{e}");
        assert_eq!(e["error"]["code"], "forbidden");
    }
    // Another organization's billing does not exist for an outsider.
    let eve = t.sign_up("eve@example.com").await;
    for r in requests(&eve.client) {
        let (s, _) = send(r).await;
        assert_eq!(s, 404);
    }
    let (s, _) = send(ada.client.get(t.url(&billing("org_nonsense", "")))).await;
    assert_eq!(s, 404);
    let (s, _) = send(
        ada.client
            .get(t.url(&billing(org, "/payments/pay_nonsense"))),
    )
    .await;
    assert_eq!(s, 404);
    // Nothing changed.
    let b = overview(&t, &ada).await;
    assert_eq!(b["payment_method"]["last4"], "4242");
    assert_eq!(b["balance"], "0.00");
    assert_eq!(payment_rows(&t, org).await, (0, 0, 0));
}

async fn a_crash_between_charge_and_commit_ends_in_one_grant(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    save_card(&t, &ada, "4242424242424242").await;
    t.app.charge_faults.crash_after_charge(1);
    let (s, _) = buy(&t, &ada, "crashy", json!("25")).await;
    assert_eq!(s, 500, "the injected crash");
    // Charged at the provider, nothing written but the pending payment.
    assert_eq!(payment_rows(&t, &ada.org_id).await, (1, 0, 0));
    assert_eq!(overview(&t, &ada).await["balance"], "0.00");

    // Too early for the reconciler: it leaves live payments alone.
    assert_eq!(t.app.reconcile_payments().await.unwrap(), 0);
    t.clock.advance_ms(300_000);
    assert_eq!(t.app.reconcile_payments().await.unwrap(), 1);
    assert_eq!(t.app.reconcile_payments().await.unwrap(), 0);
    assert_eq!(payment_rows(&t, &ada.org_id).await, (0, 1, 0));
    assert_eq!(overview(&t, &ada).await["balance"], "25.00");
    assert_eq!(grants(&t, &ada).await.len(), 1);

    // The client's retry gets the settled payment, not a second charge.
    let (s, p) = buy(&t, &ada, "crashy", json!("25")).await;
    assert_eq!((s, p["status"].as_str()), (201, Some("succeeded")));
    assert_eq!(grants(&t, &ada).await.len(), 1);
    assert_eq!(overview(&t, &ada).await["balance"], "25.00");

    // A retry that comes before the reconciler settles it itself, once.
    t.app.charge_faults.crash_after_charge(1);
    let (s, _) = buy(&t, &ada, "crashy-2", json!("10")).await;
    assert_eq!(s, 500);
    let (s, _) = buy(&t, &ada, "crashy-2", json!("10")).await;
    assert_eq!(s, 201);
    t.clock.advance_ms(300_000);
    assert_eq!(t.app.reconcile_payments().await.unwrap(), 0);
    assert_eq!(grants(&t, &ada).await.len(), 2);
    assert_eq!(overview(&t, &ada).await["balance"], "35.00");
    assert_eq!(
        t.app
            .store
            .ledger_total(&ada.org_id)
            .await
            .unwrap()
            .micros(),
        35_000_000
    );
}

async fn the_openapi_document_lists_billing(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let (s, doc) = send(t.client().get(t.url("/api/v1/openapi.json"))).await;
    assert_eq!(s, 200);
    for path in [
        "/api/v1/orgs/{org}/billing",
        "/api/v1/orgs/{org}/billing/credit-grants",
        "/api/v1/orgs/{org}/billing/credits",
        "/api/v1/orgs/{org}/billing/auto-recharge",
        "/api/v1/orgs/{org}/billing/payment-method",
        "/api/v1/orgs/{org}/billing/address",
        "/api/v1/orgs/{org}/billing/payments",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
}

/// Issue 14, bug 10: a receipt keeps the billing address and card of the moment it was paid
/// (a payment made before any address shows none, ever); a declined attempt is a failed
/// payment, not a receipt; dates read as people write them.
async fn a_receipt_keeps_the_address_and_card_of_its_payment(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let org = &ada.org_id;
    save_card(&t, &ada, "4242424242424242").await;
    let (s, before) = buy(&t, &ada, "r-1", json!("25")).await;
    assert_eq!(s, 201, "{before}");
    assert!(before["bill_to"].is_null(), "{before}");
    let address = json!({"name": "Analytical Engines Ltd", "line1": "12 St James's Square",
        "line2": "", "city": "London", "state": "", "postal_code": "SW1Y 4JH", "country": "GB"});
    let (s, r) = send(
        ada.client
            .put(t.url(&billing(org, "/address")))
            .json(&address),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (s, after) = buy(&t, &ada, "r-2", json!("30")).await;
    assert_eq!((s, &after["bill_to"]["city"]), (201, &json!("London")));
    // A new card and address later change neither receipt.
    save_card(&t, &ada, "5555555555554444").await;
    let moved = json!({"name": "Analytical Engines GmbH", "line1": "Unter den Linden 1",
        "line2": "", "city": "Berlin", "state": "", "postal_code": "10117", "country": "DE"});
    let (s, _) = send(
        ada.client
            .put(t.url(&billing(org, "/address")))
            .json(&moved),
    )
    .await;
    assert_eq!(s, 200);
    save_card(&t, &ada, "4000000000000002").await;
    let (s, declined) = buy(&t, &ada, "r-3", json!("40")).await;
    assert_eq!(s, 402, "{declined}");

    let receipt = |id: &str| t.url(&format!("/o/{org}/billing/receipts/{id}"));
    let html = |id: String| {
        let client = ada.client.clone();
        let url = receipt(&id);
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let first = html(before["id"].as_str().unwrap().to_owned()).await;
    assert!(
        first.contains("Receipt pay_"),
        "a paid purchase has a receipt"
    );
    assert!(first.contains("No billing address was on file at the time of payment."));
    assert!(!first.contains("London") && !first.contains("Berlin"));
    assert!(
        first.contains("Visa ending in 4242"),
        "the card it was paid with"
    );
    let second = html(after["id"].as_str().unwrap().to_owned()).await;
    assert!(second.contains("SW1Y 4JH London") && !second.contains("Berlin"));
    assert!(second.contains("Visa ending in 4242") && !second.contains("4444"));
    assert!(second.contains("id=\"print-receipt\""));
    let (_, api) = send(ada.client.get(t.url(&billing(
        org,
        &format!("/payments/{}", after["id"].as_str().unwrap()),
    ))))
    .await;
    assert_eq!(api["bill_to"]["postal_code"], "SW1Y 4JH");

    // The declined attempt: a failed payment, with its reason, and no receipt to print.
    let (_, payments) = send(ada.client.get(t.url(&billing(org, "/payments")))).await;
    let failed = payments["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["status"] == "failed")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed = html(failed).await;
    assert!(failed.contains("Failed payment pay_"), "not a receipt");
    assert!(!failed.contains("Receipt pay_") && !failed.contains("print-receipt"));
    assert!(failed.contains("Failed: Your card was declined"));
    // Dates as people write them (`Dec 3, 2026 14:05`), not RFC 3339.
    for page in [&first, &second, &failed] {
        assert!(
            !page.contains("T00:") && !page.contains(":00Z"),
            "ISO date on a receipt"
        );
    }
    let list = ada
        .client
        .get(t.url(&format!("/o/{org}/billing/receipts")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let year = tollgate_domain::clock::to_datetime(t.app.now())
        .format("%Y")
        .to_string();
    assert!(
        !list.contains(&format!(">{year}-")),
        "ISO dates in the list"
    );
}

on_both_engines!(
    a_receipt_keeps_the_address_and_card_of_its_payment,
    bought_credits_are_spendable_at_once,
    a_replayed_purchase_charges_once,
    a_refused_card_answers_402_and_changes_no_balance,
    a_purchase_needs_a_payment_method,
    bad_input_answers_4xx_and_changes_nothing,
    only_org_admins_reach_billing,
    a_crash_between_charge_and_commit_ends_in_one_grant,
    the_openapi_document_lists_billing,
);
