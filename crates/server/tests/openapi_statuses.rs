#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The OpenAPI document lists what the shared machinery answers on every operation (issue 9);
//! `crates/tollgate/tests/schemathesis.rs` checks the answers themselves.

use serde_json::Value;
use tollgate_server::testing::{send, TestApp};
use tollgate_store::{on_both_engines, Engine};

const PUBLIC: &[&str] = &[
    "post /api/v1/auth/signup",
    "post /api/v1/auth/login",
    "post /api/v1/auth/logout",
    "post /api/v1/auth/forgot-password",
    "post /api/v1/auth/reset-password",
    "post /api/v1/auth/verify-email",
    "get /api/v1/invites/{token}",
    "post /api/v1/usage",
];

fn operations(doc: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                out.push((format!("{method} {path}"), op));
            }
        }
    }
    out
}

fn lists(op: &Value, status: &str) -> bool {
    op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .is_some_and(|r| r.ends_with("/ErrorBody"))
        || (op["responses"][status].is_object() && status.starts_with('2'))
}

async fn every_operation_lists_the_shared_error_statuses(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let (s, doc) = send(t.client().get(t.url("/api/v1/openapi.json"))).await;
    assert_eq!(s, 200);
    let ops = operations(&doc);
    assert!(ops.len() > 40, "{} operations", ops.len());
    for (name, op) in ops {
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let mut expected = Vec::new();
        if op.get("requestBody").is_some() {
            expected.extend(["400", "413", "415", "422"]);
        }
        if params.iter().any(|p| p["in"] == "path") {
            expected.extend(["400", "404"]);
        }
        if params.iter().any(|p| p["in"] == "query") {
            expected.push("400");
        }
        if !PUBLIC.contains(&name.as_str()) {
            expected.push("401");
        }
        if !name.starts_with("get ") || name.contains(" /api/v1/orgs/{org}") {
            expected.push("403");
        }
        for status in expected {
            assert!(
                lists(op, status),
                "{name} does not list {status} with ErrorBody"
            );
        }
        for p in params.iter().filter(|p| p["name"] == "limit") {
            assert_eq!(
                (&p["schema"]["minimum"], &p["schema"]["maximum"]),
                (&Value::from(1), &Value::from(100)),
                "{name}: limit is 1–100"
            );
            assert!(lists(op, "422"), "{name}: limit out of range answers 422");
        }
    }
    let login = &doc["paths"]["/api/v1/auth/login"]["post"];
    assert!(lists(login, "503"), "busy hashing");
    let buy = &doc["components"]["schemas"]["BuyCreditsRequest"]["properties"]["amount"];
    assert!(buy["pattern"].is_string(), "{buy}");
}

on_both_engines!(every_operation_lists_the_shared_error_statuses);
