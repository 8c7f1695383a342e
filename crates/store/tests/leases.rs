#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Credit leases on both engines: concurrent lessees never reserve more than the balance,
//! sizing follows the available credit, usage shrinks its hold exactly once, expired leases
//! give their credit back.

mod common;

use common::usage_record;
use tollgate_domain::ledger::GrantSource;
use tollgate_domain::{Email, Money, Name, OrgId};
use tollgate_store::testing::TestDb;
use tollgate_store::{
    on_both_engines, Engine, LeaseGrowth, LeaseSizing, NewGrant, NewUser, Store, UsageRecord,
};

const NOW: i64 = 1_790_000_000_000;
const USD: i64 = 1_000_000;
const TTL: i64 = 60_000;

async fn funded_org(store: &Store, amount: i64) -> OrgId {
    let (_, org) = store
        .create_user(
            NewUser {
                email: &Email::parse("a@example.com").unwrap(),
                name: &Name::parse("name", "A").unwrap(),
                password_hash: "h",
            },
            &Name::parse("name", "Org").unwrap(),
            NOW,
        )
        .await
        .unwrap();
    store
        .grant_credits(
            &org.id,
            &NewGrant {
                source: GrantSource::Promotion,
                amount: Money::from_micros(amount),
                expires_at: None,
                idempotency_key: "g",
                reference: None,
                description: "test",
            },
            NOW,
        )
        .await
        .unwrap();
    org.id
}

fn m(micros: i64) -> Money {
    Money::from_micros(micros)
}

fn sizing(need: i64, want: i64) -> LeaseSizing {
    LeaseSizing {
        need: m(need),
        want: m(want),
        share_divisor: 4,
    }
}

fn granted(g: LeaseGrowth) -> (String, Money) {
    match g {
        LeaseGrowth::Granted { hold_id, added } => (hold_id, added),
        LeaseGrowth::Refused { available } => panic!("refused with {available} available"),
    }
}

fn record(org: &OrgId, id: &str, cost: i64) -> UsageRecord {
    UsageRecord {
        ttft_ms: Some(3),
        estimated: true,
        ..usage_record(org, id, cost, NOW)
    }
}

async fn concurrent_lessees_never_over_reserve(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let org = funded_org(&store, 10 * USD).await;
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let (store, org) = (store.clone(), org.clone());
            tokio::spawn(async move {
                // Each lessee wants three dollars and needs one.
                match store
                    .grow_lease(&org, None, sizing(USD, 3 * USD), TTL, NOW)
                    .await
                    .unwrap()
                {
                    LeaseGrowth::Granted { added, .. } => added,
                    LeaseGrowth::Refused { available } => {
                        assert!(available < m(USD), "refused with {available} available");
                        Money::ZERO
                    }
                }
            })
        })
        .collect();
    let mut total = Money::ZERO;
    for t in tasks {
        total = total.checked_add(t.await.unwrap()).unwrap();
    }
    let account = store.credit_account(&org).await.unwrap();
    assert!(total <= m(10 * USD), "leased {total} of 10 USD");
    assert_eq!(account.held, total, "held = Σ leases");
    assert!(
        account.available().micros() < USD,
        "leasing stops only when less than a request is left"
    );
}

async fn leases_take_a_share_of_what_is_available(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let org = funded_org(&store, 100 * USD).await;
    // A quarter of 100 at most, however much is wanted.
    let (hold, added) = granted(
        store
            .grow_lease(&org, None, sizing(USD, 1_000 * USD), TTL, NOW)
            .await
            .unwrap(),
    );
    assert_eq!(added, m(25 * USD));
    // The same hold grows, by a quarter of the 75 left.
    let (same, added) = granted(
        store
            .grow_lease(&org, Some(&hold), sizing(USD, 1_000 * USD), TTL, NOW)
            .await
            .unwrap(),
    );
    assert_eq!((same.as_str(), added), (hold.as_str(), m(18_750_000)));
    assert_eq!(store.hold_amount(&hold).await.unwrap(), Some(m(43_750_000)));
    // Low on credit: exactly what is needed, then nothing.
    let (_, rest) = granted(
        store
            .grow_lease(&org, None, sizing(56_250_000, 56_250_000), TTL, NOW)
            .await
            .unwrap(),
    );
    assert_eq!(rest, m(56_250_000));
    assert_eq!(
        store
            .grow_lease(&org, None, sizing(1, 1), TTL, NOW)
            .await
            .unwrap(),
        LeaseGrowth::Refused {
            available: Money::ZERO
        }
    );
    // Giving back makes it available again, and renews what is left.
    assert_eq!(
        store
            .shrink_lease(&org, &hold, m(3 * USD), TTL, NOW + 1_000)
            .await
            .unwrap(),
        m(3 * USD)
    );
    assert_eq!(
        store
            .credit_account(&org)
            .await
            .unwrap()
            .available()
            .micros(),
        3 * USD
    );
    assert_eq!(
        store.expire_holds(NOW + TTL).await.unwrap(),
        1,
        "the other hold"
    );
    assert_eq!(store.hold_amount(&hold).await.unwrap(), Some(m(40_750_000)));
}

async fn usage_shrinks_its_hold_exactly_once(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let org = funded_org(&store, 10 * USD).await;
    let (hold, added) = granted(
        store
            .grow_lease(&org, None, sizing(2 * USD, 2 * USD), TTL, NOW)
            .await
            .unwrap(),
    );
    assert_eq!(added, m(2 * USD));
    let batch = [record(&org, "r1", 300_000), record(&org, "r2", 200_000)];
    let holds = [Some(hold.as_str()), Some(hold.as_str())];
    let first = store
        .record_usage_on_holds(&batch, &holds, NOW)
        .await
        .unwrap();
    assert_eq!((first.accepted, first.duplicates), (2, 0));
    let after = store.credit_account(&org).await.unwrap();
    assert_eq!(
        (after.balance.micros(), after.held.micros()),
        (9_500_000, 1_500_000)
    );
    assert_eq!(store.hold_amount(&hold).await.unwrap(), Some(m(1_500_000)));

    // Replayed (a retry after a lost answer): nothing changes.
    let again = store
        .record_usage_on_holds(&batch, &holds, NOW)
        .await
        .unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 2));
    assert_eq!(store.credit_account(&org).await.unwrap(), after);
    assert_eq!(store.hold_amount(&hold).await.unwrap(), Some(m(1_500_000)));

    // Usage beyond the hold debits in full and removes the hold, never below nothing.
    store
        .record_usage_on_holds(&[record(&org, "r3", 2 * USD)], &[Some(&hold)], NOW)
        .await
        .unwrap();
    let account = store.credit_account(&org).await.unwrap();
    assert_eq!(
        (account.balance.micros(), account.held.micros()),
        (7_500_000, 0)
    );
    assert_eq!(store.hold_amount(&hold).await.unwrap(), None);
    assert_eq!(store.ledger_total(&org).await.unwrap().micros(), 7_500_000);

    // Mismatched lengths are refused before anything is written.
    assert!(store
        .record_usage_on_holds(&[record(&org, "r4", 1)], &[None, None], NOW)
        .await
        .is_err());
    assert_eq!(store.usage_record("r4").await.unwrap(), None);
}

async fn expired_leases_return_their_credit(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let org = funded_org(&store, 10 * USD).await;
    let (hold, _) = granted(
        store
            .grow_lease(&org, None, sizing(2 * USD, 2 * USD), TTL, NOW)
            .await
            .unwrap(),
    );
    // Renewed while alive…
    assert!(store.renew_lease(&hold, TTL, NOW + 30_000).await.unwrap());
    assert_eq!(store.expire_holds(NOW + TTL).await.unwrap(), 0);
    // …and released once its process stopped renewing it.
    assert_eq!(store.expire_holds(NOW + 30_000 + TTL).await.unwrap(), 1);
    assert_eq!(store.credit_account(&org).await.unwrap().held, Money::ZERO);
    assert!(!store.renew_lease(&hold, TTL, NOW + 100_000).await.unwrap());
    // A growth of the lost hold places a new one.
    let (new, added) = granted(
        store
            .grow_lease(&org, Some(&hold), sizing(USD, USD), TTL, NOW + 100_000)
            .await
            .unwrap(),
    );
    assert_ne!(new, hold);
    assert_eq!(store.credit_account(&org).await.unwrap().held, added);
    // A hold past its expiry cannot be renewed, even before the expiry job released it.
    assert!(!store
        .renew_lease(&new, TTL, NOW + 100_000 + TTL)
        .await
        .unwrap());
}

on_both_engines!(
    concurrent_lessees_never_over_reserve,
    leases_take_a_share_of_what_is_available,
    usage_shrinks_its_hold_exactly_once,
    expired_leases_return_their_credit,
);
