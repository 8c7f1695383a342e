//! `tollgate serve` forwarding to `tollgate mock-upstream` processes over real HTTP: two
//! replicas share the traffic, and when one is killed the rest of it moves to the other.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use support::{run, Server, TempDir};

/// A `tollgate mock-upstream` process on a free port; killed when dropped.
struct MockUpstream {
    child: Child,
    /// `http://127.0.0.1:PORT/v1`
    base_url: String,
}

impl MockUpstream {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["mock-upstream", "--listen", "127.0.0.1:0"])
            .env("TOLLGATE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the mock upstream");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("base_url = \"").nth(1) {
                    let _ = tx.send(rest.trim_end_matches('"').to_owned());
                }
            }
        });
        let base_url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the mock upstream logs its URL");
        Self { child, base_url }
    }

    async fn requests(&self) -> u64 {
        let stats: Value = reqwest::get(format!("{}/../mock/stats", self.base_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stats["requests"].as_u64().unwrap()
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_spreads_requests_over_mock_upstream_processes_and_survives_one_dying() {
    let mut a = MockUpstream::start();
    let b = MockUpstream::start();
    let dir = TempDir::new("gateway-processes");
    let catalog = dir.path().join("catalog.toml");
    std::fs::write(
        &catalog,
        format!(
            r#"[[models]]
id = "m"
name = "M"
context_length = 8192
upstream = {{ base_urls = ["{}", "{}"], model = "served" }}
pricing = {{ input = "1", output = "1" }}
limits = {{ rpm = 1000, tpm = 1000000, rpd = 100000, tpd = 100000000 }}
"#,
            a.base_url, b.base_url
        ),
    )
    .unwrap();
    let db_url = format!("sqlite:{}", dir.path().join("tollgate.db").display());
    let catalog_arg = catalog.to_str().unwrap();
    let server = Server::start(&["--database-url", &db_url, "--catalog", catalog_arg], &[]);

    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", server.base.parse().unwrap());
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .build()
        .unwrap();
    let signed_up: Value = c
        .post(server.url("/api/v1/auth/signup"))
        .json(&json!({"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    server.verify_email("ada@example.com").await;
    let org = signed_up["organization"]["id"].as_str().unwrap().to_owned();
    let projects: Value = c
        .get(server.url(&format!("/api/v1/orgs/{org}/projects")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let project = projects["data"][0]["id"].as_str().unwrap();
    let key: Value = c
        .post(server.url(&format!("/api/v1/orgs/{org}/projects/{project}/api-keys")))
        .json(&json!({"name": "k"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    let (ok, _, err) = run(&[
        "--database-url",
        &db_url,
        "admin",
        "credits",
        "grant",
        &org,
        "10",
    ]);
    assert!(ok, "{err}");

    let chat = || async {
        let r = reqwest::Client::new()
            .post(server.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": "m", "max_tokens": 4,
                          "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        (status, body)
    };
    for _ in 0..10 {
        let (s, body) = chat().await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["model"], "m");
    }
    let (on_a, on_b) = (a.requests().await, b.requests().await);
    assert_eq!(on_a + on_b, 10);
    assert!(
        on_a >= 3 && on_b >= 3,
        "idle replicas take turns: {on_a} and {on_b}"
    );

    a.kill();
    for _ in 0..10 {
        let (s, body) = chat().await;
        assert_eq!(s, 200, "a dead replica costs no request: {body}");
    }
    assert_eq!(b.requests().await, on_b + 10);
}
