#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Credit admission and usage metering (`app.metering`), on both engines: reservations never
//! exceed the credit, settling debits exactly the recorded costs.

mod common;

use std::time::Duration;
use tollgate_domain::CallerId;

use common::eventually;
use tollgate_domain::ledger::GrantSource;
use tollgate_domain::usage::UsageCost;
use tollgate_domain::{new_id, IdPrefix, Money};
use tollgate_server::metering::{CreditRefusal, CreditReservation};
use tollgate_server::testing::TestApp;
use tollgate_store::{on_both_engines, Engine, NewGrant, UsageRecord};

const USD: i64 = 1_000_000;

async fn grant(t: &TestApp, org: &tollgate_domain::OrgId, micros: i64) {
    t.app
        .store
        .grant_credits(
            org,
            &NewGrant {
                source: GrantSource::Promotion,
                amount: tollgate_domain::Money::from_micros(micros),
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

fn usage(t: &TestApp, org: &tollgate_domain::OrgId, cost: i64) -> UsageRecord {
    UsageRecord {
        id: format!("req-{}", new_id(IdPrefix::Grant)),
        org_id: org.clone(),
        project_id: tollgate_domain::ProjectId::from_stored("prj_test".to_owned()),
        key_id: CallerId::from_stored("key_test".to_owned()),
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
    // Lease upkeep only when the test says (`tick`), so that what the lease keeps is checked.
    let t = TestApp::spawn_with(engine, |c| {
        c.metering.lease_tick = std::time::Duration::from_secs(3_600);
    })
    .await;
    let user = t.sign_up("a@example.com").await;
    grant(&t, &user.org_id, 10 * USD).await;

    let r = t
        .app
        .metering
        .reserve(&user.org_id, Money::from_micros(3 * USD), &[])
        .await
        .unwrap();
    let refused = t
        .app
        .metering
        .reserve(&user.org_id, Money::from_micros(8 * USD), &[])
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
    assert_eq!(account.balance.micros(), 10 * USD - 1_234_567);
    // The rest of the reservation stays in this process's lease until it is idle.
    assert_eq!(account.held.micros(), 3 * USD - 1_234_567);
    for _ in 0..2 {
        t.app.metering.tick().await.unwrap();
    }
    let account = t.app.store.credit_account(&user.org_id).await.unwrap();
    assert_eq!(account.available().micros(), 10 * USD - 1_234_567);
}

/// 64 requests of $1 at once on two processes sharing a $10 organization: at most ten are
/// admitted, and after settling the balance is exactly $10 − Σ recorded costs.
async fn two_processes_never_admit_more_than_the_balance(engine: Engine) {
    let a = TestApp::spawn(engine).await;
    let b = a.spawn_sharing().await;
    let user = a.sign_up("a@example.com").await;
    grant(&a, &user.org_id, 10 * USD).await;

    let attempts: Vec<_> = (0..64)
        .map(|i| {
            let app = if i % 2 == 0 {
                a.app.clone()
            } else {
                b.app.clone()
            };
            let org = user.org_id.clone();
            tokio::spawn(async move {
                let r = app
                    .metering
                    .reserve(&org, Money::from_micros(USD), &[])
                    .await;
                (app, r)
            })
        })
        .collect();
    let mut admitted = Vec::new();
    for t in attempts {
        let (app, r) = t.await.unwrap();
        match r {
            Ok(r) => admitted.push((app, r)),
            Err(CreditRefusal::Insufficient { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert!(admitted.len() <= 10, "{} admitted", admitted.len());
    assert!(!admitted.is_empty());
    let account = a.app.store.credit_account(&user.org_id).await.unwrap();
    assert!(account.held <= account.balance, "{account:?}");

    let mut spent = 0;
    for (i, (app, r)) in admitted.into_iter().enumerate() {
        let cost = 1 + i64::try_from(i).unwrap() * 77_777;
        spent += cost;
        let record = usage(&a, &user.org_id, cost);
        app.metering.record(record, Some(r));
    }
    a.app.metering.flush().await;
    b.app.metering.flush().await;
    let account = a.app.store.credit_account(&user.org_id).await.unwrap();
    assert_eq!(account.balance.micros(), 10 * USD - spent);
    assert_eq!(
        a.app
            .store
            .ledger_total(&user.org_id)
            .await
            .unwrap()
            .micros(),
        10 * USD - spent
    );
    // Idle leases go back: the first tick keeps one tick of demand, the second returns it.
    for _ in 0..2 {
        a.app.metering.tick().await.unwrap();
        b.app.metering.tick().await.unwrap();
    }
    let account = a.app.store.credit_account(&user.org_id).await.unwrap();
    assert_eq!(
        (account.balance.micros(), account.held.micros()),
        (10 * USD - spent, 0)
    );
}

/// Reservations dropped unsettled and leases of a stopped process go back; a process that
/// dies keeps its lease only until the hold expires.
async fn leases_go_back_on_shutdown_and_expire_after_a_crash(engine: Engine) {
    let a = TestApp::spawn(engine).await;
    let b = a.spawn_sharing().await;
    let user = a.sign_up("a@example.com").await;
    grant(&a, &user.org_id, 10 * USD).await;

    let r = a
        .app
        .metering
        .reserve(&user.org_id, Money::from_micros(2 * USD), &[])
        .await
        .unwrap();
    drop(r);
    a.app.metering.shutdown().await;
    assert_eq!(
        a.app
            .store
            .credit_account(&user.org_id)
            .await
            .unwrap()
            .held
            .micros(),
        0
    );

    // `b` leases and then "dies": it never returns its lease nor renews it.
    let _running = b
        .app
        .metering
        .reserve(&user.org_id, Money::from_micros(2 * USD), &[])
        .await
        .unwrap();
    assert!(
        a.app
            .store
            .credit_account(&user.org_id)
            .await
            .unwrap()
            .held
            .micros()
            >= 2 * USD
    );
    let ttl = i64::try_from(a.app.config.metering.hold_ttl.as_millis()).unwrap();
    let leased_at = b.app.now();
    a.clock.set_ms(leased_at + ttl - 1);
    a.app.metering.tick().await.unwrap();
    assert!(
        a.app
            .store
            .credit_account(&user.org_id)
            .await
            .unwrap()
            .held
            .micros()
            >= 2 * USD
    );
    a.clock.set_ms(leased_at + ttl);
    a.app.metering.tick().await.unwrap();
    assert_eq!(
        a.app
            .store
            .credit_account(&user.org_id)
            .await
            .unwrap()
            .held
            .micros(),
        0
    );
}

/// A record the database refuses is dropped alone; the rest of its batch is stored.
async fn one_bad_record_does_not_take_its_batch_down(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let user = t.sign_up("a@example.com").await;
    grant(&t, &user.org_id, 10 * USD).await;
    let good: Vec<UsageRecord> = (0..5).map(|_| usage(&t, &user.org_id, 1_000)).collect();
    for (i, r) in good.iter().enumerate() {
        if i == 2 {
            // An organization that does not exist: refused by its foreign key.
            let missing = tollgate_domain::OrgId::generate();
            t.app.metering.record(usage(&t, &missing, 500), None);
        }
        let reservation = t
            .app
            .metering
            .reserve(&user.org_id, Money::from_micros(2_000), &[])
            .await
            .unwrap();
        t.app.metering.record(r.clone(), Some(reservation));
    }
    t.app.metering.flush().await;
    for r in &good {
        assert!(t.app.store.usage_record(&r.id).await.unwrap().is_some());
    }
    let account = t.app.store.credit_account(&user.org_id).await.unwrap();
    assert_eq!(account.balance.micros(), 10 * USD - 5_000);
}

/// An app configured by `configure`, an organization with $10, and $1 reserved for it.
async fn one_reservation(
    engine: Engine,
    configure: impl FnOnce(&mut tollgate_server::ServerConfig),
) -> (TestApp, tollgate_domain::OrgId, CreditReservation) {
    let t = TestApp::spawn_with(engine, configure).await;
    let org = t.sign_up("a@example.com").await.org_id;
    grant(&t, &org, 10 * USD).await;
    let r = t
        .app
        .metering
        .reserve(&org, Money::from_micros(USD), &[])
        .await
        .unwrap();
    (t, org, r)
}

/// A lease idle for two ticks is returned and then forgotten: the map of leases holds only
/// organizations that spend.
async fn idle_leases_are_forgotten(engine: Engine) {
    let (t, org, r) = one_reservation(engine, |c| {
        c.metering.lease_tick = std::time::Duration::from_secs(3_600);
    })
    .await;
    t.app.metering.record(usage(&t, &org, 1_000), Some(r));
    t.app.metering.flush().await;
    assert_eq!(t.app.metering.leases_kept(), 1);
    t.app.metering.tick().await.unwrap();
    assert_eq!(t.app.metering.leases_kept(), 1, "busy a tick ago: kept");
    t.app.metering.tick().await.unwrap();
    assert_eq!(
        t.app.metering.leases_kept(),
        0,
        "idle: returned and forgotten"
    );
    let account = t.app.store.credit_account(&org).await.unwrap();
    assert_eq!(
        (account.balance.micros(), account.held.micros()),
        (10 * USD - 1_000, 0)
    );
    // Forgotten is not refused: the next request leases again.
    let _again = t
        .app
        .metering
        .reserve(&org, Money::from_micros(USD), &[])
        .await
        .unwrap();
    assert_eq!(t.app.metering.leases_kept(), 1);
}

/// SIGTERM's flush gives up after `shutdown_timeout` when the database cannot be reached,
/// instead of keeping the process from stopping.
async fn shutdown_does_not_wait_forever_for_a_database_that_is_down(engine: Engine) {
    let (t, org, r) = one_reservation(engine, |c| {
        c.metering.shutdown_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    // The database goes away with a record still to store.
    t.app.store.close().await;
    t.app.metering.record(usage(&t, &org, 1_000), Some(r));
    let started = std::time::Instant::now();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        t.app.metering.shutdown(),
    )
    .await
    .expect("shutdown returns although the database is down");
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

/// Under steady demand a lease grows before it runs short, in the background: the request
/// that finds it low is admitted from memory, and the hold grows without any request waiting.
async fn a_lease_grows_ahead_of_need(engine: Engine) {
    let t = TestApp::spawn_with(engine, |c| {
        c.metering.lease_tick = std::time::Duration::from_secs(3_600);
    })
    .await;
    let user = t.sign_up("a@example.com").await;
    grant(&t, &user.org_id, 100 * USD).await;
    let held = || async {
        t.app
            .store
            .credit_account(&user.org_id)
            .await
            .unwrap()
            .held
            .micros()
    };

    // Three $1 requests: the first two find the lease short and grow it ($1, then $1), the
    // third grows it by the demand seen so far ($2): $4 held, $1 of it free.
    let mut running = Vec::new();
    for _ in 0..3 {
        running.push(
            t.app
                .metering
                .reserve(&user.org_id, Money::from_micros(USD), &[])
                .await
                .unwrap(),
        );
    }
    assert_eq!(held().await, 4 * USD);
    // The fourth fits: admitted from memory, it leaves nothing free — under half the demand
    // of this tick ($4), so the lease grows by that demand, ahead of need.
    running.push(
        t.app
            .metering
            .reserve(&user.org_id, Money::from_micros(USD), &[])
            .await
            .unwrap(),
    );
    // A lease that does not grow ahead of need within 10 s fails here.
    eventually(Duration::from_secs(10), || async {
        held().await != 4 * USD
    })
    .await;
    assert_eq!(held().await, 8 * USD);
    // The next four are admitted from what it grew by.
    for _ in 0..4 {
        running.push(
            t.app
                .metering
                .reserve(&user.org_id, Money::from_micros(USD), &[])
                .await
                .unwrap(),
        );
    }
    let account = t.app.store.credit_account(&user.org_id).await.unwrap();
    assert!(account.held <= account.balance, "{account:?}");
    drop(running);
}

on_both_engines!(
    a_lease_grows_ahead_of_need,
    a_reservation_settles_at_the_recorded_cost,
    two_processes_never_admit_more_than_the_balance,
    leases_go_back_on_shutdown_and_expire_after_a_crash,
    one_bad_record_does_not_take_its_batch_down,
    idle_leases_are_forgotten,
    shutdown_does_not_wait_forever_for_a_database_that_is_down,
);
