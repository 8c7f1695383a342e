#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Renewals driven by the test clock, on both engines: renewal at the period end, past due with
//! daily retries then canceled, downgrades and cancellations at the period end, exactly once
//! across two servers on one database and after a crash between charge and commit; and the
//! capacity race.

mod subscriptions_common;

use serde_json::{json, Value};
use subscriptions_common::*;
use tollgate_domain::subscription::add_months;
use tollgate_server::jobs::renewals::{run_once, run_once_crashing, Crash, LEASE_MS};
use tollgate_server::testing::{send, TestApp, TestUser};
use tollgate_store::{on_both_engines, Engine, Subscription};

const DAY: i64 = 86_400_000;
const MODEL: &str = "llama-3.1-8b-instruct";

async fn stored(t: &TestApp, org_id: &tollgate_domain::OrgId) -> Subscription {
    t.app.store.subscriptions(org_id).await.unwrap().remove(0)
}

async fn subscribed(t: &TestApp, email: &str, tier: &str) -> (TestUser, Value) {
    let user = t.sign_up(email).await;
    save_card(t, &user.org_id, GOOD_CARD).await;
    let (s, sub) = subscribe(t, &user, MODEL, tier).await;
    assert_eq!(s, 201, "{sub}");
    (user, sub)
}

async fn renews_monthly_and_applies_downgrades_at_the_period_end(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let (ada, sub) = subscribed(&t, "ada@example.com", "pro").await;
    let first = stored(&t, &ada.org_id).await;
    assert_eq!(first.current_period_end, add_months(first.anchor_at, 1));

    // Not due yet: nothing happens.
    t.clock.set_ms(first.current_period_end - 1);
    assert_eq!(run_once(&t.app).await.unwrap().renewed, 0);
    // A downgrade waits for the period end.
    sign_in(&t, &ada).await;
    let url = format!(
        "{}/{}",
        subs_url(&t, &ada.org_id),
        sub["id"].as_str().unwrap()
    );
    let (s, d) = send(ada.client.patch(&url).json(&json!({"tier": "starter"}))).await;
    assert_eq!(s, 200, "{d}");

    t.clock.set_ms(first.current_period_end);
    let report = run_once(&t.app).await.unwrap();
    assert_eq!(report.renewed, 1, "{report:?}");
    let second = stored(&t, &ada.org_id).await;
    assert_eq!(second.tier, "starter", "the downgrade took effect");
    assert_eq!(second.pending_tier, None);
    assert_eq!(second.period_index, 1);
    assert_eq!(second.current_period_start, first.current_period_end);
    assert_eq!(second.current_period_end, add_months(first.anchor_at, 2));
    let payments = subscription_payments(&t, &ada.org_id).await;
    assert_eq!(
        payments
            .iter()
            .map(|p| p.0)
            .collect::<Vec<_>>()
            .iter()
            .sum::<i64>(),
        199_000_000 + 29_000_000,
        "{payments:?}"
    );
    assert!(payments.iter().all(|p| p.1 == "succeeded"));
    let avail = t.app.tier_availability().await.unwrap();
    assert_eq!(
        (avail.taken(MODEL, "pro"), avail.taken(MODEL, "starter")),
        (0, 1),
        "seats follow the tier"
    );
    // Run again at the same time: nothing more.
    assert_eq!(run_once(&t.app).await.unwrap(), Default::default());
    assert_eq!(subscription_payments(&t, &ada.org_id).await.len(), 2);

    // Cancel at the period end: no charge, canceled, its seat free.
    sign_in(&t, &ada).await;
    let (s, _) = send(ada.client.delete(&url)).await;
    assert_eq!(s, 200);
    t.clock.set_ms(second.current_period_end);
    assert_eq!(run_once(&t.app).await.unwrap().canceled, 1);
    let ended = stored(&t, &ada.org_id).await;
    assert_eq!(ended.status.as_str(), "canceled");
    assert_eq!(subscription_payments(&t, &ada.org_id).await.len(), 2);
    assert_eq!(
        t.app
            .tier_availability()
            .await
            .unwrap()
            .taken(MODEL, "starter"),
        0
    );
    assert_eq!(
        t.app.entitlement(&ada.org_id, MODEL).await.unwrap().plan(),
        "payg"
    );
    // Cancelling a canceled subscription: 409, nothing changed.
    sign_in(&t, &ada).await;
    let (s, e) = send(ada.client.delete(&url)).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("already_canceled"))
    );
    // And the model can be subscribed again.
    save_card(&t, &ada.org_id, GOOD_CARD).await;
    let (s, again) = subscribe(&t, &ada, MODEL, "starter").await;
    assert_eq!(s, 201, "{again}");
}

async fn failed_renewals_are_past_due_retried_daily_then_canceled(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let (ada, _) = subscribed(&t, "ada@example.com", "starter").await;
    let first = stored(&t, &ada.org_id).await;
    save_card(&t, &ada.org_id, DECLINED_CARD).await;

    t.clock.set_ms(first.current_period_end);
    let report = run_once(&t.app).await.unwrap();
    assert_eq!(report.failed, 1, "{report:?}");
    let due = stored(&t, &ada.org_id).await;
    assert_eq!(due.status.as_str(), "past_due");
    assert_eq!(due.next_retry_at, Some(first.current_period_end + DAY));
    assert_eq!(
        t.app.entitlement(&ada.org_id, MODEL).await.unwrap().plan(),
        "subscription",
        "still covered while retried"
    );
    t.deliver_emails().await;
    let emails = t.sent_emails();
    let renewal: Vec<_> = emails
        .iter()
        .filter(|e| e.text_body.contains("could not be charged"))
        .collect();
    assert_eq!(renewal.len(), 1, "admins are emailed once");
    assert_eq!(renewal[0].to, "ada@example.com");
    assert_eq!(renewal[0].kind, "renewal_failed");

    // Not before a day has passed.
    t.clock.set_ms(first.current_period_end + DAY - 1);
    assert_eq!(run_once(&t.app).await.unwrap().failed, 0);
    for retry in 1..=2 {
        t.clock.set_ms(first.current_period_end + retry * DAY);
        assert_eq!(run_once(&t.app).await.unwrap().failed, 1, "retry {retry}");
        let s = stored(&t, &ada.org_id).await;
        assert_eq!(
            (s.status.as_str(), s.renewal_retries),
            ("past_due", retry + 1)
        );
    }
    t.clock.set_ms(first.current_period_end + 3 * DAY);
    assert_eq!(run_once(&t.app).await.unwrap().canceled, 1);
    let s = stored(&t, &ada.org_id).await;
    assert_eq!(s.status.as_str(), "canceled");
    let payments = subscription_payments(&t, &ada.org_id).await;
    assert_eq!(
        payments.iter().filter(|p| p.1 == "failed").count(),
        4,
        "the renewal and three retries: {payments:?}"
    );
    assert_eq!(
        t.app.entitlement(&ada.org_id, MODEL).await.unwrap().plan(),
        "payg"
    );
}

async fn a_retry_that_succeeds_makes_it_active_again(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let (ada, _) = subscribed(&t, "ada@example.com", "starter").await;
    let first = stored(&t, &ada.org_id).await;
    save_card(&t, &ada.org_id, DECLINED_CARD).await;
    t.clock.set_ms(first.current_period_end);
    run_once(&t.app).await.unwrap();
    save_card(&t, &ada.org_id, GOOD_CARD).await;
    t.clock.set_ms(first.current_period_end + DAY);
    assert_eq!(run_once(&t.app).await.unwrap().renewed, 1);
    let s = stored(&t, &ada.org_id).await;
    assert_eq!(
        (s.status.as_str(), s.period_index, s.renewal_retries),
        ("active", 1, 0)
    );
    assert_eq!(
        s.current_period_start, first.current_period_end,
        "the period is kept to the calendar"
    );
}

async fn renewals_run_once_across_two_servers(engine: Engine) {
    let a = TestApp::spawn(engine).await;
    let b = a.spawn_sharing().await;
    let mut orgs = Vec::new();
    for i in 0..6 {
        let (u, _) = subscribed(&a, &format!("user{i}@example.com"), "starter").await;
        orgs.push(u.org_id);
    }
    let end = stored(&a, &orgs[0]).await.current_period_end + 60_000;
    a.clock.set_ms(end);
    b.clock.set_ms(end);
    let (ra, rb) = tokio::join!(run_once(&a.app), run_once(&b.app));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.renewed + rb.renewed, 6, "{ra:?} {rb:?}");
    for org in &orgs {
        let payments = subscription_payments(&a, org).await;
        assert_eq!(payments.len(), 2, "charged once per period: {payments:?}");
        assert_eq!(stored(&a, org).await.period_index, 1);
    }
    let (ra, rb) = tokio::join!(run_once(&a.app), run_once(&b.app));
    assert_eq!(ra.unwrap().renewed + rb.unwrap().renewed, 0);
}

async fn a_crash_between_charge_and_commit_charges_once(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let (ada, _) = subscribed(&t, "ada@example.com", "starter").await;
    let first = stored(&t, &ada.org_id).await;
    t.clock.set_ms(first.current_period_end);
    // The process dies after the provider charged, before the subscription moved on.
    run_once_crashing(&t.app, Crash::AfterCharge).await.unwrap();
    assert_eq!(stored(&t, &ada.org_id).await.period_index, 0);
    assert_eq!(subscription_payments(&t, &ada.org_id).await.len(), 2);
    // Another server (a restart) finds the claim held until the lease runs out…
    let other = t.spawn_sharing().await;
    other.clock.set_ms(first.current_period_end + 1_000);
    assert_eq!(run_once(&other.app).await.unwrap().renewed, 0);
    // …then takes it over with the same key: the first payment answers, nothing is charged again.
    other
        .clock
        .set_ms(first.current_period_end + LEASE_MS + 1_000);
    assert_eq!(run_once(&other.app).await.unwrap().renewed, 1);
    let s = stored(&t, &ada.org_id).await;
    assert_eq!((s.period_index, s.status.as_str()), (1, "active"));
    let payments = subscription_payments(&t, &ada.org_id).await;
    assert_eq!(payments.len(), 2, "{payments:?}");
    assert!(payments.iter().all(|p| p.1 == "succeeded"));

    // A crash inside the payment flow itself (after the provider, before the payment row is
    // settled) leaves the renewal unclaimed and the payment pending; the next run settles both.
    let second_end = s.current_period_end;
    t.clock.set_ms(second_end);
    t.app.charge_faults.crash_after_charge(1);
    assert!(run_once(&t.app).await.is_err());
    assert_eq!(stored(&t, &ada.org_id).await.period_index, 1);
    assert_eq!(run_once(&t.app).await.unwrap().renewed, 1);
    let payments = subscription_payments(&t, &ada.org_id).await;
    assert_eq!(payments.len(), 3, "{payments:?}");
    assert!(payments.iter().all(|p| p.1 == "succeeded"));
}

async fn capacity_is_never_exceeded_by_concurrent_subscribers(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let (model, tier) = ("llama-3.1-70b-instruct", "dedicated"); // capacity 2
    t.app
        .store
        .set_tier_sold_out(model, tier, Some(false), t.app.now())
        .await
        .unwrap();
    let mut users = Vec::new();
    for i in 0..8 {
        let u = t.sign_up(&format!("racer{i}@example.com")).await;
        save_card(&t, &u.org_id, GOOD_CARD).await;
        users.push(u);
    }
    let handles: Vec<_> = users
        .iter()
        .map(|u| {
            let (client, url) = (u.client.clone(), subs_url(&t, &u.org_id));
            tokio::spawn(async move {
                send(
                    client
                        .post(url)
                        .json(&json!({"model": model, "tier": tier})),
                )
                .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.unwrap());
    }
    let ok = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(ok, 2, "{results:?}");
    assert!(
        results
            .iter()
            .all(|(s, b)| *s == 201 || (*s == 409 && b["error"]["code"] == "tier_sold_out")),
        "{results:?}"
    );
    assert_eq!(
        t.app.tier_availability().await.unwrap().taken(model, tier),
        2
    );
    let paid: usize = {
        let mut n = 0;
        for u in &users {
            n += subscription_payments(&t, &u.org_id).await.len();
        }
        n
    };
    assert_eq!(paid, 2, "only the seated subscribers are charged");
}

on_both_engines!(
    renews_monthly_and_applies_downgrades_at_the_period_end,
    failed_renewals_are_past_due_retried_daily_then_canceled,
    a_retry_that_succeeds_makes_it_active_again,
    renewals_run_once_across_two_servers,
    a_crash_between_charge_and_commit_charges_once,
    capacity_is_never_exceeded_by_concurrent_subscribers,
);
