//! Credit across `tollgate serve` processes sharing one database (a SQLite file, and
//! PostgreSQL), over real HTTP against `tollgate mock-upstream` (decision 0013):
//!
//! - 64 clients hammering two processes on an organization whose credit covers exactly N
//!   requests: at most N are admitted, the balance never goes below zero, and once settled the
//!   balance is the credit minus the recorded costs, to the micro-dollar;
//! - `kill -9` of one process under load: its lease is reclaimed after `credit_lease_ttl_secs`,
//!   no record is debited twice, and only records of the last flush interval are lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::gateway::{chat, write_catalog, Customer, MockUpstream};
use support::{Server, TempDir};
use tollgate_store::testing::TestDb;
use tollgate_store::{on_both_engines, Engine, Store, StoreOptions};

/// Output tokens each request asks for; the mock writes exactly this many.
const MAX_TOKENS: u32 = 10;
/// Input is free and output costs $1,000 per million tokens (1,000 µUSD a token), so a
/// request's maximum cost and its real cost are both exactly this, in µUSD.
const COST: i64 = 10_000;
const PICOS_PER_MICRO: i128 = 1_000_000;
const USD: i64 = 1_000_000;

/// A database, a catalog whose model `m` is served by a mock upstream, and a config file.
struct Setup {
    _mock: MockUpstream,
    dir: TempDir,
    db: TestDb,
}

impl Setup {
    fn new(db: TestDb, config: &str) -> Self {
        let mock = MockUpstream::start();
        let dir = TempDir::new("gateway-credit");
        write_catalog(
            &dir.path().join("catalog.toml"),
            &[&mock.base_url],
            "0",
            "1000",
        );
        std::fs::write(dir.path().join("tollgate.toml"), config).unwrap();
        Self {
            _mock: mock,
            dir,
            db,
        }
    }

    fn serve(&self) -> Server {
        let catalog = self.dir.path().join("catalog.toml");
        let config = self.dir.path().join("tollgate.toml");
        Server::start(
            &[
                "--database-url",
                &self.db.url,
                "--catalog",
                catalog.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
            ],
            &[],
        )
    }

    /// The test's own connection, to watch the ledger from outside the servers.
    async fn store(&self) -> Store {
        Store::connect(&self.db.url, StoreOptions::default())
            .await
            .unwrap()
    }
}

/// Reads the organization's account every few milliseconds until stopped; returns the lowest
/// balance and the lowest available credit (balance − holds) it saw, and how often it looked.
fn watch_account(
    store: Store,
    org: tollgate_domain::OrgId,
) -> (Arc<AtomicBool>, tokio::task::JoinHandle<(i64, i64, u32)>) {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let task = tokio::spawn(async move {
        let (mut balance, mut available, mut looks) = (i64::MAX, i64::MAX, 0);
        while !stopped.load(Ordering::Relaxed) {
            let account = store.credit_account(&org).await.unwrap();
            balance = balance.min(account.balance.micros());
            available = available.min(account.available().micros());
            looks += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (balance, available, looks)
    });
    (stop, task)
}

/// Polls `check` until it holds; fails with `what` after `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn recorded_picos(store: &Store, org: &tollgate_domain::OrgId) -> i128 {
    store.usage_cost_picos(org).await.unwrap()
}

/// 64 clients, half on each process, each sending requests until it is refused with 402, on
/// an organization whose credit covers exactly `N` of them.
async fn two_processes_admit_at_most_the_credit(engine: Engine) {
    const N: i64 = 40;
    let setup = Setup::new(TestDb::new(engine).await, "");
    let a = setup.serve();
    let b = setup.serve();
    let store = setup.store().await;
    let credit = N * COST;
    let customer = Customer::sign_up_on(&[&a, &b], &setup.db.url, "0.40").await;
    assert_eq!(
        store
            .credit_account(&customer.org)
            .await
            .unwrap()
            .balance
            .micros(),
        credit
    );
    let (stop, watcher) = watch_account(store.clone(), customer.org.clone());

    let clients: Vec<_> = (0..64)
        .map(|i| {
            let base = if i % 2 == 0 { &a.base } else { &b.base }.clone();
            let key = customer.key.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut admitted = Vec::new();
                loop {
                    let (status, body, id) = chat(&client, &base, &key, MAX_TOKENS)
                        .await
                        .expect("the server answers");
                    match status {
                        200 => admitted.push(id),
                        402 => {
                            assert_eq!(body["error"]["code"], "insufficient_quota", "{body}");
                            return (i % 2, admitted);
                        }
                        _ => panic!("{status}: {body}"),
                    }
                }
            })
        })
        .collect();
    let mut admitted = Vec::new();
    let mut per_process = [0_usize; 2];
    for client in clients {
        let (process, ids) = client.await.unwrap();
        per_process[process] += ids.len();
        admitted.extend(ids);
    }
    let count = i64::try_from(admitted.len()).unwrap();
    eprintln!("admitted {count} of {N} ({per_process:?} on the two processes)");
    assert!(count <= N, "{count} admitted; the credit covers {N}");
    assert!(
        per_process.iter().all(|n| *n > 0),
        "both processes admit: {per_process:?}"
    );

    // Settled: every admitted request's record is stored and debited once.
    let expected = i128::from(count * COST) * PICOS_PER_MICRO;
    eventually(
        Duration::from_secs(10),
        "the usage of every answer stored",
        || async { recorded_picos(&store, &customer.org).await == expected },
    )
    .await;
    for id in &admitted {
        let (org, cost, plan) = store.usage_record(id).await.unwrap().unwrap();
        assert_eq!(
            (org.as_str(), cost.micros(), plan.as_str()),
            (customer.org.as_str(), COST, "payg")
        );
    }
    let account = store.credit_account(&customer.org).await.unwrap();
    assert_eq!(account.balance.micros(), credit - count * COST);
    assert_eq!(
        i128::from(account.balance.micros()),
        i128::from(credit) - recorded_picos(&store, &customer.org).await / PICOS_PER_MICRO
    );
    assert_eq!(
        store.ledger_total(&customer.org).await.unwrap(),
        account.balance
    );
    // Idle leases go back to the organization.
    eventually(Duration::from_secs(10), "the leases returned", || async {
        store
            .credit_account(&customer.org)
            .await
            .unwrap()
            .held
            .micros()
            == 0
    })
    .await;

    stop.store(true, Ordering::Relaxed);
    let (lowest_balance, lowest_available, looks) = watcher.await.unwrap();
    assert!(looks > 10, "the account was watched ({looks} looks)");
    assert!(lowest_balance >= 0, "balance went to {lowest_balance}");
    assert!(
        lowest_available >= 0,
        "holds exceeded the balance by {}",
        -lowest_available
    );
}

/// Records are stored every `usage_flush_ms` (here 500); the batch being written when the
/// process dies may take up to this much longer to commit, on a busy machine.
const FLUSH: Duration = Duration::from_millis(500);
const WRITE_MARGIN: Duration = Duration::from_millis(500);
const LEASE_TTL_SECS: u64 = 5;

/// One client's requests: (`x-request-id`, when its answer arrived).
type Answers = Vec<(String, Instant)>;

/// Clients on `base` until `stop` (or until the process dies): every answer must be a 200.
fn load(
    base: &str,
    key: &str,
    clients: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Answers>> {
    (0..clients)
        .map(|_| {
            let (base, key, stop) = (base.to_owned(), key.to_owned(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let Some((status, body, id)) = chat(&client, &base, &key, MAX_TOKENS).await
                    else {
                        break;
                    };
                    assert_eq!(status, 200, "{body}");
                    answers.push((id, Instant::now()));
                }
                answers
            })
        })
        .collect()
}

async fn answers(clients: Vec<tokio::task::JoinHandle<Answers>>) -> Answers {
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.await.unwrap());
    }
    all
}

async fn stored(store: &Store, id: &str) -> bool {
    store.usage_record(id).await.unwrap().is_some()
}

/// `kill -9` of one of two processes under load, then a restart: the dead process's lease
/// comes back after `credit_lease_ttl_secs`, every record is debited at most once, and the
/// records lost are only those answered within the last flush interval before the kill.
async fn kill_nine_loses_at_most_a_flush_interval_and_the_lease_expires(engine: Engine) {
    let config = format!(
        "usage_flush_ms = {}\ncredit_lease_ttl_secs = {LEASE_TTL_SECS}\n",
        FLUSH.as_millis()
    );
    let setup = Setup::new(TestDb::new(engine).await, &config);
    let mut a = setup.serve();
    let b = setup.serve();
    let store = setup.store().await;
    let customer = Customer::sign_up_on(&[&a, &b], &setup.db.url, "100").await;

    let stop = Arc::new(AtomicBool::new(false));
    let on_a = load(&a.base, &customer.key, 8, &stop);
    let on_b = load(&b.base, &customer.key, 8, &stop);
    // Under load for a while: both processes hold leases and have stored batches.
    eventually(
        Duration::from_secs(30),
        "usage stored from both",
        || async {
            recorded_picos(&store, &customer.org).await > i128::from(100 * COST) * PICOS_PER_MICRO
        },
    )
    .await;
    let killed_at = Instant::now();
    a.kill_hard();
    let on_a = answers(on_a).await;
    let held_after_kill = store
        .credit_account(&customer.org)
        .await
        .unwrap()
        .held
        .micros();
    assert!(
        held_after_kill > 0,
        "the dead process's lease is still held"
    );

    // Restarted, the process serves again; the other one never stopped.
    let a2 = setup.serve();
    let on_a2 = load(&a2.base, &customer.key, 4, &stop);
    // Until the restarted process has answered (a request of our own, counted with its load).
    let probe = reqwest::Client::new();
    let first = loop {
        match chat(&probe, &a2.base, &customer.key, MAX_TOKENS).await {
            Some((200, _, id)) => break (id, Instant::now()),
            Some((status, body, _)) => panic!("the restarted process answered {status}: {body}"),
            None if killed_at.elapsed() < Duration::from_secs(60) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            None => panic!("the restarted process did not answer within 60 s of the kill"),
        }
    };
    stop.store(true, Ordering::Relaxed);
    let mut on_a2 = answers(on_a2).await;
    on_a2.push(first);
    let on_b = answers(on_b).await;
    assert!(!on_a.is_empty() && !on_b.is_empty() && !on_a2.is_empty());

    // The dead lease expires and every live one goes back once idle.
    let ttl = Duration::from_secs(LEASE_TTL_SECS);
    let reclaimed = Instant::now();
    eventually(
        ttl + Duration::from_secs(10),
        "every lease returned",
        || async {
            store
                .credit_account(&customer.org)
                .await
                .unwrap()
                .held
                .micros()
                == 0
        },
    )
    .await;
    eprintln!(
        "held {held_after_kill} µUSD after the kill; all back {:?} later",
        reclaimed.elapsed()
    );

    // The live processes lose nothing.
    let live: Vec<&String> = on_b.iter().chain(&on_a2).map(|(id, _)| id).collect();
    eventually(
        Duration::from_secs(10),
        "the live processes' usage stored",
        || async {
            for id in &live {
                if !stored(&store, id).await {
                    return false;
                }
            }
            true
        },
    )
    .await;
    // The killed one loses at most what it answered in the last flush interval (and the
    // batch being written).
    let mut lost = 0;
    for (id, answered) in &on_a {
        if !stored(&store, id).await {
            lost += 1;
            let before_kill = killed_at.saturating_duration_since(*answered);
            assert!(
                before_kill <= FLUSH + WRITE_MARGIN,
                "{id}, answered {before_kill:?} before the kill, was lost"
            );
        }
    }
    eprintln!("{} answered by the killed process, {lost} lost", on_a.len());

    // Nothing debited twice: the balance is the credit minus exactly what is recorded.
    let recorded = recorded_picos(&store, &customer.org).await;
    let answered_and_stored = i128::try_from(on_a.len() - lost + live.len()).unwrap();
    let extra = recorded / PICOS_PER_MICRO / i128::from(COST) - answered_and_stored;
    assert!(
        (0..=8).contains(&extra),
        "{extra} records beyond the stored answers (at most the 8 in flight on the killed process)"
    );
    let account = store.credit_account(&customer.org).await.unwrap();
    assert_eq!(
        i128::from(account.balance.micros()),
        i128::from(100 * USD) - recorded / PICOS_PER_MICRO
    );
    assert_eq!(
        store.ledger_total(&customer.org).await.unwrap(),
        account.balance
    );
}

on_both_engines!(
    two_processes_admit_at_most_the_credit,
    kill_nine_loses_at_most_a_flush_interval_and_the_lease_expires,
);
