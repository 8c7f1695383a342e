#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The ledger on both engines: the invariant under random operations, atomic holds, idempotent
//! grants and usage, expiry, debt.

mod common;

use common::usage_record;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tollgate_domain::ledger::GrantSource;
use tollgate_domain::{Email, Money, Name, OrgId};
use tollgate_store::testing::{held, TestDb};
use tollgate_store::{on_both_engines, Engine, Granted, NewGrant, NewUser, Store};

const NOW: i64 = 1_790_000_000_000;
const USD: i64 = 1_000_000;
const DAY: i64 = 86_400_000;

async fn org(store: &Store, email: &str) -> OrgId {
    let (_, org) = store
        .create_user(
            NewUser {
                email: &Email::parse(email).unwrap(),
                name: &Name::parse("name", "A").unwrap(),
                password_hash: "h",
            },
            &Name::parse("name", "Org").unwrap(),
            NOW,
        )
        .await
        .unwrap();
    org.id
}

fn grant(source: GrantSource, amount: i64, expires_at: Option<i64>, key: &str) -> NewGrant<'_> {
    NewGrant {
        source,
        amount: Money::from_micros(amount),
        expires_at,
        idempotency_key: key,
        reference: None,
        description: "test",
    }
}

/// An organization with a $10 purchase granted at `NOW` (idempotency key `key`).
async fn funded_org(store: &Store, key: &str) -> OrgId {
    let org = org(store, "a@example.com").await;
    store
        .grant_credits(
            &org,
            &grant(GrantSource::Purchase, 10 * USD, None, key),
            NOW,
        )
        .await
        .unwrap();
    org
}

/// balance = Σ unexpired grants' remaining − debt = Σ ledger entries; held = Σ live holds.
async fn assert_invariant(store: &Store, org: &OrgId, now: i64, holds: i64) {
    let account = store.credit_account(org).await.unwrap();
    let entries = store.ledger_total(org).await.unwrap();
    let (grants, debt) = store.grants_remaining_and_debt(org, now).await.unwrap();
    assert_eq!(account.balance, entries, "balance = Σ entries");
    assert_eq!(
        account.balance.micros(),
        grants.micros() - debt.micros(),
        "balance = Σ unexpired remaining − debt"
    );
    assert!(debt >= Money::ZERO);
    assert_eq!(account.held.micros(), holds, "held = Σ live holds");
}

async fn random_operations_keep_the_invariant(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let org = org(&store, "a@example.com").await;
    for seed in 0..3u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut now = NOW + i64::try_from(seed).unwrap() * 1000 * DAY;
        let mut holds: Vec<(String, i64)> = Vec::new();
        let mut used_keys: Vec<String> = Vec::new();
        for step in 0..120 {
            let key = format!("s{seed}-{step}");
            match rng.gen_range(0..9) {
                0 | 1 => {
                    let expires = rng.gen_bool(0.5).then(|| now + rng.gen_range(1..10) * DAY);
                    let source = [
                        GrantSource::Purchase,
                        GrantSource::Promotion,
                        GrantSource::AutoRecharge,
                    ][rng.gen_range(0..3)];
                    store
                        .grant_credits(
                            &org,
                            &grant(source, rng.gen_range(1..50) * USD, expires, &key),
                            now,
                        )
                        .await
                        .unwrap();
                    used_keys.push(key.clone());
                }
                2 | 3 => {
                    store
                        .debit_usage(
                            &org,
                            Money::from_micros(rng.gen_range(0..20) * USD),
                            &key,
                            now,
                        )
                        .await
                        .unwrap();
                    used_keys.push(key.clone());
                }
                4 => {
                    if let Some(h) = held(
                        store
                            .place_hold(
                                &org,
                                Money::from_micros(rng.gen_range(1..10) * USD),
                                60_000,
                                now,
                            )
                            .await,
                    ) {
                        let amount = store.credit_account(&org).await.unwrap().held.micros()
                            - holds.iter().map(|h| h.1).sum::<i64>();
                        holds.push((h, amount));
                    }
                }
                5 if !holds.is_empty() => {
                    let (h, amount) = holds.remove(rng.gen_range(0..holds.len()));
                    store
                        .settle_hold(
                            &org,
                            &h,
                            Money::from_micros(rng.gen_range(0..=amount)),
                            &key,
                            now,
                        )
                        .await
                        .unwrap();
                    used_keys.push(key.clone());
                }
                6 if !holds.is_empty() => {
                    let (h, _) = holds.remove(0);
                    assert!(store.release_hold(&h, now).await.unwrap());
                }
                7 => {
                    now += rng.gen_range(0..4) * DAY + 60_000;
                    // Holds live a minute: past it they are all forgotten ones.
                    store.expire_holds(now).await.unwrap();
                    holds.clear();
                    store.expire_grants(now).await.unwrap();
                }
                _ if !used_keys.is_empty() => {
                    // Replays of a used key, as usage or as a grant, change nothing.
                    let used = used_keys[rng.gen_range(0..used_keys.len())].clone();
                    let before = store.credit_account(&org).await.unwrap();
                    assert!(!store
                        .debit_usage(&org, Money::from_micros(5 * USD), &used, now)
                        .await
                        .unwrap());
                    let replay = store
                        .grant_credits(&org, &grant(GrantSource::Purchase, USD, None, &used), now)
                        .await
                        .unwrap();
                    assert_eq!(replay, Granted::Duplicate);
                    assert_eq!(
                        before,
                        store.credit_account(&org).await.unwrap(),
                        "a replayed key changed the balance"
                    );
                }
                _ => {}
            }
            assert_invariant(&store, &org, now, holds.iter().map(|h| h.1).sum()).await;
        }
        for (h, _) in holds {
            assert!(store.release_hold(&h, now).await.unwrap());
        }
        assert_invariant(&store, &org, now, 0).await;
    }
}

async fn fifty_concurrent_holds_against_ten_admit_ten(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let org = funded_org(&store, "buy").await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (store, org) = (store.clone(), org.clone());
            tokio::spawn(async move {
                held(
                    store
                        .place_hold(&org, Money::from_micros(USD), 60_000, NOW)
                        .await,
                )
            })
        })
        .collect();
    let mut admitted = 0;
    for t in tasks {
        admitted += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(admitted, 10);
    let account = store.credit_account(&org).await.unwrap();
    assert_eq!(
        (account.held.micros(), account.available().micros()),
        (10 * USD, 0)
    );
}

async fn grants_are_drawn_in_order_and_expire(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let org = org(&store, "a@example.com").await;
    let paid = |k| grant(GrantSource::Purchase, 10 * USD, Some(NOW + 365 * DAY), k);
    store.grant_credits(&org, &paid("paid"), NOW).await.unwrap();
    store
        .grant_credits(
            &org,
            &grant(
                GrantSource::Promotion,
                5 * USD,
                Some(NOW + 30 * DAY),
                "promo",
            ),
            NOW,
        )
        .await
        .unwrap();
    assert!(matches!(
        store.grant_credits(&org, &paid("paid"), NOW).await.unwrap(),
        Granted::Duplicate
    ));
    assert_eq!(
        store.credit_account(&org).await.unwrap().balance.micros(),
        15 * USD
    );

    store
        .debit_usage(&org, Money::from_micros(3 * USD), "u1", NOW + 1)
        .await
        .unwrap();
    let grants = store
        .credit_grants(&org, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    let promo = grants
        .iter()
        .find(|g| g.source == GrantSource::Promotion)
        .unwrap();
    assert_eq!(
        promo.remaining.micros(),
        2 * USD,
        "the promotion expires first, so it is drawn first"
    );

    // The promotion's remaining $2 is written off at its expiry.
    store.expire_grants(NOW + 30 * DAY).await.unwrap();
    assert_eq!(
        store.credit_account(&org).await.unwrap().balance.micros(),
        10 * USD
    );
    assert_invariant(&store, &org, NOW + 30 * DAY, 0).await;
    assert_eq!(
        store.expire_grants(NOW + 31 * DAY).await.unwrap(),
        0,
        "once"
    );
}

async fn usage_may_go_below_zero_and_the_next_grant_pays_the_debt(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let org = org(&store, "a@example.com").await;
    store
        .grant_credits(
            &org,
            &grant(GrantSource::Promotion, 2 * USD, None, "g1"),
            NOW,
        )
        .await
        .unwrap();
    store
        .debit_usage(&org, Money::from_micros(5 * USD), "u1", NOW)
        .await
        .unwrap();
    let account = store.credit_account(&org).await.unwrap();
    assert_eq!(
        (account.balance.micros(), account.available().micros()),
        (-3 * USD, -3 * USD)
    );
    assert_eq!(
        held(
            store
                .place_hold(&org, Money::from_micros(1), 60_000, NOW)
                .await
        ),
        None,
        "nothing is available"
    );
    assert_invariant(&store, &org, NOW, 0).await;
    store
        .grant_credits(
            &org,
            &grant(GrantSource::Purchase, 10 * USD, None, "g2"),
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        store.credit_account(&org).await.unwrap().balance.micros(),
        7 * USD
    );
    assert_invariant(&store, &org, NOW, 0).await;
}

async fn holds_settle_release_and_expire(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let org = funded_org(&store, "g").await;
    let hold = |n: i64| store.place_hold(&org, Money::from_micros(n * USD), 60_000, NOW);
    let h1 = hold(4).await.unwrap();
    let h2 = hold(4).await.unwrap();
    assert_eq!(held(hold(3).await), None);
    assert!(store
        .settle_hold(&org, &h1, Money::from_micros(USD), "req-1", NOW)
        .await
        .unwrap());
    assert!(
        !store
            .settle_hold(&org, &h1, Money::from_micros(USD), "req-1", NOW)
            .await
            .unwrap(),
        "settled once"
    );
    let account = store.credit_account(&org).await.unwrap();
    assert_eq!(
        (account.balance.micros(), account.held.micros()),
        (9 * USD, 4 * USD)
    );
    assert_eq!(store.expire_holds(NOW + 59_999).await.unwrap(), 0);
    assert_eq!(store.expire_holds(NOW + 60_000).await.unwrap(), 1);
    assert!(
        !store.release_hold(&h2, NOW).await.unwrap(),
        "already expired"
    );
    assert_eq!(
        store
            .credit_account(&org)
            .await
            .unwrap()
            .available()
            .micros(),
        9 * USD
    );
    assert_invariant(&store, &org, NOW, 0).await;
}

async fn usage_records_are_stored_once(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let org = funded_org(&store, "g").await;
    let record = |id: &str, micros: i64| usage_record(&org, id, micros, NOW);
    let batch = vec![record("r1", USD), record("r2", 2 * USD), record("r3", 0)];
    let first = store.record_usage(&batch, NOW).await.unwrap();
    assert_eq!((first.accepted, first.duplicates), (3, 0));
    // The grant's entry and one for the batch's usage: a batch is one change of balance.
    assert_eq!(store.ledger_entry_count(&org).await.unwrap(), 2);
    let second = [record("r2", 2 * USD), record("r4", USD)];
    let again = store.record_usage(&second, NOW).await.unwrap();
    assert_eq!((again.accepted, again.duplicates), (1, 1));
    assert_eq!(store.ledger_entry_count(&org).await.unwrap(), 3);
    // A replay of a whole batch stores, debits and writes nothing.
    let replay = store.record_usage(&second, NOW).await.unwrap();
    assert_eq!((replay.accepted, replay.duplicates), (0, 2));
    assert_eq!(store.ledger_entry_count(&org).await.unwrap(), 3);
    assert_eq!(
        store.credit_account(&org).await.unwrap().balance.micros(),
        6 * USD
    );
    assert_invariant(&store, &org, NOW, 0).await;
}

/// A batch larger than one INSERT statement on either engine (PostgreSQL takes 15 records per
/// statement, SQLite 6): a repeated id, and a replay whose old and new records fill different
/// statements, each store and debit a record once.
async fn a_batch_of_many_statements_is_stored_once(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let org = funded_org(&store, "g").await;
    let record = |i: usize, micros: i64| usage_record(&org, &format!("r{i:03}"), micros, NOW);
    // 100 records of 10,000 µUSD, and record 5 again at the end (its first copy counts).
    let mut batch: Vec<_> = (0..100).map(|i| record(i, 10_000)).collect();
    batch.push(record(5, 999_999));
    let first = store.record_usage(&batch, NOW).await.unwrap();
    assert_eq!((first.accepted, first.duplicates), (100, 1));
    // Half of it again, with 50 new records after it.
    let overlap: Vec<_> = (50..150).map(|i| record(i, 10_000)).collect();
    let again = store.record_usage(&overlap, NOW).await.unwrap();
    assert_eq!((again.accepted, again.duplicates), (50, 50));
    assert_eq!(
        store.credit_account(&org).await.unwrap().balance.micros(),
        10 * USD - 150 * 10_000
    );
    assert_eq!(
        store.usage_cost_picos(&org).await.unwrap(),
        150 * 10_000 * 1_000_000
    );
    assert_invariant(&store, &org, NOW, 0).await;
}

/// A usage reporter chooses its records' ids and may use one again once its record is pruned:
/// that is a new record, stored and debited. The batch's ledger entry has a key of its own, so
/// it cannot collide with the entry of the batch that held the first record.
async fn a_record_id_used_again_after_pruning_is_a_new_record(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let org = funded_org(&store, "g").await;
    let record = |at: i64| usage_record(&org, "r1", 2 * USD, at);
    let first = store.record_usage(&[record(NOW)], NOW).await.unwrap();
    assert_eq!(first.accepted, 1);
    let later = NOW + 9 * DAY;
    assert_eq!(store.prune_usage_records(NOW + 1, 100).await.unwrap(), 1);
    let again = store.record_usage(&[record(later)], later).await.unwrap();
    assert_eq!((again.accepted, again.duplicates), (1, 0));
    assert_eq!(
        store.credit_account(&org).await.unwrap().balance.micros(),
        6 * USD
    );
    // The grant's entry and one per batch.
    assert_eq!(store.ledger_entry_count(&org).await.unwrap(), 3);
    assert_invariant(&store, &org, later, 0).await;
}

async fn concurrent_usage_and_grants_keep_the_invariant(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let org = org(&store, "a@example.com").await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (store, org) = (store.clone(), org.clone());
            tokio::spawn(async move {
                if i % 4 == 0 {
                    store
                        .grant_credits(
                            &org,
                            &grant(GrantSource::Purchase, 3 * USD, None, &format!("g{i}")),
                            NOW,
                        )
                        .await
                        .unwrap();
                } else {
                    store
                        .debit_usage(&org, Money::from_micros(USD), &format!("u{i}"), NOW)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // Ten grants of $3, thirty debits of $1.
    assert_eq!(
        store.credit_account(&org).await.unwrap().balance,
        Money::ZERO
    );
    assert_invariant(&store, &org, NOW, 0).await;
}

on_both_engines!(
    random_operations_keep_the_invariant,
    fifty_concurrent_holds_against_ten_admit_ten,
    grants_are_drawn_in_order_and_expire,
    usage_may_go_below_zero_and_the_next_grant_pays_the_debt,
    holds_settle_release_and_expire,
    usage_records_are_stored_once,
    a_batch_of_many_statements_is_stored_once,
    a_record_id_used_again_after_pruning_is_a_new_record,
    concurrent_usage_and_grants_keep_the_invariant,
);
