//! The gateway's processes: `tollgate mock-upstream`, a catalog whose model `m` it serves, and a
//! customer (an organization with a key and credit) made through the real API and admin CLI.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{run, Server};

/// A `tollgate mock-upstream` process on a free port; killed when dropped.
pub struct MockUpstream {
    child: Child,
    /// `http://127.0.0.1:PORT/v1`
    pub base_url: String,
}

impl MockUpstream {
    pub fn start() -> Self {
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

    pub async fn requests(&self) -> u64 {
        let stats: Value = reqwest::get(format!("{}/../mock/stats", self.base_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stats["requests"].as_u64().unwrap()
    }

    pub fn kill(&mut self) {
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

/// Writes a catalog with one model `m` served by `base_urls` at these prices (USD per million
/// tokens), with rate limits far above what a test sends.
pub fn write_catalog(path: &Path, base_urls: &[&str], input: &str, output: &str) {
    let urls: Vec<String> = base_urls.iter().map(|u| format!("{u:?}")).collect();
    std::fs::write(
        path,
        format!(
            r#"[[models]]
id = "m"
name = "M"
context_length = 8192
upstream = {{ base_urls = [{}], model = "served" }}
pricing = {{ input = "{input}", output = "{output}" }}
limits = {{ rpm = 1000000, tpm = 1000000000, rpd = 100000000, tpd = 100000000000 }}
"#,
            urls.join(", ")
        ),
    )
    .unwrap();
}

/// An organization signed up through `server`'s API (its email verified through the link the
/// product sent), with one key and `credit_usd` of promotional credit granted by
/// `tollgate admin credits grant`.
pub struct Customer {
    pub org: tollgate_domain::OrgId,
    pub key: String,
}

impl Customer {
    pub async fn sign_up(server: &Server, db_url: &str, credit_usd: &str) -> Self {
        Self::sign_up_on(&[server], db_url, credit_usd).await
    }

    /// `sign_up` through the first of `servers`, which share one database: any of them may
    /// send the verification email.
    pub async fn sign_up_on(servers: &[&Server], db_url: &str, credit_usd: &str) -> Self {
        let server = servers[0];
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("origin", server.base.parse().unwrap());
        let c = reqwest::Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .build()
            .unwrap();
        let json = |request: reqwest::RequestBuilder| async move {
            let r = request.send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.json::<Value>().await.unwrap()
        };
        let signed_up = json(c.post(server.url("/api/v1/auth/signup")).json(
            &json!({"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}),
        ))
        .await;
        super::verify_email(servers, "ada@example.com").await;
        let org = signed_up["organization"]["id"].as_str().unwrap();
        let org = tollgate_domain::OrgId::parse(org).unwrap();
        let projects = json(c.get(server.url(&format!("/api/v1/orgs/{org}/projects")))).await;
        let project = projects["data"][0]["id"].as_str().unwrap();
        let key = json(
            c.post(server.url(&format!("/api/v1/orgs/{org}/projects/{project}/api-keys")))
                .json(&json!({"name": "k"})),
        )
        .await;
        let key = key["key"].as_str().unwrap().to_owned();
        let (ok, _, err) = run(&[
            "--database-url",
            db_url,
            "admin",
            "credits",
            "grant",
            &org,
            credit_usd,
        ]);
        assert!(ok, "{err}");
        Self { org, key }
    }
}

/// One chat completion with `max_tokens` through `server`: (status, body, `x-request-id`), or
/// `None` when the connection failed (a process that was killed).
pub async fn chat(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    max_tokens: u32,
) -> Option<(u16, Value, String)> {
    let r = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "m", "max_tokens": max_tokens,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    let id = r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = r.json().await.ok()?;
    Some((status, body, id))
}
