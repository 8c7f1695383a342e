//! The binary as operators run it, for keys and the catalog: a key revoked on one of two
//! `tollgate serve` processes on one PostgreSQL is refused by the other within a second; an
//! organization suspended by `tollgate admin` stops its keys everywhere; the catalog is refused
//! at start when invalid, checked by `admin catalog check`, and reloaded by
//! `admin catalog reload` (through the database) and by SIGHUP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{run, Server, TempDir};
use tollgate_store::testing::TestDb;
use tollgate_store::Engine;

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

/// Signs Ada up on `server` and follows her verification link, which any of `servers` (sharing
/// the database with it) may have sent.
async fn sign_up(server: &Server, servers: &[&Server]) -> (reqwest::Client, Value) {
    let c = client(server);
    let (s, body) = json(c.post(server.url("/api/v1/auth/signup")).json(
        &json!({"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}),
    ))
    .await;
    assert_eq!(s, 201, "{body}");
    support::verify_email(servers, "ada@example.com").await;
    (c, body)
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

/// Polls until `check` holds; returns how long that took, or panics after `limit`.
async fn within<F, Fut>(limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "not true within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_one_server_is_refused_by_the_other_within_a_second() {
    let db = TestDb::new(Engine::Postgres).await;
    let a = Server::start(&["--database-url", &db.url], &[]);
    let b = Server::start(&["--database-url", &db.url], &[]);

    let (ada, signed_up) = sign_up(&a, &[&a, &b]).await;
    let org = signed_up["organization"]["id"].as_str().unwrap().to_owned();
    let (_, projects) = json(ada.get(a.url(&format!("/api/v1/orgs/{org}/projects")))).await;
    let project = projects["data"][0]["id"].as_str().unwrap().to_owned();
    let keys_url = a.url(&format!("/api/v1/orgs/{org}/projects/{project}/api-keys"));
    let (s, k1) = json(ada.post(&keys_url).json(&json!({"name": "one"}))).await;
    assert_eq!(s, 201);
    let (_, k2) = json(ada.post(&keys_url).json(&json!({"name": "two"}))).await;
    let (key1, key2) = (k1["key"].as_str().unwrap(), k2["key"].as_str().unwrap());

    // B learns both keys and keeps them in memory.
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
    assert_eq!(models_with_key(&b, key2).await, 200, "only that key");

    // An operator suspends the organization from a third process: both servers refuse its keys.
    let (ok, _, err) = run(&["--database-url", &db.url, "admin", "org", "suspend", &org]);
    assert!(ok, "{err}");
    for server in [&a, &b] {
        within(Duration::from_secs(1), || async {
            models_with_key(server, key2).await == 401
        })
        .await;
    }
    let (ok, _, err) = run(&["--database-url", &db.url, "admin", "org", "resume", &org]);
    assert!(ok, "{err}");
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
    let dir = TempDir::new("catalog-reload");
    let db_url = format!("sqlite:{}", dir.path().join("tollgate.db").display());
    let catalog = dir.path().join("catalog.toml");
    write(&catalog, &catalog_with(3));
    let catalog_arg = catalog.to_str().unwrap();
    let server = Server::start(&["--database-url", &db_url, "--catalog", catalog_arg], &[]);
    let (ada, _) = sign_up(&server, &[&server]).await;
    assert_eq!(model_count(&server, &ada).await, 3);

    // `admin catalog reload` checks the file, then signals the servers through the database.
    write(&catalog, &catalog_with(1));
    let reload = [
        "--database-url",
        &db_url,
        "--catalog",
        catalog_arg,
        "admin",
        "catalog",
        "reload",
    ];
    let (ok, _, err) = run(&reload);
    assert!(ok, "{err}");
    within(Duration::from_secs(1), || async {
        model_count(&server, &ada).await == 1
    })
    .await;

    // An invalid file is refused by the command, and the server keeps what it has.
    write(
        &catalog,
        &catalog_with(1).replace("context_length = 131072", "context_length = -1"),
    );
    let (ok, _, err) = run(&reload);
    assert!(!ok);
    assert!(
        err.contains("line 15:") && err.contains("context_length"),
        "{err}"
    );
    let hangup = || {
        let sent = Command::new("kill")
            .args(["-HUP", &server.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    hangup();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        model_count(&server, &ada).await,
        1,
        "the invalid file was not applied"
    );

    write(&catalog, &catalog_with(2));
    hangup();
    within(Duration::from_secs(1), || async {
        model_count(&server, &ada).await == 2
    })
    .await;
}

#[test]
fn an_invalid_catalog_is_refused_at_start_and_by_the_check_command() {
    let dir = TempDir::new("catalog-check");
    let bad = dir.path().join("bad.toml");
    write(
        &bad,
        &catalog_with(1).replace("input = \"0.05\"", "input = 0.05"),
    );
    let db_url = format!("sqlite:{}", dir.path().join("tollgate.db").display());
    let bad_arg = bad.to_str().unwrap();
    let (ok, _, err) = run(&[
        "--database-url",
        &db_url,
        "--catalog",
        bad_arg,
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!ok);
    assert!(
        err.contains("bad.toml: line 19:") && err.contains("floating-point"),
        "{err}"
    );

    let (ok, _, err) = run(&["admin", "catalog", "check", bad_arg]);
    assert!(!ok);
    assert!(err.contains("line 19"), "{err}");

    let good = dir.path().join("good.toml");
    write(&good, &catalog_with(3));
    let (ok, out, err) = run(&["admin", "catalog", "check", good.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("ok, 3 models, 4 subscription tiers"), "{out}");
    assert!(out.contains("llama-3.1-70b-instruct"), "{out}");
}
