#![allow(clippy::unwrap_used, clippy::expect_used)]

//! `tollgate admin token|credits|tier|subscriptions` run as the real binary against a fresh
//! database, on both engines, checked through the store.

mod support;

use support::run;
use tollgate_domain::ledger::GrantSource;
use tollgate_domain::CallerId;
use tollgate_domain::{new_id, secret, IdPrefix};
use tollgate_store::testing::TestDb;
use tollgate_store::{on_both_engines, Engine, Store};

const MODEL: &str = "llama-3.1-8b-instruct";

/// A migrated fresh database (through `tollgate migrate`) and its store.
async fn migrated(engine: Engine) -> (TestDb, Store) {
    let db = TestDb::new(engine).await;
    let (ok, _, err) = run(&["--database-url", &db.url, "migrate"]);
    assert!(ok, "{err}");
    let store = db.store().await;
    (db, store)
}

/// Runs `tollgate --database-url <db> admin <args…>`.
fn admin(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["--database-url", db.url.as_str(), "admin"];
    all.extend_from_slice(args);
    run(&all)
}

/// A user with their personal organization; returns the organization id.
async fn org(store: &Store, email: &str) -> tollgate_domain::OrgId {
    let email = tollgate_domain::Email::parse(email).unwrap();
    let name = tollgate_domain::Name::parse("name", "Ada").unwrap();
    let (_, org) = store
        .create_user(
            tollgate_store::NewUser {
                email: &email,
                name: &name,
                password_hash: "x",
            },
            &name,
            0,
        )
        .await
        .unwrap();
    org.id
}

async fn token_create_prints_a_token_the_store_accepts(engine: Engine) {
    let (db, store) = migrated(engine).await;
    let (ok, out, err) = admin(&db, &["token", "create", "gpu-pool-1"]);
    assert!(ok, "{err}");
    let token = out.trim();
    assert!(token.starts_with("tgop_"), "{out}");
    // Only the SHA-256 of the token is stored, and it finds the token.
    let digest = secret::digest(token);
    assert_eq!(digest.len(), 64);
    assert!(store
        .operator_token_by_hash(&digest)
        .await
        .unwrap()
        .is_some());
    assert!(store.operator_token_by_hash(token).await.unwrap().is_none());
    let tampered = format!("{}x", &token[..token.len() - 1]);
    assert!(store
        .operator_token_by_hash(&secret::digest(&tampered))
        .await
        .unwrap()
        .is_none());

    // The same name twice, or an empty one: refused with a message.
    let (ok, _, err) = admin(&db, &["token", "create", "gpu-pool-1"]);
    assert!(!ok && err.contains("exists already"), "{err}");
    let (ok, _, err) = admin(&db, &["token", "create", "  "]);
    assert!(!ok && err.contains("1 to 100 characters"), "{err}");
}

async fn credits_grant_adds_a_promotional_grant(engine: Engine) {
    let (db, store) = migrated(engine).await;
    let org_id = org(&store, "ada@example.com").await;
    let (ok, out, err) = admin(
        &db,
        &[
            "credits",
            "grant",
            &org_id,
            "25.00",
            "--expires",
            "2030-01-01",
            "--reason",
            "Launch",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("granted 25.00 USD") && out.contains(org_id.as_str()),
        "{out}"
    );
    assert_eq!(
        store
            .credit_account(&org_id)
            .await
            .unwrap()
            .balance
            .micros(),
        25_000_000
    );
    let grants = store
        .credit_grants(&org_id, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(grants.len(), 1);
    let g = &grants[0];
    assert_eq!(
        (
            g.source,
            g.amount.micros(),
            g.remaining.micros(),
            g.description.as_str()
        ),
        (GrantSource::Promotion, 25_000_000, 25_000_000, "Launch")
    );
    assert_eq!(
        g.expires_at,
        Some(1_893_456_000_000),
        "2030-01-01T00:00:00Z"
    );

    // Bad amounts, a past or malformed expiry, an unknown organization: refused, nothing granted.
    for (amount, expected) in [
        ("0", "must be positive"),
        ("-5", "amount"),
        ("abc", "amount"),
        ("2000000", "too large"),
    ] {
        // `--`: so that `-5` is an amount, not an option.
        let (ok, _, err) = admin(&db, &["credits", "grant", "--", &org_id, amount]);
        assert!(!ok && err.contains(expected), "{amount}: {err}");
    }
    let (ok, _, err) = admin(
        &db,
        &["credits", "grant", &org_id, "5", "--expires", "2001-01-01"],
    );
    assert!(!ok && err.contains("in the future"), "{err}");
    let (ok, _, err) = admin(
        &db,
        &["credits", "grant", &org_id, "5", "--expires", "soon"],
    );
    assert!(!ok && err.contains("not a date"), "{err}");
    let (ok, _, err) = admin(&db, &["credits", "grant", "org_nope", "5"]);
    assert!(!ok && err.contains("no organization org_nope"), "{err}");
    assert_eq!(
        store
            .credit_account(&org_id)
            .await
            .unwrap()
            .balance
            .micros(),
        25_000_000
    );
    assert_eq!(
        store
            .credit_grants(&org_id, tollgate_store::PageRequest::first(10))
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn sold_out_override(store: &Store, model: &str, tier: &str) -> Option<bool> {
    store
        .tier_states()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.model == model && s.tier == tier)
        .and_then(|s| s.sold_out_override)
}

async fn tier_sold_out_flips_availability(engine: Engine) {
    let (db, store) = migrated(engine).await;
    assert_eq!(sold_out_override(&store, MODEL, "starter").await, None);
    let (ok, out, err) = admin(&db, &["tier", "sold-out", MODEL, "starter", "on"]);
    assert!(ok, "{err}");
    assert!(out.contains("Temporarily Sold Out"), "{out}");
    assert_eq!(
        sold_out_override(&store, MODEL, "starter").await,
        Some(true)
    );
    let (ok, out, err) = admin(&db, &["tier", "sold-out", MODEL, "starter", "off"]);
    assert!(ok, "{err}");
    assert!(out.contains("open to new subscriptions"), "{out}");
    assert_eq!(
        sold_out_override(&store, MODEL, "starter").await,
        Some(false)
    );

    // Unknown model, unknown tier, a state other than on/off: refused, nothing changed.
    let (ok, _, err) = admin(&db, &["tier", "sold-out", "no-such-model", "starter", "on"]);
    assert!(!ok && err.contains("no model no-such-model"), "{err}");
    let (ok, _, err) = admin(&db, &["tier", "sold-out", MODEL, "platinum", "on"]);
    assert!(!ok && err.contains("has no tier platinum"), "{err}");
    let (ok, _, err) = admin(&db, &["tier", "sold-out", MODEL, "starter", "maybe"]);
    assert!(!ok && err.contains("maybe"), "{err}");
    assert_eq!(
        sold_out_override(&store, MODEL, "starter").await,
        Some(false)
    );
    assert_eq!(sold_out_override(&store, MODEL, "platinum").await, None);
}

async fn subscriptions_list_shows_subscriptions_and_the_count(engine: Engine) {
    let (db, store) = migrated(engine).await;
    let org_id = org(&store, "ada@example.com").await;
    let id = tollgate_domain::SubscriptionId::generate();
    let key = new_id(IdPrefix::Payment);
    store
        .start_subscription(
            &tollgate_store::NewSubscription {
                id: &id,
                org_id: &org_id,
                model: MODEL,
                tier: "starter",
                capacity: None,
                period_start: 1_000,
                period_end: 2_000,
                charge_key: &key,
                amount: tollgate_domain::Money::from_micros(29_000_000),
            },
            1_000,
        )
        .await
        .unwrap();

    let (ok, out, err) = admin(&db, &["subscriptions", "list"]);
    assert!(ok, "{err}");
    let line = out.lines().find(|l| l.contains(id.as_str())).expect(&out);
    assert!(
        line.contains(org_id.as_str()) && line.contains(MODEL) && line.contains("starter"),
        "{line}"
    );
    assert!(out.contains("1 subscriptions"), "{out}");

    let (ok, out, err) = admin(&db, &["subscriptions", "list", "--model", MODEL]);
    assert!(ok, "{err}");
    assert!(
        out.contains(id.as_str()) && out.contains("1 subscriptions"),
        "{out}"
    );
    let (ok, out, err) = admin(
        &db,
        &["subscriptions", "list", "--model", "llama-3.1-70b-instruct"],
    );
    assert!(ok, "{err}");
    assert!(
        !out.contains(id.as_str()) && out.contains("0 subscriptions"),
        "{out}"
    );
}

/// `admin usage rebuild-rollups --org …` recomputes drifted rollups from the raw records, says
/// how many rows it wrote, and refuses an unknown organization or a `--since` before the
/// retention horizon.
async fn usage_rebuild_rollups_repairs_drifted_rollups(engine: Engine) {
    let (db, store) = migrated(engine).await;
    let org_id = org(&store, "ada@example.com").await;
    let now = tollgate_domain::Clock::now_ms(&tollgate_domain::SystemClock);
    let records: Vec<tollgate_store::UsageRecord> = (0..20)
        .map(|n: i64| tollgate_store::UsageRecord {
            id: format!("req-{n}"),
            org_id: org_id.clone(),
            project_id: tollgate_domain::ProjectId::from_stored("prj_1".into()),
            key_id: CallerId::from_stored(format!("key_{}", n % 3)),
            model: MODEL.into(),
            input_tokens: 100 + n,
            cached_input_tokens: 0,
            output_tokens: 10 * n,
            cost: tollgate_domain::usage::UsageCost::from_picos(1_234_567 * (n + 1)).unwrap(),
            plan: "payg",
            status: "ok".into(),
            latency_ms: Some(40),
            ttft_ms: None,
            estimated: false,
            occurred_at: now - n * 3_600_000,
        })
        .collect();
    store.record_usage(&records, now).await.unwrap();
    let right = store.rollup_rows(&org_id).await.unwrap();
    store.corrupt_rollups_for_tests(&org_id).await.unwrap();
    assert_ne!(store.rollup_rows(&org_id).await.unwrap(), right);

    let (ok, out, err) = admin(&db, &["usage", "rebuild-rollups", "--org", &org_id]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("rebuilt ") && out.contains(org_id.as_str()),
        "{out}"
    );
    assert_eq!(store.rollup_rows(&org_id).await.unwrap(), right);

    let (ok, _, err) = admin(&db, &["usage", "rebuild-rollups", "--org", "org_nope"]);
    assert!(!ok && err.contains("no organization"), "{err}");
    let (ok, _, err) = admin(&db, &["usage", "rebuild-rollups", "--since", "2001-01-01"]);
    assert!(!ok && err.contains("oldest day"), "{err}");
}

on_both_engines!(
    usage_rebuild_rollups_repairs_drifted_rollups,
    token_create_prints_a_token_the_store_accepts,
    credits_grant_adds_a_promotional_grant,
    tier_sold_out_flips_availability,
    subscriptions_list_shows_subscriptions_and_the_count,
);

mod limits_commands {
    use super::*;

    async fn limits_set_show_and_clear(engine: Engine) {
        let (db, store) = migrated(engine).await;
        let org_id = org(&store, "ada@example.com").await;
        let (ok, out, err) = admin(&db, &["limits", "set", &org_id, MODEL, "rpm=5", "tph=900"]);
        assert!(ok, "{err}");
        assert!(out.contains("rpm=5 tph=900"), "{out}");
        // A second set keeps what it does not name.
        let (ok, _, err) = admin(&db, &["limits", "set", &org_id, MODEL, "tpm=100"]);
        assert!(ok, "{err}");
        let set = store.org_model_limits(&org_id).await.unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(
            (set[0].1.rpm, set[0].1.tph, set[0].1.tpm, set[0].1.rpd),
            (Some(5), Some(900), Some(100), None)
        );
        let (ok, out, err) = admin(&db, &["limits", "show", &org_id]);
        assert!(ok, "{err}");
        let model_block: Vec<&str> = out.lines().skip_while(|l| *l != MODEL).take(7).collect();
        assert!(
            model_block[1].contains("RPM") && model_block[1].contains("5  custom"),
            "{out}"
        );
        assert!(model_block[3].contains("50000  pay-as-you-go"), "{out}");
        let log = store
            .audit_log(&org_id, tollgate_store::PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(
            log.iter()
                .filter(|e| e.action == "limits.override.set")
                .count(),
            2
        );
        // Refusals: unknown model, bad value, unknown organization.
        let (ok, _, err) = admin(&db, &["limits", "set", &org_id, "nope", "rpm=5"]);
        assert!(!ok && err.contains("no model nope"), "{err}");
        let (ok, _, err) = admin(&db, &["limits", "set", &org_id, MODEL, "rpm=0"]);
        assert!(!ok && err.contains("RPM must be a whole number"), "{err}");
        let (ok, _, err) = admin(&db, &["limits", "show", "org_nope"]);
        assert!(!ok && err.contains("no organization"), "{err}");

        let (ok, _, err) = admin(&db, &["limits", "clear", &org_id, MODEL]);
        assert!(ok, "{err}");
        assert!(store.org_model_limits(&org_id).await.unwrap().is_empty());
        let (ok, _, err) = admin(&db, &["limits", "clear", &org_id, MODEL]);
        assert!(!ok && err.contains("no override"), "{err}");
    }

    on_both_engines!(limits_set_show_and_clear);
}
