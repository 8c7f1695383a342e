#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Spend limits on both engines: set, replaced, removed, audited and signalled; the month
//! starts from the usage already stored; spend leases never reserve past the limit, however
//! many lessees at once; stored usage moves what a hold reserves into what was spent, exactly
//! once; expired spend holds go back; alerts are recorded once per month and threshold.

mod common;

use common::{audit, new_user, usage_record, NOW};
use tollgate_domain::limits::spend::{period_of, SpendScope, Thresholds};
use tollgate_domain::CallerId;
use tollgate_domain::{Money, OrgId, ProjectId};
use tollgate_store::testing::TestDb;
use tollgate_store::{
    on_both_engines, ChangeKind, Engine, LeaseGrowth, LeaseSizing, OutgoingEmail, SpendLimit,
    SpendPeriod, SpendUse, Store, UsageRecord,
};

const USD: i64 = 1_000_000;
const TTL: i64 = 60_000;

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

fn limit(org: &OrgId, scope: SpendScope, target: &str, micros: i64) -> SpendLimit {
    SpendLimit {
        scope,
        target_id: target.to_owned(),
        org_id: org.clone(),
        monthly_limit: Money::from_micros(micros),
        thresholds: Thresholds::default_set(),
        updated_at: NOW,
    }
}

/// A usage record on project `prj_p` and key `key_k`.
fn record(org: &OrgId, id: &str, micros: i64, at: i64) -> UsageRecord {
    UsageRecord {
        project_id: ProjectId::from_stored("prj_p".into()),
        key_id: CallerId::from_stored("key_k".into()),
        ..usage_record(org, id, micros, at)
    }
}

fn month(scope: SpendScope, target: &str) -> SpendPeriod {
    SpendPeriod {
        scope,
        target_id: target.to_owned(),
        period: period_of(NOW),
    }
}

async fn org_with_limit(store: &Store, micros: i64) -> OrgId {
    let (_, org) = new_user(store, "ada@example.com").await;
    store
        .set_spend_limit(
            &limit(&org.id, SpendScope::Project, "prj_p", micros),
            NOW,
            audit("spend_limit.set"),
        )
        .await
        .unwrap();
    org.id
}

async fn limits_are_set_replaced_removed_audited_and_signalled(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (_, org) = new_user(&store, "ada@example.com").await;
    // Usage stored before the limit counts for its month (rounded up per record); last
    // month's does not.
    let last_month = NOW - 40 * 86_400_000;
    store
        .record_usage(
            &[
                record(&org.id, "r1", 2 * USD, NOW),
                record(&org.id, "r0", 7 * USD, last_month),
            ],
            NOW,
        )
        .await
        .unwrap();
    let start = store.change_version().await.unwrap();
    let mut set = limit(&org.id, SpendScope::Organization, &org.id, 10 * USD);
    store
        .set_spend_limit(&set, NOW, audit("spend_limit.set"))
        .await
        .unwrap();
    set.thresholds = Thresholds::parse("25").unwrap();
    set.monthly_limit = Money::from_micros(20 * USD);
    store
        .set_spend_limit(&set, NOW, audit("spend_limit.set"))
        .await
        .unwrap();
    assert_eq!(store.spend_limits(&org.id).await.unwrap(), [set.clone()]);
    let used = store
        .spend_use(SpendScope::Organization, &org.id, &period_of(NOW))
        .await
        .unwrap();
    assert_eq!(
        used,
        SpendUse {
            spent: m(2 * USD),
            reserved: m(0),
        }
    );
    assert!(store
        .delete_spend_limit(
            &org.id,
            SpendScope::Organization,
            &org.id,
            NOW,
            audit("spend_limit.delete")
        )
        .await
        .unwrap());
    assert!(!store
        .delete_spend_limit(
            &org.id,
            SpendScope::Organization,
            &org.id,
            NOW,
            audit("spend_limit.delete")
        )
        .await
        .unwrap());
    assert!(store.spend_limits(&org.id).await.unwrap().is_empty());
    let changes = store.changes_since(start, 100).await.unwrap();
    assert_eq!(changes.len(), 3, "two sets and one delete: {changes:?}");
    assert!(changes
        .iter()
        .all(|c| c.kind == ChangeKind::Limits && c.target_id == org.id));
    let log = store
        .audit_log(&org.id, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.action.starts_with("spend_limit."))
            .count(),
        3
    );
}

async fn concurrent_lessees_never_reserve_past_the_limit(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let _org = org_with_limit(&store, 10 * USD).await;
    let of = month(SpendScope::Project, "prj_p");
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let (store, of) = (store.clone(), of.clone());
            tokio::spawn(async move {
                match store
                    .grow_spend_lease(&of, None, sizing(USD, 3 * USD), TTL, NOW)
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
    let used = store
        .spend_use(of.scope, &of.target_id, &of.period)
        .await
        .unwrap();
    assert_eq!(used.reserved, total);
    assert!(total <= m(10 * USD), "reserved {total} of a 10 USD limit");
    // Shares shrink as the headroom does: at the end the last dollars went one at a time.
    assert!(total >= m(9 * USD), "only {total} reserved");
}

async fn usage_moves_reservations_into_spend_exactly_once(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let org = org_with_limit(&store, 10 * USD).await;
    let of = month(SpendScope::Project, "prj_p");
    let LeaseGrowth::Granted { hold_id, added } = store
        .grow_spend_lease(&of, None, sizing(USD, 2 * USD), TTL, NOW)
        .await
        .unwrap()
    else {
        panic!("refused")
    };
    assert_eq!(added, m(2 * USD));
    let holds = vec![vec![(SpendScope::Project, hold_id.clone())]];
    let batch = [record(&org, "r1", USD / 2, NOW)];
    for _ in 0..2 {
        // The second time is a replay: nothing moves.
        store
            .record_usage_on_leases(&batch, &[None], &holds, NOW)
            .await
            .unwrap();
        assert_eq!(
            store
                .spend_use(of.scope, "prj_p", &of.period)
                .await
                .unwrap(),
            SpendUse {
                spent: m(USD / 2),
                reserved: m(3 * USD / 2),
            }
        );
        assert_eq!(
            store.spend_hold_amount(&hold_id).await.unwrap(),
            Some(m(3 * USD / 2))
        );
    }
    // The key and the organization count the record too, without holds.
    for (scope, target) in [
        (SpendScope::ApiKey, "key_k"),
        (SpendScope::Organization, org.as_str()),
    ] {
        assert_eq!(
            store.spend_use(scope, target, &of.period).await.unwrap(),
            SpendUse {
                spent: m(USD / 2),
                reserved: m(0),
            }
        );
    }
    // Headroom is limit − spent − reserved: 8 USD.
    assert_eq!(
        store
            .grow_spend_lease(&of, Some(&hold_id), sizing(9 * USD, 9 * USD), TTL, NOW)
            .await
            .unwrap(),
        LeaseGrowth::Refused {
            available: m(8 * USD)
        }
    );
    // Shrinking gives back; an expired hold goes back entirely, once.
    assert_eq!(
        store
            .shrink_spend_lease(&hold_id, m(USD / 2), TTL, NOW)
            .await
            .unwrap(),
        m(USD / 2)
    );
    assert_eq!(store.expire_spend_holds(NOW + TTL - 1).await.unwrap(), 0);
    assert_eq!(store.expire_spend_holds(NOW + TTL).await.unwrap(), 1);
    assert_eq!(store.expire_spend_holds(NOW + TTL).await.unwrap(), 0);
    assert_eq!(
        store
            .spend_use(of.scope, "prj_p", &of.period)
            .await
            .unwrap(),
        SpendUse {
            spent: m(USD / 2),
            reserved: m(0),
        }
    );
    assert_eq!(store.spend_hold_amount(&hold_id).await.unwrap(), None);
}

async fn alerts_are_recorded_once_per_month_and_threshold(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let org = org_with_limit(&store, 10 * USD).await;
    let email = OutgoingEmail {
        to: "ada@example.com".into(),
        subject: "50%".into(),
        text_body: "t".into(),
        html_body: "h".into(),
        kind: "spend_alert".into(),
    };
    let key = (SpendScope::Project, "prj_p", "2026-09");
    let before = store.outbox_messages(100).await.unwrap().len();
    assert!(store
        .send_spend_alert(key, 50, std::slice::from_ref(&email), NOW)
        .await
        .unwrap());
    assert!(!store
        .send_spend_alert(key, 50, std::slice::from_ref(&email), NOW)
        .await
        .unwrap());
    assert!(store
        .send_spend_alert(
            (SpendScope::Project, "prj_p", "2026-10"),
            50,
            std::slice::from_ref(&email),
            NOW
        )
        .await
        .unwrap());
    assert_eq!(store.outbox_messages(100).await.unwrap().len(), before + 2);
    assert_eq!(
        store.spend_alerts_sent(key.0, key.1, key.2).await.unwrap(),
        [50]
    );
    let _ = org;
}

on_both_engines!(
    limits_are_set_replaced_removed_audited_and_signalled,
    concurrent_lessees_never_reserve_past_the_limit,
    usage_moves_reservations_into_spend_exactly_once,
    alerts_are_recorded_once_per_month_and_threshold,
);
