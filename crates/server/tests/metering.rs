#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Credit admission and usage metering (`app.metering`), on both engines: reservations never
//! exceed the credit, settling debits exactly the recorded costs.

use tollgate_domain::ledger::GrantSource;
use tollgate_domain::usage::UsageCost;
use tollgate_domain::{new_id, IdPrefix, Money};
use tollgate_server::metering::CreditRefusal;
use tollgate_server::testing::TestApp;
use tollgate_store::{on_both_engines, Engine, NewGrant, UsageRecord};

const USD: i64 = 1_000_000;

async fn grant(t: &TestApp, org: &str, micros: i64) {
    t.app
        .store
        .grant_credits(
            org,
            &NewGrant {
                source: GrantSource::Promotion,
                amount: micros,
                expires_at: None,
                idempotency_key: &new_id(IdPrefix::Grant),
                reference: None,
                description: "test",
            },
            t.app.now(),
        )
        .await
        .unwrap();
}

fn usage(t: &TestApp, org: &str, cost: i64) -> UsageRecord {
    UsageRecord {
        id: format!("req-{}", new_id(IdPrefix::Grant)),
        org_id: org.to_owned(),
        project_id: "prj_test".to_owned(),
        key_id: "key_test".to_owned(),
        model: "test-model".to_owned(),
        input_tokens: 10,
        cached_input_tokens: 0,
        output_tokens: 20,
        // Whole micro-dollars: exact in pico-USD.
        cost: UsageCost::from_picos(cost * 1_000_000).unwrap(),
        plan: "payg",
        status: "ok".to_owned(),
        latency_ms: Some(5),
        ttft_ms: None,
        estimated: false,
        occurred_at: t.app.now(),
    }
}

async fn a_reservation_settles_at_the_recorded_cost(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let user = t.sign_up("a@example.com").await;
    grant(&t, &user.org_id, 10 * USD).await;

    let r = t
        .app
        .metering
        .reserve(&user.org_id, Money::from_micros(3 * USD))
        .await
        .unwrap();
    let refused = t
        .app
        .metering
        .reserve(&user.org_id, Money::from_micros(8 * USD))
        .await;
    assert!(
        matches!(refused, Err(CreditRefusal::Insufficient { .. })),
        "3 of 10 reserved: 8 more is refused"
    );
    t.app
        .metering
        .record(usage(&t, &user.org_id, 1_234_567), Some(r));
    t.app.metering.flush().await;
    let account = t.app.store.credit_account(&user.org_id).await.unwrap();
    assert_eq!(account.balance, 10 * USD - 1_234_567);
    assert_eq!(account.available(), 10 * USD - 1_234_567);
}

on_both_engines!(a_reservation_settles_at_the_recorded_cost);
