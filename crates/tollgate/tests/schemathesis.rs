//! The OpenAPI document tells the truth: schemathesis generates requests from
//! `/api/v1/openapi.json` against `tollgate serve` on SQLite, signed in, and fails on any
//! server error, undocumented status or response that does not match its schema (issue 9).
//! Bounded in examples and time so that it adds about two minutes to the test command.
//! `TOLLGATE_SCHEMATHESIS_SEED` replays a run; schemathesis comes from `scripts/test-deps`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use serde_json::{json, Value};
use support::{Server, TempDir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_as_its_openapi_document_says() {
    let data = TempDir::new("schemathesis");
    let server = Server::start(&["--data-dir", data.path().to_str().unwrap()], &[]);
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r = client
        .post(server.url("/api/v1/auth/signup"))
        .header("origin", &server.base)
        .json(
            &json!({"email": "st@example.com", "password": "correct horse battery", "name": "ST"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let signed_up: Value = r.json().await.unwrap();
    server.verify_email("st@example.com").await;
    let org = signed_up["organization"]["id"].as_str().unwrap().to_owned();
    let r = client
        .post(server.url(&format!("/api/v1/orgs/{org}/projects")))
        .header("origin", &server.base)
        .json(&json!({"name": "Fuzzed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let project: Value = r.json().await.unwrap();
    let project = project["id"].as_str().unwrap();

    // Real identifiers, so that generated requests reach the handlers' logic rather than 404.
    let config = data.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!("[parameters]\n\"path.org\" = \"{org}\"\n\"path.project\" = \"{project}\"\n"),
    )
    .unwrap();
    let seed = std::env::var("TOLLGATE_SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".into());
    let output = Command::new("schemathesis")
        .arg("--no-color")
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(server.url("/api/v1/openapi.json"))
        .args(["--header", &format!("Cookie: {cookie}")])
        .args(["--header", &format!("Origin: {}", server.base)])
        // Logging out would end the session the rest of the run needs.
        .args(["--exclude-path", "/api/v1/auth/logout"])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,response_schema_conformance",
        ])
        .args([
            "--max-examples",
            "10",
            "--max-time",
            "100",
            // One worker: hypothesis in Python 3.11 threads can fail with "AST constructor
            // recursion depth mismatch"; a generous request timeout: the machine may be busy.
            "--workers",
            "1",
            "--request-timeout",
            "30",
        ])
        .args(["--seed", &seed, "--no-shrink"])
        .current_dir(data.path())
        .output()
        .expect("run schemathesis (installed by scripts/test-deps)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems (seed {seed}):\n{stdout}\n{stderr}"
    );
}
