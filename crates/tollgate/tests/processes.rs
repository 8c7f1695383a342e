#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The real binary, as operators run it: several `tollgate serve` processes on one database,
//! the catalog's start-up check, `tollgate admin catalog …` and SIGHUP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tollgate_store::testing::TestDb;
use tollgate_store::Engine;

const BIN: &str = env!("CARGO_BIN_EXE_tollgate");

fn tollgate(db_url: &str) -> Command {
    let mut cmd = Command::new(BIN);
    for var in [
        "TOLLGATE_CONFIG",
        "TOLLGATE_CATALOG",
        "TOLLGATE_LISTEN",
        "TOLLGATE_DATA_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("TOLLGATE_DATABASE_URL", db_url)
        .env("TOLLGATE_LOG", "info");
    cmd
}

/// A `tollgate serve` process on a free port, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(db_url: &str, extra: &[&str]) -> Self {
        let mut child = tollgate(db_url)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tollgate serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Reads the log until the address shows, then keeps draining it so the pipe never fills.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("open http://").nth(1) {
                    if let Some(tx) = tx.take() {
                        let addr = rest.split('/').next().unwrap_or_default().to_owned();
                        let _ = tx.send(addr);
                    }
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server logs 'Tollgate is running: open http://ADDR/'");
        Self {
            child,
            base: format!("http://{addr}"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser-like client of one server: cookies kept, this site's `Origin` sent.
fn client(server: &Server) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", server.base.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn json(request: reqwest::RequestBuilder) -> (u16, Value) {
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn models_with_key(server: &Server, key: &str) -> u16 {
    reqwest::Client::new()
        .get(server.url("/v1/models"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Polls until `check` holds; returns how long that took, or panics after `within`.
async fn within<F, Fut>(within: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "not true within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tollgate-proc-{}", rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{nanos}-{n}", std::process::id())
}

fn admin(db_url: &str, args: &[&str]) -> Output {
    tollgate(db_url).arg("admin").args(args).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_database_share_revocations() {
    let db = TestDb::new(Engine::Postgres).await;
    let a = Server::start(&db.url, &[]);
    let b = Server::start(&db.url, &[]);

    let ada = client(&a);
    let (s, signed_up) = json(ada.post(a.url("/api/v1/auth/signup")).json(
        &json!({"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}),
    ))
    .await;
    assert_eq!(s, 201, "{signed_up}");
    let org = signed_up["organization"]["id"].as_str().unwrap().to_owned();
    let (_, projects) = json(ada.get(a.url(&format!("/api/v1/orgs/{org}/projects")))).await;
    let project = projects["data"][0]["id"].as_str().unwrap().to_owned();
    let keys_url = a.url(&format!("/api/v1/orgs/{org}/projects/{project}/api-keys"));
    let (s, k1) = json(ada.post(&keys_url).json(&json!({"name": "one"}))).await;
    assert_eq!(s, 201);
    let (_, k2) = json(ada.post(&keys_url).json(&json!({"name": "two"}))).await;
    let (key1, key2) = (k1["key"].as_str().unwrap(), k2["key"].as_str().unwrap());

    // B learns both keys (and keeps them in memory).
    for _ in 0..3 {
        assert_eq!(models_with_key(&b, key1).await, 200);
        assert_eq!(models_with_key(&b, key2).await, 200);
    }

    // Revoked on A: A refuses at once, B within a second.
    let (s, _) = json(ada.delete(format!("{keys_url}/{}", k1["id"].as_str().unwrap()))).await;
    assert_eq!(s, 204);
    assert_eq!(models_with_key(&a, key1).await, 401);
    let took = within(Duration::from_secs(1), || async {
        models_with_key(&b, key1).await == 401
    })
    .await;
    eprintln!("the other process refused the revoked key after {took:?}");
    assert_eq!(models_with_key(&b, key2).await, 200);

    // An operator suspends the organization from a third process: both servers refuse its keys.
    let out = admin(&db.url, &["org", "suspend", &org]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for server in [&a, &b] {
        within(Duration::from_secs(1), || async {
            models_with_key(server, key2).await == 401
        })
        .await;
    }
    let out = admin(&db.url, &["org", "resume", &org]);
    assert!(out.status.success());
    for server in [&a, &b] {
        within(Duration::from_secs(1), || async {
            models_with_key(server, key2).await == 200
        })
        .await;
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// The example catalog cut down to its first `n` models.
fn catalog_with(n: usize) -> String {
    let example = tollgate_domain::catalog::EXAMPLE_TOML;
    let starts: Vec<usize> = example
        .match_indices("[[models]]\n")
        .map(|(i, _)| i)
        .collect();
    match starts.get(n) {
        Some(end) => example[..*end].to_owned(),
        None => example.to_owned(),
    }
}

async fn model_count(server: &Server, user: &reqwest::Client) -> usize {
    let (s, models) = json(user.get(server.url("/api/v1/models"))).await;
    assert_eq!(s, 200, "{models}");
    models["data"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_is_reloaded_by_the_admin_command_and_by_sighup() {
    let db = TestDb::new(Engine::Sqlite).await;
    let dir = temp_dir();
    let catalog = dir.join("catalog.toml");
    write(&catalog, &catalog_with(3));
    let catalog_arg = catalog.to_str().unwrap();
    let server = Server::start(&db.url, &["--catalog", catalog_arg]);
    let ada = client(&server);
    let (s, _) = json(ada.post(server.url("/api/v1/auth/signup")).json(
        &json!({"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}),
    ))
    .await;
    assert_eq!(s, 201);
    assert_eq!(model_count(&server, &ada).await, 3);

    // `admin catalog reload` checks the file, then signals the servers through the database.
    write(&catalog, &catalog_with(1));
    let out = admin(&db.url, &["catalog", "reload", "--catalog", catalog_arg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    within(Duration::from_secs(1), || async {
        model_count(&server, &ada).await == 1
    })
    .await;

    // An invalid file is refused by the command, and the servers keep what they have.
    write(
        &catalog,
        &catalog_with(1).replace("context_length = 131072", "context_length = -1"),
    );
    let out = admin(&db.url, &["catalog", "reload", "--catalog", catalog_arg]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 15:") && err.contains("context_length"),
        "{err}"
    );
    // A reload signalled anyway (by SIGHUP) keeps the catalog in force.
    let kill = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &server.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    kill("-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        model_count(&server, &ada).await,
        1,
        "the invalid file was not applied"
    );

    write(&catalog, &catalog_with(2));
    kill("-HUP");
    within(Duration::from_secs(1), || async {
        model_count(&server, &ada).await == 2
    })
    .await;
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_invalid_catalog_is_refused_at_start_and_by_the_check_command() {
    let dir = temp_dir();
    let bad = dir.join("bad.toml");
    write(
        &bad,
        &catalog_with(1).replace("input = \"0.05\"", "input = 0.05"),
    );
    let db_url = format!("sqlite:{}", dir.join("tollgate.db").display());
    let out = tollgate(&db_url)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--catalog",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml: line 19:") && err.contains("floating-point"),
        "{err}"
    );

    let out = admin(&db_url, &["catalog", "check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 19"));

    let good = dir.join("good.toml");
    write(&good, &catalog_with(3));
    let out = admin(&db_url, &["catalog", "check", good.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("ok, 3 models, 4 subscription tiers"),
        "{said}"
    );
    assert!(said.contains("llama-3.1-70b-instruct"), "{said}");
    std::fs::remove_dir_all(dir).ok();
}
