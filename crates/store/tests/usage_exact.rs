#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Usage in the ledger at the edges, on both engines (issue 9, decision 0007): a million tiny
//! records charged to within one micro-dollar of Σ tokens × price, extreme amounts that never
//! take an amount out of the ledger's range (nor a SQLite column to REAL), and a record the
//! ledger cannot take rejected without its batch.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tollgate_domain::ledger::{usage_cost, GrantSource, TokenCounts, TokenPrices, LEDGER_LIMIT};
use tollgate_domain::usage::{UsageCost, PICOS_PER_MICRO};
use tollgate_domain::CallerId;
use tollgate_domain::{Email, Money, Name, OrgId, ProjectId};
use tollgate_store::testing::{held, TestDb};
use tollgate_store::{on_both_engines, Engine, NewGrant, NewUser, Store, StoreError, UsageRecord};

const NOW: i64 = 1_790_000_000_000;
const USD: i64 = 1_000_000;

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

async fn grant(store: &Store, org: &OrgId, amount: i64, key: &str) -> Result<(), StoreError> {
    store
        .grant_credits(
            org,
            &NewGrant {
                source: GrantSource::Promotion,
                amount: Money::from_micros(amount),
                expires_at: None,
                idempotency_key: key,
                reference: None,
                description: "test",
            },
            NOW,
        )
        .await
        .map(|_| ())
}

fn record(id: String, org: &OrgId, tokens: TokenCounts, cost: UsageCost) -> UsageRecord {
    UsageRecord {
        id,
        org_id: org.clone(),
        project_id: ProjectId::from_stored("prj_x".into()),
        key_id: CallerId::from_stored("key_x".into()),
        model: "m".into(),
        input_tokens: tokens.input,
        cached_input_tokens: tokens.cached_input,
        output_tokens: tokens.output,
        cost,
        plan: "payg",
        status: "ok".into(),
        latency_ms: Some(1),
        ttft_ms: None,
        estimated: false,
        occurred_at: NOW,
    }
}

/// balance = Σ entries = Σ unexpired grants' remaining − debt, every amount within range, and
/// every money column of the account still an integer (a REAL would fail to decode).
async fn assert_sound(store: &Store, org: &OrgId) {
    let account = store.credit_account(org).await.unwrap();
    let entries = store.ledger_total(org).await.unwrap();
    let (grants, debt) = store.grants_remaining_and_debt(org, NOW).await.unwrap();
    assert_eq!(account.balance, entries, "balance = Σ entries");
    assert_eq!(
        account.balance.micros(),
        grants.micros() - debt.micros(),
        "balance = grants − debt"
    );
    for v in [account.balance, account.held, debt, grants].map(Money::micros) {
        assert!(
            (-LEDGER_LIMIT..=LEDGER_LIMIT).contains(&v),
            "{v} out of range"
        );
    }
    assert!((0..PICOS_PER_MICRO).contains(&account.usage_carry));
}

/// What the organization was charged, checked against Σ exact cost: whole micro-dollars
/// debited plus the carry are exactly the pico-USD recorded.
async fn assert_exact(store: &Store, org: &OrgId, balance_before: i64, exact_picos: i128) {
    let account = store.credit_account(org).await.unwrap();
    let charged = i128::from(balance_before - account.balance.micros());
    assert_eq!(
        charged * i128::from(PICOS_PER_MICRO) + i128::from(account.usage_carry),
        exact_picos,
        "charged + carry = Σ tokens × price"
    );
    assert_eq!(store.usage_cost_picos(org).await.unwrap(), exact_picos);
    let off = exact_picos - charged * i128::from(PICOS_PER_MICRO);
    assert!(
        (0..i128::from(PICOS_PER_MICRO)).contains(&off),
        "within one micro-dollar"
    );
}

async fn a_million_tiny_records_are_charged_exactly(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    // $0.20 and $0.85 per million tokens (qwen2.5-coder's price, and one with a cached price):
    // a record of 1 or 2 tokens costs 0.2 to 1.7 µUSD, which rounded alone is $0 or $0.000001.
    let prices = [
        TokenPrices {
            input: 200_000,
            cached_input: 200_000,
            output: 200_000,
        },
        TokenPrices {
            input: 850_000,
            cached_input: 425_000,
            output: 850_000,
        },
    ];
    let orgs = [
        org(&store, "a@example.com").await,
        org(&store, "b@example.com").await,
    ];
    for o in &orgs {
        grant(&store, o, 10 * USD, "g").await.unwrap();
    }
    let mut exact = [0i128; 2];
    let mut rng = StdRng::seed_from_u64(9);
    let (batches, per_batch) = (200, 5_000);
    for b in 0..batches {
        let batch: Vec<UsageRecord> = (0..per_batch)
            .map(|i| {
                let which = rng.gen_range(0..2);
                let input = rng.gen_range(0..=2);
                let tokens = TokenCounts {
                    input,
                    cached_input: rng.gen_range(0..=input),
                    output: rng.gen_range(0..=2 - input),
                };
                let cost = usage_cost(prices[which], tokens).unwrap();
                exact[which] += i128::from(cost.picos());
                record(format!("r{b}-{i}"), &orgs[which], tokens, cost)
            })
            .collect();
        let recorded = store.record_usage(&batch, NOW).await.unwrap();
        assert_eq!(recorded.accepted, per_batch);
    }
    for (o, picos) in orgs.iter().zip(exact) {
        assert_exact(&store, o, 10 * USD, picos).await;
        assert_sound(&store, o).await;
    }
    assert!(
        exact.iter().all(|p| *p > i128::from(100 * PICOS_PER_MICRO)),
        "the records cost something: {exact:?}"
    );
}

/// Random operations with extreme amounts: records costing up to `i64::MAX` pico-USD, debits and
/// grants up to the ledger's limit and beyond, holds of any size. Whatever is refused changes
/// nothing; the ledger stays sound and exact after every step.
async fn extreme_amounts_keep_the_ledger_sound(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let org = org(&store, "a@example.com").await;
    let extremes = [
        0,
        1,
        PICOS_PER_MICRO - 1,
        PICOS_PER_MICRO,
        i64::MAX / 2,
        i64::MAX - PICOS_PER_MICRO,
        i64::MAX,
    ];
    let amounts = [
        1,
        USD,
        LEDGER_LIMIT / 3,
        LEDGER_LIMIT - 1,
        LEDGER_LIMIT,
        LEDGER_LIMIT + 1,
        i64::MAX,
    ];
    let mut rng = StdRng::seed_from_u64(7);
    let mut exact: i128 = 0;
    let mut charged_elsewhere: i128 = 0;
    let mut granted: i128 = 0;
    let mut refused = 0;
    for step in 0..150 {
        let before = store.credit_account(&org).await.unwrap();
        match rng.gen_range(0..5) {
            0 | 1 => {
                let batch: Vec<UsageRecord> = (0..rng.gen_range(1..6))
                    .map(|i| {
                        let picos = extremes[rng.gen_range(0..extremes.len())];
                        let cost = UsageCost::from_picos(picos).unwrap();
                        record(format!("s{step}-{i}"), &org, TokenCounts::default(), cost)
                    })
                    .collect();
                let recorded = store.record_usage(&batch, NOW).await.unwrap();
                assert_eq!(recorded.accepted + recorded.rejected.len(), batch.len());
                refused += recorded.rejected.len();
                for r in &batch {
                    if !recorded.rejected.iter().any(|(id, _)| *id == r.id) {
                        exact += i128::from(r.cost.picos());
                    }
                }
            }
            2 => {
                let amount = amounts[rng.gen_range(0..amounts.len())];
                let key = format!("g{step}");
                match grant(&store, &org, amount, &key).await {
                    Ok(()) => granted += i128::from(amount),
                    Err(StoreError::OutOfRange(_)) => {
                        refused += 1;
                        assert_eq!(store.credit_account(&org).await.unwrap(), before);
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            3 => {
                let amount = amounts[rng.gen_range(0..amounts.len())];
                match store
                    .debit_usage(&org, Money::from_micros(amount), &format!("d{step}"), NOW)
                    .await
                {
                    Ok(applied) => {
                        assert!(applied);
                        charged_elsewhere += i128::from(amount);
                    }
                    Err(StoreError::OutOfRange(_)) => {
                        refused += 1;
                        assert_eq!(store.credit_account(&org).await.unwrap(), before);
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            _ => {
                let amount = amounts[rng.gen_range(0..amounts.len())];
                let hold = store.place_hold(&org, Money::from_micros(amount), 60_000, NOW);
                if let Some(h) = held(hold.await) {
                    assert!(amount <= before.available().micros());
                    assert_eq!(
                        store.credit_account(&org).await.unwrap().held.micros(),
                        before.held.micros() + amount
                    );
                    assert!(store.release_hold(&h, NOW).await.unwrap());
                }
            }
        }
        assert_sound(&store, &org).await;
        let account = store.credit_account(&org).await.unwrap();
        let usage_charged = granted - charged_elsewhere - i128::from(account.balance.micros());
        assert_eq!(
            usage_charged * i128::from(PICOS_PER_MICRO) + i128::from(account.usage_carry),
            exact,
            "step {step}: usage charged exactly"
        );
    }
    assert!(refused > 0, "the run reached the edge of the range");
}

/// A record whose debit would take its organization out of range is rejected with its reason;
/// the other records of the batch, of that organization and another, are stored and debited.
async fn a_record_the_ledger_cannot_take_is_rejected_alone(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (a, b) = (
        org(&store, "a@example.com").await,
        org(&store, "b@example.com").await,
    );
    // Organization a is $1 short of the ledger's floor.
    store
        .debit_usage(&a, Money::from_micros(LEDGER_LIMIT - USD), "deep", NOW)
        .await
        .unwrap();
    let usd = UsageCost::from_picos(USD * PICOS_PER_MICRO).unwrap();
    let huge = UsageCost::from_picos(i64::MAX).unwrap();
    let batch = vec![
        record("b1".into(), &b, TokenCounts::default(), usd),
        record("a-poisoned".into(), &a, TokenCounts::default(), huge),
        record("a-fits".into(), &a, TokenCounts::default(), usd),
        record("b2".into(), &b, TokenCounts::default(), usd),
    ];
    let recorded = store.record_usage(&batch, NOW).await.unwrap();
    assert_eq!(recorded.accepted, 3);
    assert_eq!(
        recorded
            .rejected
            .iter()
            .map(|r| r.0.as_str())
            .collect::<Vec<_>>(),
        ["a-poisoned"]
    );
    assert!(
        recorded.rejected[0].1.contains("range"),
        "{:?}",
        recorded.rejected
    );
    assert!(store.usage_record("a-poisoned").await.unwrap().is_none());
    assert!(store.usage_record("a-fits").await.unwrap().is_some());
    assert_eq!(
        store.credit_account(&a).await.unwrap().balance.micros(),
        -LEDGER_LIMIT
    );
    assert_eq!(
        store.credit_account(&b).await.unwrap().balance.micros(),
        -2 * USD
    );
    // Nothing more fits: a further record is rejected, a replay of a stored one is a duplicate.
    let again = store
        .record_usage(
            &[
                record("a-more".into(), &a, TokenCounts::default(), usd),
                record("a-fits".into(), &a, TokenCounts::default(), usd),
            ],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        (again.accepted, again.duplicates, again.rejected.len()),
        (0, 1, 1)
    );
    // The columns stayed integers on both engines (a REAL fails to decode), the organization
    // can still be read, and its debt is exactly what no grant covered.
    let (_, debt) = store.grants_remaining_and_debt(&a, NOW).await.unwrap();
    assert_eq!(debt.micros(), LEDGER_LIMIT);
    // The rejected record is not in the usage rollups either.
    assert_eq!(
        store.rollup_rows(&a).await.unwrap(),
        store.rollups_from_raw(&a).await.unwrap()
    );
    for o in [&a, &b] {
        assert_sound(&store, o).await;
    }
}

on_both_engines!(
    a_million_tiny_records_are_charged_exactly,
    extreme_amounts_keep_the_ledger_sound,
    a_record_the_ledger_cannot_take_is_rejected_alone,
);
