#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The org-wide API keys list ("All projects") at size, on SQLite and on PostgreSQL: its pages
//! — the first and one after a deep cursor — come straight from the index
//! `api_keys_live_by_org` (migration 0021) with no sort of the organization's keys, and walking
//! it page by page gives every live key of an active project once, in order, ties included.
//! The plans are the engines' own (`EXPLAIN QUERY PLAN`, `EXPLAIN`) for the statement the
//! store runs, on planner statistics of 24,000 keys in 100 projects of one organization (and a
//! few in another's).

mod common;

use common::{new_user, NOW};
use tollgate_store::testing::TestDb;
use tollgate_store::{on_both_engines, Engine, Store};

/// Keys of the organization listed.
const KEYS: i64 = 24_000;
/// Projects per organization, as many as the benchmark's.
const PROJECTS: i64 = 100;
/// A prime above `KEYS`: `n * 7919 % ID_MOD` numbers the keys' ids in an order unlike `n`'s.
const ID_MOD: i64 = 100_003;

/// A generated series `n` in `[0, hi)` as a subquery, per engine.
fn series(engine: Engine, hi: i64) -> String {
    match engine {
        Engine::Postgres => {
            format!("(SELECT n FROM generate_series(CAST(0 AS BIGINT), CAST({} AS BIGINT)) AS g(n)) AS s", hi - 1)
        }
        Engine::Sqlite => format!(
            "(WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM r WHERE n < {}) SELECT n FROM r) AS s",
            hi - 1
        ),
    }
}

/// `key_` and 24 hex digits of the SQL integer `n`, as `new_id` makes them.
fn hex(engine: Engine, prefix: &str, n: &str) -> String {
    match engine {
        Engine::Postgres => format!("'{prefix}_' || lpad(to_hex({n}), 24, '0')"),
        Engine::Sqlite => format!("'{prefix}_' || printf('%024x', {n})"),
    }
}

fn key_id(n: i64, tag: i64) -> String {
    format!("key_{:024x}", tag * ID_MOD + n * 7919 % ID_MOD)
}

/// Key `n` of an organization: created at `NOW + n / 3` (three keys share each millisecond),
/// in project `n % PROJECTS` (project 3 is archived), revoked when `n % 10 == 3`.
async fn seed_keys(store: &Store, engine: Engine, org_id: &str, tag: i64, keys: i64) {
    let exec = |sql: String| async move { store.execute_for_bench(&sql).await.unwrap() };
    exec(format!(
        "INSERT INTO projects (id, org_id, name, is_default, archived_at, created_at) \
         SELECT {}, '{org_id}', 'Project ' || n, 0, CASE WHEN n = 3 THEN {NOW} END, {NOW} FROM {}",
        hex(engine, "prj", &format!("{tag} * 1000 + n")),
        series(engine, PROJECTS)
    ))
    .await;
    exec(format!(
        "INSERT INTO api_keys (id, public_id, secret_hash, project_id, org_id, name, created_by, \
         created_at, revoked_at) \
         SELECT {}, 'pub{tag}_' || n, 'hash', {}, '{org_id}', 'Key ' || n, NULL, {NOW} + n / 3, \
         CASE WHEN n % 10 = 3 THEN {NOW} END FROM {}",
        hex(
            engine,
            "key",
            &format!("{tag} * {ID_MOD} + n * 7919 % {ID_MOD}")
        ),
        hex(engine, "prj", &format!("{tag} * 1000 + n % {PROJECTS}")),
        series(engine, keys)
    ))
    .await;
}

/// The keys the list shows, in its order: live, in an active project, by (created, id).
fn expected(tag: i64) -> Vec<String> {
    let mut keys: Vec<(i64, String)> = (0..KEYS)
        .filter(|n| n % 10 != 3 && n % PROJECTS != 3)
        .map(|n| (NOW + n / 3, key_id(n, tag)))
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, id)| id).collect()
}

/// Asserts that `plan` reads the page from `api_keys_live_by_org`, starting at the cursor,
/// and sorts nothing.
fn assert_paged_by_index(engine: Engine, plan: &str) {
    match engine {
        Engine::Sqlite => {
            // The keys drive the page (not a loop over projects sorting their keys after).
            assert!(
                plan.starts_with(
                    "SEARCH k USING INDEX api_keys_live_by_org (org_id=? AND (created_at,id)>(?,?))"
                ),
                "the page is not an index range of api_keys_live_by_org:\n{plan}"
            );
            assert!(
                !plan.contains("TEMP B-TREE") && !plan.contains("SCAN k"),
                "the page scans or sorts the keys:\n{plan}"
            );
        }
        Engine::Postgres => {
            let index_scan = plan
                .lines()
                .position(|l| l.contains("Index Scan using api_keys_live_by_org on api_keys k"));
            let index_scan =
                index_scan.unwrap_or_else(|| panic!("no scan of api_keys_live_by_org:\n{plan}"));
            let cond = plan.lines().nth(index_scan + 1).unwrap_or_default();
            assert!(
                cond.contains("Index Cond:") && cond.contains("ROW(created_at, id) > ROW("),
                "the cursor is not an index condition:\n{plan}"
            );
            assert!(
                !plan.contains("Sort") && !plan.contains("Seq Scan on api_keys"),
                "the page scans or sorts the keys:\n{plan}"
            );
        }
    }
}

async fn org_key_list_pages_come_from_the_index(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (_, org) = new_user(&store, "ada@example.com").await;
    let (_, other) = new_user(&store, "bob@example.com").await;
    seed_keys(&store, engine, &org.id, 1, KEYS).await;
    seed_keys(&store, engine, &other.id, 2, 500).await;
    store.analyze_for_bench().await.unwrap();
    let want = expected(1);

    let first = store
        .org_api_keys_plan_for_test(&org.id, None, 50)
        .await
        .unwrap();
    assert_paged_by_index(engine, &first);
    let deep = &want[want.len() * 9 / 10];
    let deep_time = NOW + (0..KEYS).find(|&n| key_id(n, 1) == *deep).unwrap() / 3;
    let deep = store
        .org_api_keys_plan_for_test(&org.id, Some((deep_time, deep)), 50)
        .await
        .unwrap();
    assert_paged_by_index(engine, &deep);

    // The pages, walked with the cursor, are the list: each key once, in order.
    let mut got: Vec<String> = Vec::with_capacity(want.len());
    let mut after: Option<String> = None;
    loop {
        let page = store
            .org_api_keys(&org.id, 1_000, after.as_deref())
            .await
            .unwrap();
        let more = page.len() > 1_000;
        got.extend(page.into_iter().take(1_000).map(|k| k.id));
        if !more {
            break;
        }
        after = got.last().cloned();
    }
    assert_eq!(got.len(), want.len());
    assert!(
        got == want,
        "the walked list differs from the expected order"
    );
}

on_both_engines!(org_key_list_pages_come_from_the_index);
