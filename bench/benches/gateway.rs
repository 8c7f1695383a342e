//! The gateway's added latency (DESIGN §5: p99 added ≤ 1 ms at 2,000 requests/s): an open-loop
//! load generator — requests leave at a constant 2,000 per second whatever the answers do, and
//! each latency counts from when its request was due, so a stall is not hidden — for 10 s (after
//! 2 s at the same rate, unmeasured, so that leases and pools are sized for the load)
//! against `tollgate mock-upstream` directly, then through `tollgate serve` (key auth, plan,
//! credit admission from a lease, rate limits far above the load, metering through the batched
//! writer), on SQLite and on PostgreSQL, in one run; then both at once ("paired": each at
//! 2,000 requests/s, due at the same instants, so that a slow moment of the machine falls on
//! both). Then the highest rate each sustains
//! (closed loop, 32 connections), and a check that the usage records written equal the requests
//! answered.
//!
//! ```sh
//! cargo build --release -p tollgate    # the binary under test, next to the benchmark
//! cargo bench -p tollgate-bench --bench gateway
//! ```
//!
//! PostgreSQL needs `TOLLGATE_TEST_POSTGRES_URL`; `TOLLGATE_BIN` names another binary.

#![allow(clippy::print_stdout)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tollgate_domain::ledger::GrantSource;
use tollgate_domain::{new_id, IdPrefix};
use tollgate_store::testing::TestDb;
use tollgate_store::{Engine, NewGrant, Store, StoreOptions};

const RATE: u32 = 2_000;
const FIXED_FOR: Duration = Duration::from_secs(10);
/// Each path first runs this long at `RATE`, unmeasured: leases, slices and connection pools
/// sized for the load (a cold process's first second is in the warm-up's own p99, printed).
const WARM_FOR: Duration = Duration::from_secs(2);
const SATURATE_FOR: Duration = Duration::from_secs(3);
const CONNECTIONS: usize = 32;
/// The mock writes exactly `max_tokens` tokens; at $1 per million output tokens (input free)
/// each answer costs exactly this many µUSD.
const MAX_TOKENS: i64 = 16;
const PICOS_PER_MICRO: i128 = 1_000_000;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let bin = binary()?;
        println!("binary: {}", bin.display());
        let engines = std::env::var("TOLLGATE_BENCH_ENGINES").unwrap_or_default();
        for (engine, name) in [(Engine::Sqlite, "sqlite"), (Engine::Postgres, "postgres")] {
            if engines.is_empty() || engines.contains(name) {
                run(&bin, engine).await?;
            }
        }
        Ok(())
    })
}

/// `TOLLGATE_BIN`, or `tollgate` in the profile directory this benchmark was built in.
fn binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("TOLLGATE_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| anyhow::anyhow!("no directory above {}", exe.display()))?;
    let bin = dir.join("tollgate");
    anyhow::ensure!(
        bin.exists(),
        "{} is missing: run `cargo build --release -p tollgate` first",
        bin.display()
    );
    Ok(bin)
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bin args` and returns it with the first value `pick` finds in its log.
fn spawn(
    bin: &PathBuf,
    args: &[&str],
    pick: fn(&str) -> Option<String>,
) -> anyhow::Result<(Process, String)> {
    let mut child = Command::new(bin)
        .args(args)
        .env("TOLLGATE_LOG", "warn,tollgate=info")
        .env_remove("TOLLGATE_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let process = Process(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            match pick(&line) {
                Some(v) if !sent => {
                    let _ = tx.send(v);
                    sent = true;
                }
                _ if line.contains("WARN") || line.contains("ERROR") => eprintln!("  {line}"),
                _ => {}
            }
        }
    });
    let found = rx.recv_timeout(Duration::from_secs(60))?;
    Ok((process, found))
}

fn mock_url(line: &str) -> Option<String> {
    let rest = line.split("base_url = \"").nth(1)?;
    Some(rest.trim_end_matches('"').to_owned())
}

fn serve_url(line: &str) -> Option<String> {
    let rest = line.split("open ").nth(1)?;
    Some(
        rest.split_whitespace()
            .next()?
            .trim_end_matches('/')
            .to_owned(),
    )
}

/// Where requests go: the URL, the key (through `serve`) and the body.
#[derive(Clone)]
struct Target {
    url: String,
    key: Option<String>,
    body: &'static str,
}

const DIRECT_BODY: &str =
    r#"{"model":"served","max_tokens":16,"messages":[{"role":"user","content":"hello there"}]}"#;
const GATEWAY_BODY: &str =
    r#"{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hello there"}]}"#;

/// One request; its latency counted from `due` when answered 200, else what went wrong (the
/// status and the start of the body, or the transport error), so that a failure says where it
/// came from.
async fn send(client: &reqwest::Client, target: &Target, due: Instant) -> Result<Duration, String> {
    let mut request = client
        .post(&target.url)
        .header("content-type", "application/json")
        .body(target.body);
    if let Some(key) = &target.key {
        request = request.bearer_auth(key);
    }
    // `{:#}`: the error with its causes, "a: b: c".
    let transport = |e: reqwest::Error| format!("transport: {:#}", anyhow::Error::new(e));
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let body = response.bytes().await.map_err(transport)?;
    if status == 200 {
        Ok(due.elapsed())
    } else {
        let start: String = String::from_utf8_lossy(&body).chars().take(160).collect();
        Err(format!("HTTP {status}: {start}"))
    }
}

/// Failures by kind, for the summary line.
fn failures_line(failures: &BTreeMap<String, usize>) -> String {
    failures
        .iter()
        .map(|(kind, n)| format!("{n} × {kind}"))
        .collect::<Vec<_>>()
        .join("; ")
}

struct FixedRate {
    latencies: Vec<Duration>,
    /// p99 of each second of the run: where a slow tail is (a warm-up, a periodic stall).
    per_second_p99: Vec<Duration>,
    failed: usize,
    /// What the failed requests got, by kind.
    failures: BTreeMap<String, usize>,
}

/// `RATE` requests a second to each of `targets` for `duration`, each sent when due whatever
/// the others do; with two targets their requests are due at the same instants (which one is
/// sent first alternates), so that both see the same machine at the same moments.
async fn fixed_rate(
    client: &reqwest::Client,
    targets: &[&Target],
    duration: Duration,
) -> anyhow::Result<Vec<FixedRate>> {
    let total = RATE * u32::try_from(duration.as_secs())?;
    let period = Duration::from_secs(1) / RATE;
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks: Vec<Vec<_>> = targets.iter().map(|_| Vec::new()).collect();
    for i in 0..total {
        let due = start + period * i;
        tokio::time::sleep_until(due.into()).await;
        let n = targets.len();
        for k in 0..n {
            // Rotate who goes first at each instant.
            let which = (k + usize::try_from(i)?) % n;
            let (client, target) = (client.clone(), targets[which].clone());
            tasks[which].push(tokio::spawn(
                async move { send(&client, &target, due).await },
            ));
        }
    }
    let mut results = Vec::with_capacity(targets.len());
    for target_tasks in tasks {
        results.push(collect(target_tasks, duration).await?);
    }
    Ok(results)
}

/// One target's latencies, sorted, with the p99 of each second.
async fn collect(
    tasks: Vec<tokio::task::JoinHandle<Result<Duration, String>>>,
    duration: Duration,
) -> anyhow::Result<FixedRate> {
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut seconds: Vec<Vec<Duration>> = vec![Vec::new(); usize::try_from(duration.as_secs())?];
    let per_second = usize::try_from(RATE)?;
    let mut failed = 0;
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await? {
            Ok(l) => {
                latencies.push(l);
                if let Some(second) = seconds.get_mut(i / per_second) {
                    second.push(l);
                }
            }
            Err(kind) => {
                failed += 1;
                *failures.entry(kind).or_default() += 1;
            }
        }
    }
    latencies.sort();
    let per_second_p99 = seconds
        .into_iter()
        .map(|mut s| {
            s.sort();
            percentile(&s, 99)
        })
        .collect();
    Ok(FixedRate {
        latencies,
        per_second_p99,
        failed,
        failures,
    })
}

/// One target alone at `RATE` for `duration`.
async fn fixed_rate_one(
    client: &reqwest::Client,
    target: &Target,
    duration: Duration,
) -> anyhow::Result<FixedRate> {
    fixed_rate(client, &[target], duration)
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no result"))
}

/// Requests per second answered by `CONNECTIONS` clients each sending the next request as soon
/// as the last is answered; and how many were answered.
async fn saturate(client: &reqwest::Client, target: &Target) -> anyhow::Result<(f64, usize)> {
    let start = Instant::now();
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (client, target) = (client.clone(), target.clone());
            tokio::spawn(async move {
                let mut answered = 0_usize;
                while start.elapsed() < SATURATE_FOR {
                    if send(&client, &target, Instant::now()).await.is_ok() {
                        answered += 1;
                    }
                }
                answered
            })
        })
        .collect();
    let mut answered = 0;
    for w in workers {
        answered += w.await?;
    }
    Ok((per_second(answered, start.elapsed()), answered))
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1_000.0)
}

#[allow(clippy::cast_precision_loss)]
/// Whether an added p99 meets DESIGN §5's target.
fn verdict(added: Duration) -> &'static str {
    if added <= Duration::from_millis(1) {
        "met"
    } else {
        "NOT met"
    }
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

async fn run(bin: &PathBuf, engine: Engine) -> anyhow::Result<()> {
    println!(
        "\n{engine:?}: load average before {} (other work on this machine counts too)",
        load_average()
    );
    let db = TestDb::new(engine).await;
    let dir = std::env::temp_dir().join(format!("tollgate-bench-gw-{}", new_id(IdPrefix::Request)));
    std::fs::create_dir_all(&dir)?;
    let (_mock, base_url) = spawn(bin, &["mock-upstream", "--listen", "127.0.0.1:0"], mock_url)?;
    let catalog = dir.join("catalog.toml");
    std::fs::write(
        &catalog,
        format!(
            r#"[[models]]
id = "m"
name = "M"
context_length = 8192
upstream = {{ base_url = "{base_url}", model = "served" }}
pricing = {{ input = "0", output = "1" }}
limits = {{ rpm = 100000000, tpm = 1000000000, rpd = 1000000000, tpd = 10000000000 }}
"#
        ),
    )?;
    let catalog = catalog.to_string_lossy().into_owned();
    let (serve_process, serve) = spawn(
        bin,
        &[
            "--database-url",
            &db.url,
            "--catalog",
            &catalog,
            "serve",
            "--listen",
            "127.0.0.1:0",
        ],
        serve_url,
    )?;
    let store = Store::connect(&db.url, StoreOptions::default()).await?;
    let (org, key) = support::one_key(&store).await?;
    grant(&store, &org).await?;

    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1_024)
        .build()?;
    let direct = Target {
        url: format!("{base_url}/chat/completions"),
        key: None,
        body: DIRECT_BODY,
    };
    let gateway = Target {
        url: format!("{serve}/v1/chat/completions"),
        key: Some(key),
        body: GATEWAY_BODY,
    };
    // Warm both (connections, the key cache, the first credit lease).
    for t in [&direct, &gateway] {
        for _ in 0..200 {
            let _ = send(&client, t, Instant::now()).await;
        }
    }

    let d_warm = fixed_rate_one(&client, &direct, WARM_FOR).await?;
    let d = fixed_rate_one(&client, &direct, FIXED_FOR).await?;
    let g_warm = fixed_rate_one(&client, &gateway, WARM_FOR).await?;
    let g = fixed_rate_one(&client, &gateway, FIXED_FOR).await?;
    // Both paths at once, each at RATE, requests due at the same instants: a slow moment of
    // the machine falls on both, which the phases one after the other cannot promise.
    let paired = fixed_rate(&client, &[&direct, &gateway], FIXED_FOR).await?;
    let (pd, pg) = (&paired[0], &paired[1]);
    println!(
        "  warm-up, {RATE} req/s for {} s each (not counted): p99 directly {}, through serve {} (per second: {})",
        WARM_FOR.as_secs(),
        ms(percentile(&d_warm.latencies, 99)),
        ms(percentile(&g_warm.latencies, 99)),
        g_warm
            .per_second_p99
            .iter()
            .map(|d| format!("{:.1}", d.as_secs_f64() * 1_000.0))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let during = load_average();
    let (d_max, _) = saturate(&client, &direct).await?;
    let (g_max, g_saturated) = saturate(&client, &gateway).await?;

    println!(
        "  {RATE} req/s for {} s, open loop (load average after: {during})",
        FIXED_FOR.as_secs()
    );
    for (name, r) in [
        ("mock-upstream directly", &d),
        ("through tollgate serve", &g),
    ] {
        println!(
            "  {name:<24} p50 {:>10}  p99 {:>10}  answered {:>6}  failed {}",
            ms(percentile(&r.latencies, 50)),
            ms(percentile(&r.latencies, 99)),
            r.latencies.len(),
            r.failed
        );
        let seconds: Vec<String> = r
            .per_second_p99
            .iter()
            .map(|d| format!("{:.1}", d.as_secs_f64() * 1_000.0))
            .collect();
        println!("  {:<24} p99 of each second, ms: {}", "", seconds.join(" "));
    }
    let added = percentile(&g.latencies, 99).saturating_sub(percentile(&d.latencies, 99));
    let paired_added = percentile(&pg.latencies, 99).saturating_sub(percentile(&pd.latencies, 99));
    println!(
        "  paired, both at {RATE} req/s at once: p50 directly {}, through serve {}; p99 directly {}, through serve {} (failed {} / {})",
        ms(percentile(&pd.latencies, 50)),
        ms(percentile(&pg.latencies, 50)),
        ms(percentile(&pd.latencies, 99)),
        ms(percentile(&pg.latencies, 99)),
        pd.failed,
        pg.failed,
    );
    for (phase, r) in [
        ("warm-up directly", &d_warm),
        ("warm-up through serve", &g_warm),
        ("directly", &d),
        ("through serve", &g),
        ("paired, directly", pd),
        ("paired, through serve", pg),
    ] {
        if !r.failures.is_empty() {
            println!("  failed {phase}: {}", failures_line(&r.failures));
        }
    }
    println!(
        "  paired p99 added by the gateway: {} (target ≤ 1 ms: {})",
        ms(paired_added),
        verdict(paired_added)
    );
    println!(
        "  p99 added by the gateway: {} (target ≤ 1 ms: {})",
        ms(added),
        verdict(added)
    );
    println!(
        "  highest rate sustained ({CONNECTIONS} connections, closed loop): directly {d_max:.0} req/s, through serve {g_max:.0} req/s"
    );

    // Every answered request through serve wrote one usage record (the warm-up's too).
    let answered =
        200 + g_warm.latencies.len() + g.latencies.len() + pg.latencies.len() + g_saturated;
    let expected = i128::try_from(answered)? * i128::from(MAX_TOKENS) * PICOS_PER_MICRO;
    let waited = Instant::now();
    let mut recorded = store.usage_cost_picos(&org).await?;
    while recorded != expected && waited.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        recorded = store.usage_cost_picos(&org).await?;
    }
    let records = recorded / (i128::from(MAX_TOKENS) * PICOS_PER_MICRO);
    println!("  usage records written {records}, requests answered {answered}");
    store.close().await;
    drop(serve_process);
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(
        recorded == expected,
        "usage records written ({records}) ≠ requests answered ({answered})"
    );
    Ok(())
}

async fn grant(store: &Store, org: &tollgate_domain::OrgId) -> anyhow::Result<()> {
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
    )?;
    store
        .grant_credits(
            org,
            &NewGrant {
                source: GrantSource::Promotion,
                amount: tollgate_domain::Money::from_micros(1_000_000_000),
                expires_at: None,
                idempotency_key: &new_id(IdPrefix::Grant),
                reference: None,
                description: "bench",
            },
            now,
        )
        .await?;
    Ok(())
}
