#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The org-wide API keys list ("All projects") at size, on SQLite and on PostgreSQL: its pages
//! — the first and one after a deep cursor — come straight from the index
//! `api_keys_live_by_org` (migration 0021) with no sort of the organization's keys, and walking
//! it page by page gives every live key of an active project once, in order, ties included.
//! The plans are the engines' own (`EXPLAIN QUERY PLAN`, `EXPLAIN`) for the statement the
//! store runs, on planner statistics of 24,000 keys in 100 projects of one organization (and a
//! few in another's). The Members page and member search likewise come from an organization's
//! memberships (`memberships_by_org_email`, migration 0022), not from the users of all
//! organizations.

mod common;

use common::{new_user, NOW};
use tollgate_domain::OrgId;
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
async fn seed_keys(store: &Store, engine: Engine, org_id: &OrgId, tag: i64, keys: i64) {
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
            .org_api_keys(
                &org.id,
                tollgate_store::PageRequest::after(after.as_deref(), 1_000),
            )
            .await
            .unwrap();
        let more = page.len() > 1_000;
        got.extend(page.into_iter().take(1_000).map(|k| k.id.into_string()));
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

/// Members of the listed organization (besides its founder), and users of another one.
const MEMBERS: i64 = 3_000;
const OTHER_USERS: i64 = 20_000;

/// `n` zero-padded to five digits, in SQL.
fn pad5(engine: Engine, n: &str) -> String {
    match engine {
        Engine::Postgres => format!("lpad(CAST({n} AS TEXT), 5, '0')"),
        Engine::Sqlite => format!("printf('%05d', {n})"),
    }
}

/// `users` user `n` of group `tag`: email `<letter><n, five digits>@example.com`, name
/// `Grace Hopper <n, five digits>`, member of `org_id` (the membership inserted by SQL alone:
/// the columns the list reads are the triggers' to fill).
async fn seed_members(
    store: &Store,
    engine: Engine,
    org_id: &OrgId,
    tag: i64,
    letter: char,
    n: i64,
) {
    let exec = |sql: String| async move { store.execute_for_bench(&sql).await.unwrap() };
    exec(format!(
        "INSERT INTO users (id, email, name, password_hash, created_at) \
         SELECT {}, '{letter}' || {} || '@example.com', 'Grace Hopper ' || {}, 'x', {NOW} FROM {}",
        hex(engine, "usr", &format!("{tag} * 1000000 + n")),
        pad5(engine, "n"),
        pad5(engine, "n"),
        series(engine, n)
    ))
    .await;
    exec(format!(
        "INSERT INTO memberships (org_id, user_id, role, created_at) \
         SELECT '{org_id}', {}, 'member', {NOW} FROM {}",
        hex(engine, "usr", &format!("{tag} * 1000000 + n")),
        series(engine, n)
    ))
    .await;
}

fn member_id(n: i64) -> String {
    format!("usr_{:024x}", 1_000_000 + n)
}

/// Asserts that `plan` reads the page from the organization's memberships in email order —
/// a range of `memberships_by_org_email` starting after the cursor — with a user looked up by
/// id per row, and sorts nothing and scans no table.
fn assert_members_from_memberships(engine: Engine, plan: &str) {
    match engine {
        Engine::Sqlite => {
            assert!(
                plan.starts_with(
                    "SEARCH m USING INDEX memberships_by_org_email (org_id=? AND user_email>?)"
                ),
                "the page is not an index range of the organization's memberships:\n{plan}"
            );
            assert!(
                plan.contains("SEARCH u USING INDEX sqlite_autoindex_users_1 (id=?)"),
                "users are not looked up by id:\n{plan}"
            );
            assert!(
                !plan.contains("TEMP B-TREE") && !plan.contains("SCAN "),
                "the page scans or sorts:\n{plan}"
            );
        }
        Engine::Postgres => {
            let scan = plan
                .lines()
                .position(|l| {
                    l.contains("Index Scan using memberships_by_org_email on memberships m")
                })
                .unwrap_or_else(|| panic!("no scan of memberships_by_org_email:\n{plan}"));
            let cond = plan.lines().nth(scan + 1).unwrap_or_default();
            assert!(
                cond.contains("Index Cond:")
                    && cond.contains("org_id = ")
                    && cond.contains("user_email > "),
                "the organization and the cursor are not index conditions:\n{plan}"
            );
            assert!(
                plan.contains("Index Scan using users_pkey on users u"),
                "users are not looked up by id:\n{plan}"
            );
            // (`user_totp`, empty here, may be scanned: it is read per row of the page.)
            assert!(
                !plan.contains("Sort")
                    && !plan.contains("Seq Scan on memberships")
                    && !plan.contains("Seq Scan on users"),
                "the page scans or sorts:\n{plan}"
            );
        }
    }
}

/// Asserts that a search reads only the organization's memberships, testing the copied
/// columns there (nothing lower-cased at query time), and users by id. SQLite walks the same
/// range as the list; PostgreSQL, for a term it expects to be rare, may instead read the
/// organization's memberships through the primary key's `org_id` prefix and sort the matches.
fn assert_search_within_memberships(engine: Engine, plan: &str) {
    match engine {
        Engine::Sqlite => assert_members_from_memberships(engine, plan),
        Engine::Postgres => {
            let lines: Vec<&str> = plan.lines().collect();
            let scan = lines
                .iter()
                .position(|l| {
                    l.contains("Index Scan using memberships_by_org_email on memberships m")
                        || l.contains("Bitmap Heap Scan on memberships m")
                })
                .unwrap_or_else(|| panic!("memberships are not read by index:\n{plan}"));
            let conds = lines[scan + 1..]
                .iter()
                .take(4)
                .copied()
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                conds.contains("org_id = ") && conds.contains("user_name_lower ~~"),
                "the organization or the search is not tested on its memberships:\n{plan}"
            );
            assert!(
                plan.contains("Index Scan using users_pkey on users u"),
                "users are not looked up by id:\n{plan}"
            );
            assert!(
                !plan.contains("lower(")
                    && !plan.contains("Seq Scan on memberships")
                    && !plan.contains("Seq Scan on users"),
                "the search scans a table or lower-cases at query time:\n{plan}"
            );
        }
    }
}

/// Every page of the list (or of a search), walked with the cursor.
async fn walk_members(
    store: &Store,
    org_id: &OrgId,
    search: Option<&str>,
    limit: i64,
) -> Vec<String> {
    let mut got = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_members(
                org_id,
                search,
                tollgate_store::PageRequest::after(after.as_deref(), limit),
            )
            .await
            .unwrap();
        let more = page.len() as i64 > limit;
        let page: Vec<_> = page.into_iter().take(limit as usize).collect();
        after = page.last().map(|m| m.user_id.to_string());
        got.extend(page.into_iter().map(|m| m.email));
        if !more {
            return got;
        }
    }
}

async fn members_pages_come_from_the_organizations_memberships(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (_, org) = new_user(&store, "ada@example.com").await;
    let (_, other) = new_user(&store, "bob@example.com").await;
    // The other organization's users sort before this one's members by email.
    seed_members(&store, engine, &org.id, 1, 'm', MEMBERS).await;
    seed_members(&store, engine, &other.id, 2, 'a', OTHER_USERS).await;
    store.analyze_for_bench().await.unwrap();

    let deep = member_id(MEMBERS * 9 / 10);
    for after in [None, Some(deep.as_str())] {
        let plan = store
            .list_members_plan_for_test(&org.id, None, after, 50)
            .await
            .unwrap();
        assert_members_from_memberships(engine, &plan);
    }
    for (search, after) in [
        ("hopper", None),
        ("HOPPER 0004", None),
        ("m0012", Some(deep.as_str())),
    ] {
        let plan = store
            .list_members_plan_for_test(&org.id, Some(search), after, 50)
            .await
            .unwrap();
        assert_search_within_memberships(engine, &plan);
    }

    let email = |n: i64| format!("m{n:05}@example.com");
    let mut all = vec!["ada@example.com".to_owned()];
    all.extend((0..MEMBERS).map(email));
    assert!(
        walk_members(&store, &org.id, None, 500).await == all,
        "the walked list differs"
    );
    assert!(
        walk_members(&store, &org.id, Some("hopper"), 100).await == all[1..],
        "the walked search differs"
    );
    assert_eq!(
        walk_members(&store, &org.id, Some("HOPPER 0004"), 50).await,
        (40..50).map(email).collect::<Vec<_>>()
    );
    assert_eq!(
        walk_members(&store, &org.id, Some("m0012"), 3).await,
        (120..130).map(email).collect::<Vec<_>>()
    );
}

on_both_engines!(members_pages_come_from_the_organizations_memberships);
