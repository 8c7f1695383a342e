//! Usage recording into the ledger (DESIGN §5: ≥ 20,000 records/s on SQLite and PostgreSQL):
//! `Store::record_usage` in batches of 1,000 records of one organization — each record stored
//! once by id and its cost debited from the grants — against plain inserts of the same rows
//! into a table of the same shape, both measured in this run on the same database.
//!
//! `cargo bench -p tollgate-bench --bench usage_recording` (PostgreSQL too when
//! `TOLLGATE_TEST_POSTGRES_URL` is set).

#![allow(clippy::print_stdout)]

use std::time::Instant;
use tollgate_domain::CallerId;

use sqlx::any::AnyPoolOptions;
use tollgate_domain::ledger::{GrantSource, UsageCost};
use tollgate_domain::{Email, Name};
use tollgate_store::testing::TestDb;
use tollgate_store::{Engine, NewGrant, NewUser, UsageRecord};

const BATCH: usize = 1_000;
const BATCHES: usize = 30;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        run(Engine::Sqlite).await?;
        if std::env::var(tollgate_store::testing::POSTGRES_URL_VAR).is_ok_and(|v| !v.is_empty()) {
            run(Engine::Postgres).await?;
        } else {
            println!(
                "postgres: skipped ({} not set)",
                tollgate_store::testing::POSTGRES_URL_VAR
            );
        }
        Ok(())
    })
}

fn records(org_id: &tollgate_domain::OrgId, batch: usize) -> Vec<UsageRecord> {
    (0..BATCH)
        .map(|i| UsageRecord {
            id: format!("req-{batch}-{i}"),
            org_id: org_id.clone(),
            project_id: tollgate_domain::ProjectId::from_stored("prj_bench".to_owned()),
            key_id: CallerId::from_stored("key_bench".to_owned()),
            model: "bench-model".to_owned(),
            input_tokens: 1_000,
            cached_input_tokens: 100,
            output_tokens: 200,
            // 1,234.5 µUSD: exact pricing carries the half.
            cost: UsageCost::from_picos(1_234_500_000).unwrap_or_default(),
            plan: "payg",
            status: "ok".to_owned(),
            latency_ms: Some(12),
            ttft_ms: None,
            estimated: false,
            occurred_at: 1_790_000_000_000,
        })
        .collect()
}

async fn run(engine: Engine) -> anyhow::Result<()> {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (_, org) = store
        .create_user(
            NewUser {
                email: &Email::parse("bench@example.com").map_err(|e| anyhow::anyhow!("{e}"))?,
                name: &Name::parse("name", "Bench").map_err(|e| anyhow::anyhow!("{e}"))?,
                password_hash: "x",
            },
            &Name::parse("name", "Bench org").map_err(|e| anyhow::anyhow!("{e}"))?,
            1,
        )
        .await?;
    store
        .grant_credits(
            &org.id,
            &NewGrant {
                source: GrantSource::Promotion,
                amount: tollgate_domain::Money::from_micros(1_000_000_000_000),
                expires_at: None,
                idempotency_key: "bench",
                reference: None,
                description: "bench",
            },
            1,
        )
        .await?;

    // Plain inserts of the same rows, in one transaction per batch, one statement per row.
    let pool = AnyPoolOptions::new()
        .max_connections(2)
        .connect(&db.url)
        .await?;
    sqlx::query("CREATE TABLE plain_usage AS SELECT * FROM usage_records WHERE 1 = 0")
        .execute(&pool)
        .await?;
    let started = Instant::now();
    for b in 0..BATCHES {
        let mut tx = pool.begin().await?;
        for r in records(&org.id, b) {
            sqlx::query(
                "INSERT INTO plain_usage (id, org_id, project_id, key_id, model, input_tokens, cached_input_tokens, \
                 output_tokens, cost, cost_picos, plan, status, latency_ms, occurred_at, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(&r.id).bind(r.org_id.as_str()).bind(r.project_id.as_str()).bind(r.key_id.as_str()).bind(&r.model)
            .bind(r.input_tokens).bind(r.cached_input_tokens).bind(r.output_tokens)
            .bind(r.cost.rounded().micros()).bind(r.cost.picos()).bind(r.plan).bind(&r.status).bind(r.latency_ms).bind(r.occurred_at).bind(2_i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    let plain = (BATCH * BATCHES) as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    for b in 0..BATCHES {
        let done = store.record_usage(&records(&org.id, b), 2).await?;
        anyhow::ensure!(done.accepted == BATCH, "every record is new");
    }
    let ledger = (BATCH * BATCHES) as f64 / started.elapsed().as_secs_f64();

    // Exactly once: a replay changes nothing.
    let replay = store.record_usage(&records(&org.id, 0), 3).await?;
    anyhow::ensure!(replay.accepted == 0 && replay.duplicates == BATCH);
    let total = store.ledger_total(&org.id).await?;
    // Each record costs $0.0012345 exactly; the ledger carries the half micro-dollars.
    anyhow::ensure!(total.micros() == 1_000_000_000_000 - (BATCH * BATCHES) as i64 * 2_469 / 2);

    println!(
        "{}: record_usage {:.0} records/s; plain inserts {:.0} rows/s; ratio {:.2} (target ≥ 20,000 records/s: {})",
        engine.as_str(),
        ledger,
        plain,
        ledger / plain,
        if ledger >= 20_000.0 { "met" } else { "NOT met" }
    );
    pool.close().await;
    Ok(())
}
