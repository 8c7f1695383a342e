//! Key authentication from memory, on one core: look-ups per second, as a ratio to hashing the
//! secret alone with SHA-256 (which every look-up does too), both measured in this run.
//!
//! `cargo bench -p tollgate-bench --bench key_auth`
//!
//! A real `App` is built on a fresh SQLite database with one key, and its change-log follower
//! runs on the same single thread (the benchmark yields to it between batches), so the cache is
//! trusted exactly as in a server. The report says if any batch had to ask the database.

#![allow(clippy::print_stdout)]

mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tollgate_domain::api_key::PresentedKey;
use tollgate_server::{App, ServerConfig};
use tollgate_store::{Store, StoreOptions};

const BATCH: u32 = 10_000;
const RUN_FOR: Duration = Duration::from_secs(2);

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("tollgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite:{}", dir.join("bench.db").display());
    let store = Store::connect(&url, StoreOptions::default()).await?;
    store.migrate().await?;
    let (_, key) = support::one_key(&store).await?;
    let app = Arc::new(App::new(store.clone(), ServerConfig::default())?);
    let follower = tokio::spawn(tollgate_server::changes::follow(app.clone()));
    while !app.keys.cache().is_trusted() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The first look-up reads the database; every later one is answered from memory.
    app.keys.authenticate(&key).await?;

    let (lookups, untrusted_batches) = measure_lookups(&app, &key).await?;
    let hashes = measure_hashing(&key);
    follower.abort();
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);

    println!("key authentication from memory, one core:");
    println!("  authenticate(key):      {:>12.0} look-ups/s", lookups);
    println!("  SHA-256 of the secret:  {:>12.0} hashes/s", hashes);
    println!(
        "  ratio:                  {:>12.2} (look-ups per second / hashes per second)",
        lookups / hashes
    );
    if untrusted_batches > 0 {
        println!("  note: {untrusted_batches} batches ran while the cache was not trusted (database look-ups)");
    }
    Ok(())
}

/// Look-ups per second; also counts batches that started with the cache untrusted.
async fn measure_lookups(app: &App, key: &str) -> anyhow::Result<(f64, u32)> {
    let mut done: u64 = 0;
    let mut untrusted = 0;
    let start = Instant::now();
    while start.elapsed() < RUN_FOR {
        if !app.keys.cache().is_trusted() {
            untrusted += 1;
        }
        for _ in 0..BATCH {
            black_box(app.keys.authenticate(black_box(key)).await?);
        }
        done += u64::from(BATCH);
        // Let the change-log follower (and the "last used" writer) run, as a server would.
        tokio::task::yield_now().await;
    }
    Ok((per_second(done, start.elapsed()), untrusted))
}

fn measure_hashing(key: &str) -> f64 {
    let secret = PresentedKey::parse(key).map_or("", |k| k.secret).to_owned();
    let mut done: u64 = 0;
    let start = Instant::now();
    while start.elapsed() < RUN_FOR {
        for _ in 0..BATCH {
            black_box(Sha256::digest(black_box(secret.as_bytes())));
        }
        done += u64::from(BATCH);
    }
    per_second(done, start.elapsed())
}

#[allow(clippy::cast_precision_loss)]
fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}
