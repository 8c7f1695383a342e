#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Usage rollups on both engines: after random batches, replays and concurrent writers they
//! equal a direct aggregation of the raw records (in Rust and in SQL); the rebuild agrees;
//! pruning raw records keeps them.

mod common;

use std::collections::BTreeMap;
use tollgate_domain::CallerId;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tollgate_domain::usage::{UsageCost, PICOS_PER_MICRO};
use tollgate_domain::{OrgId, ProjectId};
use tollgate_store::testing::TestDb;
use tollgate_store::{
    on_both_engines, Engine, Grain, Store, UsageQuery, UsageRecord, DAY_MS, HOUR_MS,
};

use common::{new_user, NOW};

/// A record whose content follows from its number, so that whichever writer stores an id
/// first, the stored record is the same.
fn record(org_id: &OrgId, n: u64) -> UsageRecord {
    let mut rng = StdRng::seed_from_u64(n);
    // Around hour and day boundaries: a few minutes either side of midnight and of whole hours.
    let day = rng.gen_range(0..4) * DAY_MS;
    let hour = rng.gen_range(0..3) * HOUR_MS;
    let jitter = rng.gen_range(-120_000..120_000);
    let plan = if rng.gen_bool(0.2) {
        "subscription"
    } else {
        "payg"
    };
    UsageRecord {
        id: format!("req-{n}"),
        org_id: org_id.clone(),
        project_id: ProjectId::from_stored(format!("prj_{}", rng.gen_range(0..3))),
        key_id: CallerId::from_stored(format!("key_{}", rng.gen_range(0..5))),
        model: ["llama-8b", "llama-70b", "qwen, \"big\""][rng.gen_range(0..3)].to_owned(),
        input_tokens: rng.gen_range(0..5_000),
        cached_input_tokens: rng.gen_range(0..100),
        output_tokens: rng.gen_range(0..2_000),
        cost: if plan == "payg" {
            // Exact prices: fractions of a micro-dollar, which rollups must not round away.
            UsageCost::from_picos(rng.gen_range(0..50_000 * PICOS_PER_MICRO)).unwrap()
        } else {
            UsageCost::ZERO
        },
        plan,
        status: ["ok", "200", "429", "500", "timeout"][rng.gen_range(0..5)].to_owned(),
        latency_ms: Some(rng.gen_range(1..900)),
        ttft_ms: None,
        estimated: false,
        occurred_at: NOW - NOW.rem_euclid(DAY_MS) + day + hour + jitter,
    }
}

async fn assert_rollups_match(store: &Store, org: &OrgId, ids: &std::collections::BTreeSet<u64>) {
    let stored = store.rollup_rows(org).await.unwrap();
    let from_sql = store.rollups_from_raw(org).await.unwrap();
    let records: Vec<UsageRecord> = ids.iter().map(|n| record(org, *n)).collect();
    let from_rust: BTreeMap<_, _> = tollgate_store::usage_rollups_of(&records)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(stored, from_rust, "rollups = Σ of the distinct records");
    assert_eq!(stored, from_sql, "rollups = Σ of the raw records in SQL");
    assert!(stored.keys().any(|k| k.grain == Grain::Day));
}

async fn rollups_equal_the_raw_records(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (_, org) = new_user(&store, "a@example.com").await;
    let (_, other) = new_user(&store, "b@example.com").await;
    let mut stored_ids = std::collections::BTreeSet::new();
    let mut rng = StdRng::seed_from_u64(7);
    // Sequential batches mixing new ids, replays of stored ones and repeats within a batch.
    for _ in 0..20 {
        let batch: Vec<UsageRecord> = (0..rng.gen_range(1..40))
            .map(|_| record(&org.id, rng.gen_range(0..300)))
            .collect();
        store.record_usage(&batch, NOW).await.unwrap();
        stored_ids.extend(batch.iter().map(|r| r.id[4..].parse::<u64>().unwrap()));
    }
    // Another organization's usage stays out of this one's rollups.
    store
        .record_usage(&[record(&other.id, 100_000)], NOW)
        .await
        .unwrap();
    // Concurrent writers racing on overlapping ids.
    let tasks: Vec<_> = (0..6u64)
        .map(|w| {
            let (store, org) = (store.clone(), org.id.clone());
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(100 + w);
                let mut ids = Vec::new();
                for _ in 0..8 {
                    let batch: Vec<UsageRecord> = (0..rng.gen_range(1..30))
                        .map(|_| record(&org, rng.gen_range(200..500)))
                        .collect();
                    store.record_usage(&batch, NOW).await.unwrap();
                    ids.extend(batch.iter().map(|r| r.id[4..].parse::<u64>().unwrap()));
                }
                ids
            })
        })
        .collect();
    for t in tasks {
        stored_ids.extend(t.await.unwrap());
    }
    assert_rollups_match(&store, &org.id, &stored_ids).await;

    // The rebuild recomputes the same rows, for one organization or all of them.
    let before = store.rollup_rows(&org.id).await.unwrap();
    store.rebuild_rollups(Some(&org.id), 0).await.unwrap();
    assert_eq!(store.rollup_rows(&org.id).await.unwrap(), before);
    let other_before = store.rollup_rows(&other.id).await.unwrap();
    store.rebuild_rollups(None, 0).await.unwrap();
    assert_eq!(store.rollup_rows(&org.id).await.unwrap(), before);
    assert_eq!(store.rollup_rows(&other.id).await.unwrap(), other_before);
}

async fn a_rebuild_repairs_drifted_rollups(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (_, org) = new_user(&store, "a@example.com").await;
    let records: Vec<UsageRecord> = (0..50).map(|n| record(&org.id, n)).collect();
    store.record_usage(&records, NOW).await.unwrap();
    let right = store.rollup_rows(&org.id).await.unwrap();
    store.corrupt_rollups_for_tests(&org.id).await.unwrap();
    assert_ne!(store.rollup_rows(&org.id).await.unwrap(), right);
    store.rebuild_rollups(Some(&org.id), 0).await.unwrap();
    assert_eq!(store.rollup_rows(&org.id).await.unwrap(), right);
}

async fn pruning_raw_records_keeps_the_rollups(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (_, org) = new_user(&store, "a@example.com").await;
    let records: Vec<UsageRecord> = (0..60).map(|n| record(&org.id, n)).collect();
    store.record_usage(&records, NOW).await.unwrap();
    let rollups = store.rollup_rows(&org.id).await.unwrap();
    let horizon = NOW - NOW.rem_euclid(DAY_MS) + 2 * DAY_MS;
    let old = records.iter().filter(|r| r.occurred_at < horizon).count();
    assert!(old > 0 && old < records.len());
    // Small batches: the loop must go round more than once.
    let pruned = store.prune_usage_records(horizon, 7).await.unwrap();
    assert_eq!(pruned, u64::try_from(old).unwrap());
    assert_eq!(store.rollup_rows(&org.id).await.unwrap(), rollups);
    // A rebuild from the horizon on recomputes only what raw records still cover.
    store.rebuild_rollups(Some(&org.id), horizon).await.unwrap();
    assert_eq!(store.rollup_rows(&org.id).await.unwrap(), rollups);
}

/// Records costing 1.234567 micro-USD each (rounded alone: 1 micro-USD): the rollups' cost,
/// at every grain and through the usage query, is the exact Σ the ledger debited (its balance
/// and carry), not a Σ of rounded costs.
async fn rollup_cost_agrees_with_the_ledger_exactly(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (_, org) = new_user(&store, "a@example.com").await;
    for batch in 0..5 {
        let records: Vec<UsageRecord> = (0..37)
            .map(|i| UsageRecord {
                plan: "payg",
                cost: UsageCost::from_picos(1_234_567).unwrap(),
                ..record(&org.id, batch * 1_000 + i)
            })
            .collect();
        store.record_usage(&records, NOW).await.unwrap();
    }
    let exact = i64::try_from(store.usage_cost_picos(&org.id).await.unwrap()).unwrap();
    assert_eq!(exact, 5 * 37 * 1_234_567);
    let account = store.credit_account(&org.id).await.unwrap();
    assert_eq!(
        -account.balance.micros() * PICOS_PER_MICRO + account.usage_carry,
        exact,
        "the ledger debited the exact sum"
    );
    let rows = store.rollup_rows(&org.id).await.unwrap();
    for grain in Grain::ALL {
        let sum: i128 = rows
            .iter()
            .filter(|(k, _)| k.grain == grain)
            .map(|(_, (t, _))| t.cost_picos)
            .sum();
        assert_eq!(sum, i128::from(exact), "{grain:?}");
    }
    let groups = store
        .usage_groups(&UsageQuery {
            org_id: &org.id,
            start: NOW - NOW.rem_euclid(DAY_MS) - DAY_MS,
            end: NOW - NOW.rem_euclid(DAY_MS) + 5 * DAY_MS,
            group_by: &[],
            project_ids: None,
            key_id: None,
            model: None,
            plan: None,
            max_rows: 10,
        })
        .await
        .unwrap();
    assert_eq!(groups[0].totals.cost_picos, i128::from(exact));
    assert_eq!(groups[0].totals.cost().micros(), exact / PICOS_PER_MICRO);
    // A rebuild from the raw records sums the same exact costs.
    store.rebuild_rollups(Some(&org.id), 0).await.unwrap();
    assert_eq!(store.rollup_rows(&org.id).await.unwrap(), rows);
}

on_both_engines!(
    rollup_cost_agrees_with_the_ledger_exactly,
    rollups_equal_the_raw_records,
    a_rebuild_repairs_drifted_rollups,
    pruning_raw_records_keeps_the_rollups,
);
