//! Usage analytics over a large organization (issue 13, DESIGN §5): p99 ≤ 20 ms on SQLite and
//! PostgreSQL for the usage API and the console's Usage page over 30 days grouped by day and
//! model, printed beside the same question asked of the raw records; and, on the same
//! database, the Members page, a member search and the API keys list (first page and a deep
//! cursor).
//!
//! The seeded organization: 10,000,000 usage records over 90 days across 100 projects, 10,000
//! keys and 20 models; 10,000 members and 100,000 API keys. Seeding is set-based (one
//! `INSERT … SELECT` over a generated series per million rows), and the rollups are written by
//! `Store::rebuild_rollups`, the code behind `tollgate admin usage rebuild-rollups`.
//!
//! `cargo bench -p tollgate-bench --bench usage_queries` (PostgreSQL too when
//! `TOLLGATE_TEST_POSTGRES_URL` is set). `TOLLGATE_BENCH_USAGE_RECORDS` sets the number of
//! usage records for a quick run (default 10,000,000); `TOLLGATE_BENCH_ENGINES` = `sqlite`,
//! `postgres` or both (default).

#![allow(clippy::print_stdout)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_domain::{Clock, Email, Name};
use tollgate_server::console::usage_pages::{usage_context, UsageQuery as PageQuery};
use tollgate_server::service::analytics::UsageFilter;
use tollgate_server::{App, ServerConfig};
use tollgate_store::testing::TestDb;
use tollgate_store::{Engine, NewUser, Store, UsageDim, User, DAY_MS};

const PROJECTS: i64 = 100;
const USAGE_KEYS: i64 = 10_000;
const MODELS: i64 = 20;
const DAYS: i64 = 90;
const MEMBERS: i64 = 10_000;
const API_KEYS: i64 = 100_000;
const CHUNK: i64 = 1_000_000;
const SAMPLES: usize = 200;
const RAW_SAMPLES: usize = 3;
const P99_LIMIT: Duration = Duration::from_millis(20);

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let records: i64 = std::env::var("TOLLGATE_BENCH_USAGE_RECORDS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(10_000_000);
    let engines = std::env::var("TOLLGATE_BENCH_ENGINES").unwrap_or_default();
    runtime.block_on(async {
        if engines.is_empty() || engines.contains("sqlite") {
            run(Engine::Sqlite, records).await?;
        }
        if engines.is_empty() || engines.contains("postgres") {
            if std::env::var(tollgate_store::testing::POSTGRES_URL_VAR).is_ok_and(|v| !v.is_empty())
            {
                run(Engine::Postgres, records).await?;
            } else {
                println!(
                    "postgres: skipped ({} not set)",
                    tollgate_store::testing::POSTGRES_URL_VAR
                );
            }
        }
        Ok(())
    })
}

/// A generated series `n` in `[lo, hi)` as a subquery, per engine.
fn series(engine: Engine, lo: i64, hi: i64) -> String {
    match engine {
        // BIGINT: the seeding's hashes of n overflow a 32-bit integer.
        Engine::Postgres => format!(
            "(SELECT n FROM generate_series(CAST({lo} AS BIGINT), CAST({} AS BIGINT)) AS g(n)) AS s",
            hi - 1
        ),
        Engine::Sqlite => format!(
            "(WITH RECURSIVE r(n) AS (SELECT {lo} UNION ALL SELECT n + 1 FROM r WHERE n < {}) SELECT n FROM r) AS s",
            hi - 1
        ),
    }
}

/// An id of the shape `new_id` makes (`prefix_` and 24 hex digits) from the SQL integer `n`.
fn hex_id(engine: Engine, prefix: &str, n: &str) -> String {
    match engine {
        Engine::Postgres => format!("'{prefix}_' || lpad(to_hex({n}), 24, '0')"),
        Engine::Sqlite => format!("'{prefix}_' || printf('%024x', {n})"),
    }
}

struct Seeded {
    store: Store,
    admin: User,
    org_id: tollgate_domain::OrgId,
    deep_key: String,
}

async fn seed(engine: Engine, db: &TestDb, records: i64) -> anyhow::Result<Seeded> {
    let store = db.store().await;
    let now = tollgate_domain::clock::SystemClock.now_ms();
    let today = now - now.rem_euclid(DAY_MS);
    let start = today - (DAYS - 1) * DAY_MS;
    let email = Email::parse("bench-admin@example.com")?;
    let name = Name::parse("name", "Bench Admin")?;
    let (admin, org) = store
        .create_user(
            NewUser {
                email: &email,
                name: &name,
                password_hash: "x",
            },
            &name,
            now,
        )
        .await?;
    let org_id = org.id.clone();
    let exec = |sql: String| {
        let store = store.clone();
        async move { store.execute_for_bench(&sql).await }
    };
    let t = Instant::now();
    exec(format!(
        "INSERT INTO projects (id, org_id, name, is_default, archived_at, created_at) \
         SELECT {}, '{org_id}', 'Project ' || n, 0, NULL, {now} FROM {}",
        hex_id(engine, "prj", "n"),
        series(engine, 0, PROJECTS)
    ))
    .await?;
    // Members: users and their memberships.
    exec(format!(
        "INSERT INTO users (id, email, name, password_hash, created_at) \
         SELECT {}, 'member' || n || '@example.com', 'Member ' || n, 'x', {now} + n FROM {}",
        hex_id(engine, "usr", "n + 1000000"),
        series(engine, 0, MEMBERS)
    ))
    .await?;
    exec(format!(
        "INSERT INTO memberships (org_id, user_id, role, created_at) \
         SELECT '{org_id}', {}, 'member', {now} + n FROM {}",
        hex_id(engine, "usr", "n + 1000000"),
        series(engine, 0, MEMBERS)
    ))
    .await?;
    // API keys: key k belongs to project k % 100; keys below 10,000 carry the usage.
    exec(format!(
        "INSERT INTO api_keys (id, public_id, secret_hash, project_id, org_id, name, created_by, created_at) \
         SELECT {}, 'pub' || n, 'hash' || n, {}, '{org_id}', 'Key ' || n, NULL, {now} + n FROM {}",
        hex_id(engine, "key", "n"),
        hex_id(engine, "prj", &format!("n % {PROJECTS}")),
        series(engine, 0, API_KEYS)
    ))
    .await?;
    println!(
        "  seeded {PROJECTS} projects, {MEMBERS} members, {API_KEYS} API keys in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // Usage records, spread over the 90 days up to now by a multiplicative hash of n.
    let span = now - start;
    let t = Instant::now();
    let mut lo = 0;
    while lo < records {
        let hi = (lo + CHUNK).min(records);
        let key = format!("((n * 48271) % {USAGE_KEYS})");
        exec(format!(
            "INSERT INTO usage_records (id, org_id, project_id, key_id, model, input_tokens, \
             cached_input_tokens, output_tokens, cost, cost_picos, plan, status, latency_ms, ttft_ms, \
             estimated, occurred_at, recorded_at) \
             SELECT 'req_' || n, '{org_id}', {project}, {key_id}, 'model-' || ((n * 69069 / 7) % {MODELS}), \
             100 + n % 2000, n % 100, 50 + (n * 3) % 800, \
             ((100 + n % 2000) * 150000 + (50 + (n * 3) % 800) * 600000) / 1000000, \
             (100 + n % 2000) * 150000 + (50 + (n * 3) % 800) * 600000, 'payg', \
             CASE WHEN n % 50 = 0 THEN '500' ELSE 'ok' END, 100 + n % 900, 20 + n % 200, 0, \
             {start} + (n * 2654435761) % {span}, {start} + (n * 2654435761) % {span} \
             FROM {}",
            series(engine, lo, hi),
            project = hex_id(engine, "prj", &format!("({key} % {PROJECTS})")),
            key_id = hex_id(engine, "key", &key),
        ))
        .await?;
        lo = hi;
    }
    println!(
        "  seeded {records} usage records in {:.1} s ({:.0} records/s)",
        t.elapsed().as_secs_f64(),
        f64::from(u32::try_from(records).unwrap_or(u32::MAX)) / t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let rows = store.rebuild_rollups(Some(&org_id), start).await?;
    println!(
        "  rebuilt the rollups ({rows} rows) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    store.analyze_for_bench().await?;
    // A cursor 90% of the way down the organization's keys (ordered by creation).
    let deep_key = tollgate_domain::new_id(tollgate_domain::IdPrefix::ApiKey);
    let deep_key = store
        .nth_key_for_bench(&org_id, API_KEYS * 9 / 10)
        .await?
        .unwrap_or(deep_key);
    Ok(Seeded {
        store,
        admin,
        org_id,
        deep_key,
    })
}

/// (p50, p99, max) of `SAMPLES` runs after a few to warm up.
async fn measure<F, Fut>(samples: usize, mut f: F) -> anyhow::Result<(Duration, Duration, Duration)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    for _ in 0..samples.min(5) {
        f().await?;
    }
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        f().await?;
        times.push(t.elapsed());
    }
    times.sort();
    let at = |q: usize| times[(times.len() * q / 100).min(times.len() - 1)];
    Ok((at(50), at(99), times[times.len() - 1]))
}

fn ms(d: Duration) -> String {
    format!("{:8.2} ms", d.as_secs_f64() * 1000.0)
}

fn line(label: &str, (p50, p99, max): (Duration, Duration, Duration)) -> bool {
    let ok = p99 <= P99_LIMIT;
    println!(
        "  {label:<44} p50 {} p99 {} max {}  {}",
        ms(p50),
        ms(p99),
        ms(max),
        if ok { "ok" } else { "OVER 20 ms" }
    );
    ok
}

async fn run(engine: Engine, records: i64) -> anyhow::Result<()> {
    println!("{engine:?}: {records} usage records, {API_KEYS} API keys, {MEMBERS} members");
    let db = TestDb::new(engine).await;
    let s = seed(engine, &db, records).await?;
    let app = Arc::new(App::new(s.store.clone(), ServerConfig::default())?);
    let now = app.now();
    let end = now - now.rem_euclid(DAY_MS) + DAY_MS;
    let filter = UsageFilter {
        start: end - 30 * DAY_MS,
        end,
        group_by: vec![UsageDim::Day, UsageDim::Model],
        ..UsageFilter::default()
    };
    let (admin, org) = (&s.admin, &s.org_id);
    let mut all_ok = true;

    let api = measure(SAMPLES, || async {
        let r = app.usage_report(admin, org, &filter).await?;
        serde_json::to_vec(&r.groups.len())?;
        Ok(())
    })
    .await?;
    let raw = measure(RAW_SAMPLES, || async {
        s.store
            .raw_usage_by_day_and_model_for_bench(org, filter.start, filter.end)
            .await?;
        Ok(())
    })
    .await?;
    all_ok &= line("usage API, 30 days by day and model", api);
    println!(
        "  {:<44} p50 {} (same question over raw records, {RAW_SAMPLES} runs)",
        "  … over raw records",
        ms(raw.0)
    );
    let page_q: PageQuery = serde_json::from_value(serde_json::json!({"range": "30d"}))?;
    let page = measure(SAMPLES, || async {
        usage_context(&app, admin, org, &page_q).await?;
        Ok(())
    })
    .await?;
    all_ok &= line("Usage page (context: queries + SVG charts)", page);
    let members = measure(SAMPLES, || async {
        app.list_members(admin, org, None, None, 50).await?;
        Ok(())
    })
    .await?;
    all_ok &= line("Members page, first 50", members);
    let search = measure(SAMPLES, || async {
        app.list_members(admin, org, Some("member4242"), None, 50)
            .await?;
        Ok(())
    })
    .await?;
    all_ok &= line("member search \"member4242\"", search);
    let keys = measure(SAMPLES, || async {
        app.list_org_api_keys(admin, org, None, 50).await?;
        Ok(())
    })
    .await?;
    all_ok &= line("API keys list, first page", keys);
    let deep = measure(SAMPLES, || async {
        app.list_org_api_keys(admin, org, Some(&s.deep_key), 50)
            .await?;
        Ok(())
    })
    .await?;
    all_ok &= line("API keys list, cursor at 90,000", deep);
    println!(
        "  {}",
        if all_ok {
            "every p99 within 20 ms"
        } else {
            "SOME p99 OVER 20 ms"
        }
    );
    s.store.close().await;
    drop(db);
    Ok(())
}
