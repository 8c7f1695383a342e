#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Usage reported by inference servers (`POST /api/v1/usage`) and auto-recharge, on both
//! engines.

mod common;

use std::time::Duration;

use common::create_key;
use serde_json::{json, Value};
use tollgate_domain::payment::PaymentStatus;
use tollgate_domain::{new_id, IdPrefix, Money};
use tollgate_server::service::usage::new_operator_token;
use tollgate_server::testing::{send, TestApp, TestUser};
use tollgate_store::{on_both_engines, Engine};

fn billing(org: &str, rest: &str) -> String {
    format!("/api/v1/orgs/{org}/billing{rest}")
}

async fn operator_token(t: &TestApp) -> String {
    let (token, digest) = new_operator_token();
    t.app
        .store
        .create_operator_token(
            &new_id(IdPrefix::OperatorToken),
            "test",
            &digest,
            t.app.now(),
        )
        .await
        .unwrap();
    token
}

async fn report(t: &TestApp, token: &str, records: Value) -> (u16, Value) {
    send(
        reqwest::Client::new()
            .post(t.url("/api/v1/usage"))
            .bearer_auth(token)
            .json(&json!({ "records": records })),
    )
    .await
}

async fn save_card(t: &TestApp, user: &TestUser, number: &str) {
    let (s, b) = send(
        user.client
            .put(t.url(&billing(&user.org_id, "/payment-method")))
            .json(&json!({"card_number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
}

async fn auto_recharge(
    t: &TestApp,
    user: &TestUser,
    enabled: bool,
    threshold: &str,
    to: &str,
) -> (u16, Value) {
    send(
        user.client
            .put(t.url(&billing(&user.org_id, "/auto-recharge")))
            .json(&json!({"enabled": enabled, "threshold": threshold, "recharge_to": to})),
    )
    .await
}

async fn overview(t: &TestApp, user: &TestUser) -> Value {
    send(user.client.get(t.url(&billing(&user.org_id, ""))))
        .await
        .1
}

async fn grant_promo(t: &TestApp, org: &tollgate_domain::OrgId, micros: i64) {
    grant_expiring(t, org, micros, None).await;
}

async fn grant_expiring(
    t: &TestApp,
    org: &tollgate_domain::OrgId,
    micros: i64,
    expires_at: Option<i64>,
) {
    t.app
        .store
        .grant_credits(
            org,
            &tollgate_store::NewGrant {
                source: tollgate_domain::ledger::GrantSource::Promotion,
                amount: tollgate_domain::Money::from_micros(micros),
                expires_at,
                idempotency_key: &new_id(IdPrefix::Grant),
                reference: None,
                description: "test",
            },
            t.app.now(),
        )
        .await
        .unwrap();
}

/// Waits for the background recharges started by usage reports to finish; fails when they
/// do not within ten seconds.
async fn settle(t: &TestApp) {
    tokio::time::timeout(Duration::from_secs(10), t.app.background.idle())
        .await
        .expect("background recharges did not finish in 10 s");
}

/// Now in unix seconds: the test clock starts at the real time, and records must lie within a
/// window around it.
fn now_s() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

fn record(id: &str, key: &str, model: &str, input: i64, cached: i64, output: i64) -> Value {
    json!({"id": id, "key_id": key, "model": model, "input_tokens": input,
           "cached_input_tokens": cached, "output_tokens": output, "timestamp": now_s()})
}

async fn usage_is_priced_debited_once_and_rejected_per_record(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let project = t.default_project(&ada.org_id).await;
    let (key, _) = create_key(&t, &ada, &ada.org_id, &project).await;
    let token = operator_token(&t).await;
    let model = t.app.catalog.current().models()[0].clone();

    let records = json!([
        record("r1", &key, &model.id, 100_000, 0, 0),
        record("r2", &key, &model.id, 100_000, 50_000, 20_000),
        record("r3", "key_000000000000000000000000", &model.id, 1, 0, 0),
        record("r4", &key, "no-such-model", 1, 0, 0),
        record("r5", &key, &model.id, 1, 2, 0),
        record("r6", "garbage", &model.id, 1, 0, 0),
        {"id": "r7", "key_id": key, "model": model.id},
        record("r1", &key, &model.id, 100_000, 0, 0),
    ]);
    let (s, r) = report(&t, &token, records.clone()).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (r["accepted"].as_i64(), r["duplicates"].as_i64()),
        (Some(2), Some(1)),
        "{r}"
    );
    let rejected: Vec<&str> = r["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(rejected, ["r3", "r4", "r5", "r6", "r7"], "{r}");
    let p = &model.pricing;
    // Exact in pico-USD (tokens × µUSD per million), debited in whole micro-dollars.
    let picos = 100_000 * p.input.micros()
        + (50_000 * p.input.micros()
            + 50_000 * p.cached_input.micros()
            + 20_000 * p.output.micros());
    let expected = picos / 1_000_000;
    assert_eq!(
        t.app
            .store
            .credit_account(&ada.org_id)
            .await
            .unwrap()
            .balance
            .micros(),
        -expected,
        "usage may take the balance below zero"
    );
    // A replayed report changes nothing.
    let (s, r) = report(&t, &token, records).await;
    assert_eq!(
        (s, r["accepted"].as_i64(), r["duplicates"].as_i64()),
        (200, Some(0), Some(3))
    );
    assert_eq!(
        t.app
            .store
            .credit_account(&ada.org_id)
            .await
            .unwrap()
            .balance
            .micros(),
        -expected
    );
    assert_eq!(
        t.app
            .store
            .ledger_total(&ada.org_id)
            .await
            .unwrap()
            .micros(),
        -expected
    );

    // Without a valid operator token: 401.
    for bad in ["", "tgop_nope", &token[..token.len() - 1]] {
        let (s, _) = report(&t, bad, json!([])).await;
        assert_eq!(s, 401, "{bad}");
    }
    let (s, _) = send(
        reqwest::Client::new()
            .post(t.url("/api/v1/usage"))
            .json(&json!({"records": []})),
    )
    .await;
    assert_eq!(s, 401);
}

async fn enabling_auto_recharge_below_the_threshold_recharges(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    save_card(&t, &ada, "4242424242424242").await;
    grant_promo(&t, &ada.org_id, 3_000_000).await;
    let (s, b) = auto_recharge(&t, &ada, true, "10", "50").await;
    assert_eq!(s, 200, "{b}");
    let b = overview(&t, &ada).await;
    assert_eq!(b["balance"], "50.00", "{b}");
    assert_eq!(b["auto_recharge"]["enabled"], true);
    let (_, g) = send(
        ada.client
            .get(t.url(&billing(&ada.org_id, "/credit-grants"))),
    )
    .await;
    let recharge: Vec<&Value> = g["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["source"] == "auto_recharge")
        .collect();
    assert_eq!(recharge.len(), 1);
    assert_eq!(recharge[0]["amount"], "47.00");
    t.deliver_emails().await;
    assert!(t
        .sent_emails()
        .iter()
        .any(|m| m.kind == "recharge_succeeded" && m.to == "ada@example.com"));
    // Above the threshold now: the sweep does nothing.
    assert_eq!(t.app.auto_recharge_sweep().await.unwrap(), 0);
}

async fn concurrent_usage_crossing_the_threshold_recharges_once(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let project = t.default_project(&ada.org_id).await;
    let (key, _) = create_key(&t, &ada, &ada.org_id, &project).await;
    let token = operator_token(&t).await;
    save_card(&t, &ada, "4242424242424242").await;
    grant_promo(&t, &ada.org_id, 20_000_000).await;
    let (s, _) = auto_recharge(&t, &ada, true, "10", "50").await;
    assert_eq!(s, 200);
    assert_eq!(
        overview(&t, &ada).await["balance"],
        "20.00",
        "not below: no recharge yet"
    );
    let catalog = t.app.catalog.current();
    let model = catalog
        .models()
        .iter()
        .max_by_key(|m| m.pricing.output)
        .unwrap()
        .clone();
    // Enough records of 100,000 output tokens per report that 16 reports ($2 each) take the
    // balance well below $10.
    let per_record = 100_000 * model.pricing.output.micros() / 1_000_000;
    let records_per_report = 2_000_000 / per_record + 1;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let url = t.url("/api/v1/usage");
        let token = token.clone();
        let records: Vec<Value> = (0..records_per_report)
            .map(|j| record(&format!("c{i}-{j}"), &key, &model.id, 0, 0, 100_000))
            .collect();
        let body = json!({ "records": records });
        tasks.push(tokio::spawn(async move {
            send(
                reqwest::Client::new()
                    .post(url)
                    .bearer_auth(token)
                    .json(&body),
            )
            .await
        }));
    }
    for task in tasks {
        let (s, r) = task.await.unwrap();
        assert_eq!(
            (s, r["accepted"].as_i64()),
            (200, Some(records_per_report)),
            "{r}"
        );
    }
    settle(&t).await;
    exactly_one_recharge(&t, &ada).await;
}

/// After spending crossed the $10 threshold: the job's sweep racing too changes nothing more,
/// exactly one recharge succeeded and none is pending, the balance is topped up and matches
/// the ledger. Returns the recharge's amount in µUSD.
async fn exactly_one_recharge(t: &TestApp, ada: &TestUser) -> i64 {
    t.app.auto_recharge_sweep().await.unwrap();
    settle(t).await;
    let store = &t.app.store;
    let count = |status| async move { store.count_payments(&ada.org_id, status).await.unwrap() };
    assert_eq!(count(PaymentStatus::Succeeded).await, 1);
    assert_eq!(count(PaymentStatus::Pending).await, 0);
    let (_, g) = send(
        ada.client
            .get(t.url(&billing(&ada.org_id, "/credit-grants"))),
    )
    .await;
    let recharges: Vec<&Value> = g["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["source"] == "auto_recharge")
        .collect();
    assert_eq!(recharges.len(), 1, "{g}");
    let account = store.credit_account(&ada.org_id).await.unwrap();
    assert!(
        account.balance.micros() >= 10_000_000,
        "topped up: {account:?}"
    );
    assert_eq!(
        store.ledger_total(&ada.org_id).await.unwrap(),
        account.balance
    );
    tollgate_domain::Money::parse_usd("amount", recharges[0]["amount"].as_str().unwrap())
        .unwrap()
        .micros()
}

async fn declined_recharges_back_off_then_turn_auto_recharge_off(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    save_card(&t, &ada, "4000000000000002").await;
    let (s, b) = auto_recharge(&t, &ada, true, "10", "50").await;
    assert_eq!(s, 200, "{b}");
    let b = overview(&t, &ada).await;
    assert_eq!(
        (
            b["balance"].as_str(),
            b["auto_recharge"]["consecutive_failures"].as_i64()
        ),
        (Some("0.00"), Some(1))
    );
    // Backing off: nothing before the delay has passed.
    assert_eq!(t.app.auto_recharge_sweep().await.unwrap(), 0);
    let store = &t.app.store;
    assert_eq!(
        store
            .count_payments(&ada.org_id, PaymentStatus::Failed)
            .await
            .unwrap(),
        1
    );
    t.clock.advance_ms(3_600_000);
    t.app.auto_recharge_sweep().await.unwrap();
    assert_eq!(
        store
            .count_payments(&ada.org_id, PaymentStatus::Failed)
            .await
            .unwrap(),
        2
    );
    t.clock.advance_ms(3_600_000);
    t.app.auto_recharge_sweep().await.unwrap();
    assert_eq!(
        store
            .count_payments(&ada.org_id, PaymentStatus::Failed)
            .await
            .unwrap(),
        2,
        "the second back-off is twice as long"
    );
    t.clock.advance_ms(3_600_000);
    t.app.auto_recharge_sweep().await.unwrap();
    assert_eq!(
        store
            .count_payments(&ada.org_id, PaymentStatus::Failed)
            .await
            .unwrap(),
        3
    );
    let b = overview(&t, &ada).await;
    assert_eq!(
        b["auto_recharge"]["enabled"], false,
        "off after 3 failures: {b}"
    );
    assert_eq!(b["balance"], "0.00");
    t.clock.advance_ms(100 * 3_600_000);
    t.app.auto_recharge_sweep().await.unwrap();
    assert_eq!(
        store
            .count_payments(&ada.org_id, PaymentStatus::Failed)
            .await
            .unwrap(),
        3
    );

    t.deliver_emails().await;
    let failed: Vec<_> = t
        .sent_emails()
        .into_iter()
        .filter(|m| m.kind == "recharge_failed")
        .collect();
    assert_eq!(failed.len(), 3, "one per failure");
    assert!(
        failed
            .iter()
            .any(|m| m.text_body.to_lowercase().contains("turned off")
                || m.text_body.to_lowercase().contains("disabled")),
        "{:?}",
        failed.last().map(|m| &m.text_body)
    );

    // With a working card, turning it back on recharges.
    save_card(&t, &ada, "4242424242424242").await;
    let (s, _) = auto_recharge(&t, &ada, true, "10", "50").await;
    assert_eq!(s, 200);
    assert_eq!(overview(&t, &ada).await["balance"], "50.00");
}

/// Credit past its expiry is written off by the billing job even when nobody spends: the
/// balance shown drops, and auto-recharge fires on the expiry as it would on usage.
async fn the_billing_job_expires_credit_and_recharges(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    save_card(&t, &ada, "4242424242424242").await;
    let day = 86_400_000;
    grant_expiring(&t, &ada.org_id, 30_000_000, Some(t.app.now() + day)).await;
    let (s, b) = auto_recharge(&t, &ada, true, "10", "50").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(overview(&t, &ada).await["balance"], "30.00");

    t.clock.advance_ms(2 * day);
    tollgate_server::jobs::billing::run_once(&t.app)
        .await
        .unwrap();
    let b = overview(&t, &ada).await;
    assert_eq!(b["balance"], "50.00", "expired, then recharged: {b}");
    let (_, g) = send(
        ada.client
            .get(t.url(&billing(&ada.org_id, "/credit-grants"))),
    )
    .await;
    let recharged: Vec<&Value> = g["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["source"] == "auto_recharge")
        .collect();
    assert_eq!(recharged.len(), 1, "{g}");
    assert_eq!(recharged[0]["amount"], "50.00");
    let store = &t.app.store;
    let account = store.credit_account(&ada.org_id).await.unwrap();
    assert_eq!(
        store.ledger_total(&ada.org_id).await.unwrap(),
        account.balance
    );
    // A second pass finds nothing left to expire.
    assert_eq!(store.expire_grants(t.app.now()).await.unwrap(), 0);
}

/// A subscribed model's usage is recorded with plan `subscription` and costs nothing; another
/// model of the same organization stays pay-as-you-go and is debited.
async fn usage_of_a_subscribed_model_costs_nothing(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let project = t.default_project(&ada.org_id).await;
    let (key, _) = create_key(&t, &ada, &ada.org_id, &project).await;
    let token = operator_token(&t).await;
    grant_promo(&t, &ada.org_id, 100_000_000).await;
    save_card(&t, &ada, "4242424242424242").await;
    let subscribed = "llama-3.1-8b-instruct";
    let (s, sub) = send(
        ada.client
            .post(t.url(&format!("/api/v1/orgs/{}/subscriptions", ada.org_id)))
            .json(&json!({"model": subscribed, "tier": "starter"})),
    )
    .await;
    assert_eq!(s, 201, "{sub}");
    let other = t
        .app
        .catalog
        .current()
        .models()
        .iter()
        .find(|m| m.id != subscribed)
        .unwrap()
        .clone();
    let balance = |t: &TestApp| {
        let store = t.app.store.clone();
        let org = ada.org_id.clone();
        async move { store.credit_account(&org).await.unwrap().balance.micros() }
    };
    let before = balance(&t).await;

    let (s, r) = report(
        &t,
        &token,
        json!([record("s1", &key, subscribed, 100_000, 0, 20_000)]),
    )
    .await;
    assert_eq!((s, r["accepted"].as_i64()), (200, Some(1)), "{r}");
    assert_eq!(
        balance(&t).await,
        before,
        "a subscribed model costs no credits"
    );
    assert_eq!(
        t.app.store.usage_record("s1").await.unwrap(),
        Some((ada.org_id.clone(), Money::ZERO, "subscription".to_owned()))
    );

    let (s, r) = report(
        &t,
        &token,
        json!([record("p1", &key, &other.id, 100_000, 0, 0)]),
    )
    .await;
    assert_eq!((s, r["accepted"].as_i64()), (200, Some(1)), "{r}");
    // 100,000 tokens: a tenth of the price per million, whole micro-dollars.
    let cost = other.pricing.input.micros() / 10;
    assert!(cost > 0);
    assert_eq!(balance(&t).await, before - cost);
    assert_eq!(
        t.app.store.usage_record("p1").await.unwrap(),
        Some((
            ada.org_id.clone(),
            Money::from_micros(cost),
            "payg".to_owned()
        ))
    );
}

/// The records of issue 9: token counts up to i64::MAX, beyond the context length, negative,
/// and timestamps outside the window are each rejected with their reason; the good records of
/// the same batch, of two organizations, are stored and debited exactly; nothing answers 500
/// and both organizations can still be read.
async fn poisoned_records_are_rejected_alone(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    let (ada_key, _) =
        create_key(&t, &ada, &ada.org_id, &t.default_project(&ada.org_id).await).await;
    let (bob_key, _) =
        create_key(&t, &bob, &bob.org_id, &t.default_project(&bob.org_id).await).await;
    let token = operator_token(&t).await;
    let model = "llama-3.1-70b-instruct";
    let context = t.app.catalog.current().model(model).unwrap().context_length;
    let context = i64::try_from(context).unwrap();
    let at = |id: &str, ts: Value| {
        let mut r = record(id, &ada_key, model, 10, 0, 10);
        r["timestamp"] = ts;
        r
    };
    let now = now_s();
    let records = json!([
        record("bob-1", &bob_key, model, 1_000, 0, 500),
        record("max-output", &ada_key, model, 0, 0, i64::MAX),
        record("max-both", &ada_key, model, i64::MAX, 0, i64::MAX),
        record("trillion", &ada_key, model, 1_000_000_000_000, 0, 0),
        record("over-context", &ada_key, model, context, 0, 1),
        record("negative", &ada_key, model, -5, 0, 10),
        at("ts-minus-one", json!(-1)),
        at("ts-zero", json!(0)),
        at("ts-year-10000", json!("10000-01-01T00:00:00Z")),
        at("ts-8-days-ago", json!(now - 8 * 86_400)),
        at("ts-10-min-ahead", json!(now + 600)),
        {"id": "huge-latency", "key_id": ada_key, "model": model, "input_tokens": 1,
         "output_tokens": 1, "timestamp": now, "latency_ms": i64::MAX},
        record("ada-1", &ada_key, model, context - 1, 0, 1),
        at("ts-6-days-ago", json!(now - 6 * 86_400)),
        record("bob-2", &bob_key, model, 1, 1, 1),
    ]);
    let (s, r) = report(&t, &token, records).await;
    assert_eq!(s, 200, "{r}");
    let rejected: Vec<&str> = r["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rejected,
        [
            "max-output",
            "max-both",
            "trillion",
            "over-context",
            "negative",
            "ts-minus-one",
            "ts-zero",
            "ts-year-10000",
            "ts-8-days-ago",
            "ts-10-min-ahead",
            "huge-latency"
        ],
        "{r}"
    );
    assert!(r["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| !x["reason"].as_str().unwrap().is_empty()));
    assert_eq!(r["accepted"].as_i64(), Some(4), "{r}");
    let p = t.app.catalog.current().model(model).unwrap().pricing;
    let (pi, pc, po) = (p.input.micros(), p.cached_input.micros(), p.output.micros());
    let bob_picos = (1_000 * pi + 500 * po) + (pc + po);
    let ada_picos = ((context - 1) * pi + po) + (10 * pi + 10 * po);
    for (user, picos) in [(&ada, ada_picos), (&bob, bob_picos)] {
        let account = t.app.store.credit_account(&user.org_id).await.unwrap();
        assert_eq!(
            account.balance.micros(),
            -(picos / 1_000_000),
            "{}",
            user.org_id
        );
        assert_eq!(account.usage_carry, picos % 1_000_000);
        let (s, b) = send(user.client.get(t.url(&billing(&user.org_id, "")))).await;
        assert_eq!(s, 200, "{b}");
    }
}

/// The recharges of an organization, newest first: (status, amount in micro-USD, failure code).
async fn recharges(
    t: &TestApp,
    org: &tollgate_domain::OrgId,
) -> Vec<(PaymentStatus, i64, Option<String>)> {
    t.app
        .store
        .payments(org, tollgate_store::PageRequest::first(100))
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.kind == tollgate_domain::payment::PaymentKind::AutoRecharge)
        .map(|p| (p.status, p.amount.micros(), p.failure_code))
        .collect()
}

async fn debit(t: &TestApp, org: &tollgate_domain::OrgId, micros: i64) {
    t.app
        .store
        .debit_usage(
            org,
            Money::from_micros(micros),
            &new_id(IdPrefix::Grant),
            t.app.now(),
        )
        .await
        .unwrap();
}

/// Issue 9: threshold $20, recharge-to $50, then usage of $200,000 — the automatic charge of
/// $200,050 is not made (20× the purchase maximum); it is a failed payment that counts toward
/// turning auto-recharge off, and the admins hear of each one. Past $999,999.99, the same.
async fn an_automatic_charge_never_exceeds_the_purchase_maximum(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    save_card(&t, &ada, "4242424242424242").await;
    grant_promo(&t, &ada.org_id, 30_000_000).await;
    let (s, b) = auto_recharge(&t, &ada, true, "20", "50").await;
    assert_eq!(s, 200, "{b}");
    debit(&t, &ada.org_id, 200_000_000_000).await;
    assert_eq!(t.app.maybe_auto_recharge(&ada.org_id).await.unwrap(), None);
    assert_eq!(
        recharges(&t, &ada.org_id).await,
        [(
            PaymentStatus::Failed,
            // $50 − (−$199,970): what topping up would take.
            200_020_000_000,
            Some("amount_too_large".to_owned())
        )]
    );
    let b = overview(&t, &ada).await;
    assert_eq!(b["balance"], "-199970.00", "{b}");
    assert_eq!(b["auto_recharge"]["consecutive_failures"], 1, "{b}");
    // Backed off like a decline; then refused again, past $999,999.99 too; off after three.
    debit(&t, &ada.org_id, 1_000_000_000_000).await;
    for failures in [2, 3] {
        t.clock.advance_ms(24 * 3_600_000);
        t.app.auto_recharge_sweep().await.unwrap();
        let b = overview(&t, &ada).await;
        assert_eq!(b["auto_recharge"]["consecutive_failures"], failures, "{b}");
    }
    let b = overview(&t, &ada).await;
    assert_eq!(b["auto_recharge"]["enabled"], false, "{b}");
    let all = recharges(&t, &ada.org_id).await;
    assert_eq!(all.len(), 3);
    assert!(all
        .iter()
        .all(|(s, _, code)| *s == PaymentStatus::Failed
            && code.as_deref() == Some("amount_too_large")));
    assert_eq!(
        t.app
            .store
            .count_payments(&ada.org_id, PaymentStatus::Succeeded)
            .await
            .unwrap(),
        0,
        "nothing was charged"
    );
    t.deliver_emails().await;
    let failed: Vec<_> = t
        .sent_emails()
        .into_iter()
        .filter(|m| m.kind == "recharge_failed" && m.to == "ada@example.com")
        .collect();
    assert_eq!(failed.len(), 3, "one per refusal");
    assert!(
        failed[0].text_body.contains("10000.00"),
        "{}",
        failed[0].text_body
    );
}

/// The monthly cap: set through the API (kept when absent, cleared by null, refused when
/// malformed), shown on the console's page, and a recharge that would pass it is a failed
/// payment like a decline.
async fn the_monthly_cap_bounds_automatic_charges(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    save_card(&t, &ada, "4242424242424242").await;
    grant_promo(&t, &ada.org_id, 30_000_000).await;
    let put = |body: Value| {
        let req = ada
            .client
            .put(t.url(&billing(&ada.org_id, "/auto-recharge")))
            .json(&body);
        async move { send(req).await }
    };
    for bad in ["abc", "0", "-5", "0.001", "1000000.01"] {
        let (s, b) = put(
            json!({"enabled": true, "threshold": "10", "recharge_to": "50", "monthly_cap": bad}),
        )
        .await;
        assert_eq!(s, 422, "{bad}: {b}");
    }
    assert_eq!(
        overview(&t, &ada).await["auto_recharge"]["enabled"],
        false,
        "nothing changed"
    );
    let (s, b) =
        put(json!({"enabled": true, "threshold": "10", "recharge_to": "50", "monthly_cap": "60"}))
            .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["auto_recharge"]["monthly_cap"], "60.00", "{b}");
    let (s, b) = put(json!({"enabled": true, "threshold": "10", "recharge_to": "50"})).await;
    assert_eq!(
        (s, &b["auto_recharge"]["monthly_cap"]),
        (200, &json!("60.00")),
        "kept: {b}"
    );
    let (_, page) = send_text(&t, &ada, &format!("/o/{}/billing/payg", ada.org_id)).await;
    assert!(page.contains("Capped at $60.00 a month"), "{page}");
    assert!(
        page.contains(r#"name="monthly_cap" value="60.00""#),
        "{page}"
    );

    // $45 fits under the cap; the next $45 would pass it.
    debit(&t, &ada.org_id, 25_000_000).await;
    let first = t
        .app
        .maybe_auto_recharge(&ada.org_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.status, first.amount.micros()),
        (PaymentStatus::Succeeded, 45_000_000)
    );
    debit(&t, &ada.org_id, 45_000_000).await;
    assert_eq!(t.app.maybe_auto_recharge(&ada.org_id).await.unwrap(), None);
    // Both made at the same test-clock time: compared in a fixed order.
    let mut made = recharges(&t, &ada.org_id).await;
    made.sort_by_key(|r| r.2.clone());
    assert_eq!(
        made,
        [
            (PaymentStatus::Succeeded, 45_000_000, None),
            (
                PaymentStatus::Failed,
                45_000_000,
                Some("monthly_cap_reached".to_owned())
            )
        ]
    );
    assert_eq!(overview(&t, &ada).await["balance"], "5.00");
    t.deliver_emails().await;
    assert!(t
        .sent_emails()
        .iter()
        .any(|m| m.kind == "recharge_failed" && m.text_body.contains("60.00")));

    // Cleared by null: the next recharge goes through.
    let (s, b) =
        put(json!({"enabled": true, "threshold": "10", "recharge_to": "50", "monthly_cap": null}))
            .await;
    assert_eq!(
        (s, &b["auto_recharge"]["monthly_cap"]),
        (200, &Value::Null),
        "{b}"
    );
    assert_eq!(
        overview(&t, &ada).await["balance"],
        "50.00",
        "enabling below the threshold recharged"
    );
}

async fn send_text(t: &TestApp, user: &TestUser, path: &str) -> (u16, String) {
    let r = user.client.get(t.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The same as `concurrent_usage_crossing_the_threshold_recharges_once`, with the usage coming
/// from the gateway (its batched writer) instead of a report: sixteen $1 requests at once take
/// $20 below the $10 threshold, and exactly one recharge follows.
async fn gateway_spending_crossing_the_threshold_recharges_once(engine: Engine) {
    let dir = std::env::temp_dir().join(format!("tollgate-recharge-{}", new_id(IdPrefix::Request)));
    std::fs::create_dir_all(&dir).unwrap();
    let catalog = dir.join("catalog.toml");
    // Output at $1,000 per million tokens: 1,000 tokens cost exactly $1, input is free.
    std::fs::write(
        &catalog,
        r#"[[models]]
id = "dear"
name = "Dear"
context_length = 8192
upstream = "mock"
pricing = { input = "0", output = "1000" }
limits = { rpm = 100000, tpm = 100000000, rpd = 1000000, tpd = 1000000000 }
"#,
    )
    .unwrap();
    let t = TestApp::spawn_with(engine, |c| c.catalog_path = Some(catalog)).await;
    let ada = t.sign_up("ada@example.com").await;
    let project = t.default_project(&ada.org_id).await;
    let (_, key) = create_key(&t, &ada, &ada.org_id, &project).await;
    save_card(&t, &ada, "4242424242424242").await;
    grant_promo(&t, &ada.org_id, 20_000_000).await;
    let (s, _) = auto_recharge(&t, &ada, true, "10", "50").await;
    assert_eq!(s, 200);
    let store = &t.app.store;
    let succeeded = || async {
        store
            .count_payments(&ada.org_id, PaymentStatus::Succeeded)
            .await
            .unwrap()
    };
    assert_eq!(succeeded().await, 0, "not below: no recharge yet");

    let requests: Vec<_> = (0..16)
        .map(|_| {
            let request = reqwest::Client::new()
                .post(t.url("/v1/chat/completions"))
                .bearer_auth(&key)
                .json(&json!({"model": "dear", "max_tokens": 1000,
                              "messages": [{"role": "user", "content": "spend"}]}));
            tokio::spawn(send(request))
        })
        .collect();
    for r in requests {
        let (s, body) = r.await.unwrap();
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["usage"]["completion_tokens"], 1000);
    }
    let waited = std::time::Instant::now();
    while succeeded().await == 0 {
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "no recharge within 10 s of the gateway's spending"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    t.app.metering.flush().await;
    settle(&t).await;
    let recharged = exactly_one_recharge(&t, &ada).await;
    let account = t.app.store.credit_account(&ada.org_id).await.unwrap();
    assert_eq!(
        account.balance.micros(),
        20_000_000 - 16_000_000 + recharged
    );
    let _ = std::fs::remove_dir_all(&dir);
}

on_both_engines!(
    an_automatic_charge_never_exceeds_the_purchase_maximum,
    the_monthly_cap_bounds_automatic_charges,
    poisoned_records_are_rejected_alone,
    usage_is_priced_debited_once_and_rejected_per_record,
    usage_of_a_subscribed_model_costs_nothing,
    enabling_auto_recharge_below_the_threshold_recharges,
    concurrent_usage_crossing_the_threshold_recharges_once,
    gateway_spending_crossing_the_threshold_recharges_once,
    declined_recharges_back_off_then_turn_auto_recharge_off,
    the_billing_job_expires_credit_and_recharges,
);
