//! The official `openai` Python SDK (installed by scripts/test-deps) against `tollgate serve`
//! with the built-in catalog: models.list, chat, streaming with usage, text completions, and
//! the exception classes of a bad key, an unknown model, a bad body and no credit, and a 429
//! whose `Retry-After` the SDK waits for before retrying (issue 12). The script
//! is `tests/sdk/openai_sdk.py`; this test fails when it does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use serde_json::{json, Value};
use support::{run, Server, TempDir};

async fn json(request: reqwest::RequestBuilder) -> (u16, Value) {
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Signs `email` up and creates a key in their Default project: (organization id, key).
async fn user_with_key(server: &Server, email: &str) -> (String, String) {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", server.base.parse().unwrap());
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .build()
        .unwrap();
    let (s, signed_up) = json(
        c.post(server.url("/api/v1/auth/signup"))
            .json(&json!({"email": email, "password": "correct horse battery", "name": "Ada"})),
    )
    .await;
    assert_eq!(s, 201, "{signed_up}");
    server.verify_email(email).await;
    let org = signed_up["organization"]["id"].as_str().unwrap().to_owned();
    let (_, projects) = json(c.get(server.url(&format!("/api/v1/orgs/{org}/projects")))).await;
    let project = projects["data"][0]["id"].as_str().unwrap();
    let (s, key) = json(
        c.post(server.url(&format!("/api/v1/orgs/{org}/projects/{project}/api-keys")))
            .json(&json!({"name": "sdk"})),
    )
    .await;
    assert_eq!(s, 201, "{key}");
    (org, key["key"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_sdk_works_unchanged() {
    let dir = TempDir::new("openai-sdk");
    let db_url = format!("sqlite:{}", dir.path().join("tollgate.db").display());
    let server = Server::start(&["--database-url", &db_url], &[]);
    let (org, key) = user_with_key(&server, "ada@example.com").await;
    let (_, poor_key) = user_with_key(&server, "bob@example.com").await;
    let (limited_org, limited_key) = user_with_key(&server, "cy@example.com").await;
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
    for args in [
        vec!["admin", "credits", "grant", &limited_org, "10"],
        vec![
            "admin",
            "limits",
            "set",
            &limited_org,
            "llama-3.1-8b-instruct",
            "rpm=60",
        ],
    ] {
        let mut all = vec!["--database-url", db_url.as_str()];
        all.extend(args);
        let (ok, _, err) = run(&all);
        assert!(ok, "{err}");
    }

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/openai_sdk.py");
    let out = Command::new("python3")
        .arg(script)
        .env("TOLLGATE_BASE_URL", &server.base)
        .env("TOLLGATE_KEY", &key)
        .env("TOLLGATE_POOR_KEY", &poor_key)
        .env("TOLLGATE_LIMITED_KEY", &limited_key)
        .output()
        .expect("python3 runs (scripts/test-deps installs the openai package)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the SDK script failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
