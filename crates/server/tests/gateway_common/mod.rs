//! A gateway under test: `TestApp` with a catalog whose model `up` is served by mock upstreams
//! on loopback ports (the same mock as `tollgate mock-upstream`, which counts what it serves),
//! and `local` by the built-in mock; an organization with a key and $10 of credit.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tollgate_domain::{new_id, IdPrefix};
use tollgate_server::gateway::mock::{self, MockStats};
use tollgate_server::testing::{TestApp, TestUser};
use tollgate_server::ServerConfig;
use tollgate_store::Engine;

use crate::common;

pub struct MockUpstream {
    pub base_url: String,
    pub stats: Arc<MockStats>,
}

impl MockUpstream {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(MockStats::default());
        let router = mock::router(stats.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            base_url: format!("http://{addr}/v1"),
            stats,
        }
    }

    pub fn requests(&self) -> u64 {
        self.stats.requests.load(Ordering::Relaxed)
    }

    pub fn cut_streams(&self) -> u64 {
        self.stats.cut_streams.load(Ordering::Relaxed)
    }
}

/// A URL where nothing listens: a replica that is down.
pub async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/v1")
}

pub const UP: &str = "up";
pub const LOCAL: &str = "local";
/// Per token: input 1 µUSD, output 2 µUSD.
pub const CREDIT: i64 = 10_000_000;

fn catalog(base_urls: &[&str]) -> String {
    let urls: Vec<String> = base_urls.iter().map(|u| format!("{u:?}")).collect();
    format!(
        r#"
[[models]]
id = "up"
name = "Upstream Model"
context_length = 4096
upstream = {{ base_urls = [{}], model = "served/name", first_byte_timeout_ms = 1000, chunk_timeout_ms = 1000, eject_after_failures = 2, eject_for_ms = 60000 }}
pricing = {{ input = "1.00", output = "2.00" }}
limits = {{ rpm = 1000, tpm = 1000000, rpd = 100000, tpd = 100000000 }}

[[models.tiers]]
id = "basic"
name = "Basic"
monthly_price = "10.00"
limits = {{ rpm = 500, tpm = 500000, rpd = 50000, tpd = 50000000 }}

[[models]]
id = "local"
name = "Local Mock"
context_length = 4096
upstream = "mock"
pricing = {{ input = "1.00", output = "2.00" }}
limits = {{ rpm = 1000, tpm = 1000000, rpd = 100000, tpd = 100000000 }}
"#,
        urls.join(", ")
    )
}

pub struct Gateway {
    pub t: TestApp,
    pub user: TestUser,
    pub key: String,
    pub key_id: String,
    pub project: tollgate_domain::ProjectId,
    _catalog_dir: TempDir,
}

pub struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Gateway {
    pub async fn start(engine: Engine, base_urls: &[&str]) -> Self {
        Self::start_with(engine, base_urls, |_| {}).await
    }

    pub async fn start_with(
        engine: Engine,
        base_urls: &[&str],
        configure: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        let dir = std::env::temp_dir().join(format!("tollgate-gw-{}", new_id(IdPrefix::Request)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("catalog.toml");
        std::fs::write(&path, catalog(base_urls)).unwrap();
        let t = TestApp::spawn_with(engine, |c| {
            c.catalog_path = Some(path);
            configure(c);
        })
        .await;
        let user = t.sign_up("ada@example.com").await;
        let project = t.default_project(&user.org_id).await;
        let (key_id, key) = common::create_key(&t, &user, &user.org_id, &project).await;
        grant(&t, &user.org_id, CREDIT).await;
        Self {
            t,
            user,
            key,
            key_id,
            project,
            _catalog_dir: TempDir(dir),
        }
    }

    pub fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .post(self.t.url(path))
            .bearer_auth(&self.key)
            .json(body)
    }

    pub async fn chat(&self, body: Value) -> (u16, Value, String) {
        let r = self
            .post("/v1/chat/completions", &body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let id = request_id(&r);
        (status, r.json().await.unwrap_or(Value::Null), id)
    }

    pub async fn balance(&self) -> i64 {
        self.t
            .app
            .store
            .credit_account(&self.user.org_id)
            .await
            .unwrap()
            .balance
            .micros()
    }

    /// Waits until metering has stored everything recorded so far.
    pub async fn flush(&self) {
        tokio::time::timeout(Duration::from_secs(10), self.t.app.metering.flush())
            .await
            .expect("metering flushed within 10 s");
    }

    /// The stored usage record `id`, after a flush.
    pub async fn usage(&self, id: &str) -> tollgate_store::UsageRecord {
        self.flush().await;
        self.t
            .app
            .store
            .find_usage_record(
                &tollgate_domain::RequestId::parse(id).expect("x-request-id is a request id"),
            )
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no usage record {id}"))
    }
}

pub fn request_id(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-request-id")
        .expect("every answer has x-request-id")
        .to_str()
        .unwrap()
        .to_owned()
}

pub async fn grant(t: &TestApp, org: &tollgate_domain::OrgId, micros: i64) {
    t.app
        .store
        .grant_credits(
            org,
            &tollgate_store::NewGrant {
                source: tollgate_domain::ledger::GrantSource::Promotion,
                amount: tollgate_domain::Money::from_micros(micros),
                expires_at: None,
                idempotency_key: &new_id(IdPrefix::Grant),
                reference: None,
                description: "test",
            },
            t.app.now(),
        )
        .await
        .unwrap();
}

pub fn hello(model: &str) -> Value {
    json!({"model": model, "max_tokens": 5,
           "messages": [{"role": "user", "content": "say hello to the gateway"}]})
}

/// Polls `check` until it holds, failing after `limit`.
pub async fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
