#![allow(clippy::unwrap_used, clippy::expect_used)]

//! `GET …/usage` and `GET …/requests` on both engines: sums by time and dimension with UTC
//! hour, day and month edges, CSV shape and escaping, bad ranges, empty answers, and what a
//! project member sees.

mod common;

use common::{create_key, create_project};
use serde_json::Value;
use tollgate_domain::CallerId;
use tollgate_domain::ProjectRole;
use tollgate_server::testing::{send, TestApp, TestUser};
use tollgate_store::{on_both_engines, Engine, UsageRecord};

/// Milliseconds of an RFC 3339 time.
fn at(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

/// A model name a CSV must quote, and a spreadsheet must not run.
const ODD_MODEL: &str = "=say \"hi\", then";

struct World {
    t: TestApp,
    admin: TestUser,
    member: TestUser,
    org: tollgate_domain::OrgId,
    p: tollgate_domain::ProjectId,
    q: tollgate_domain::ProjectId,
    key_p: String,
    key_q: String,
}

fn record(w: &World, id: &str, key: &str, model: &str, status: &str, when: &str) -> UsageRecord {
    let (project, key_id) = if key == "p" {
        (&w.p, &w.key_p)
    } else {
        (&w.q, &w.key_q)
    };
    UsageRecord {
        id: id.to_owned(),
        org_id: w.org.clone(),
        project_id: project.clone(),
        key_id: CallerId::from_stored(key_id.clone()),
        model: model.to_owned(),
        input_tokens: 100,
        cached_input_tokens: 10,
        output_tokens: 50,
        // $0.0015, exact in pico-USD.
        cost: tollgate_domain::usage::UsageCost::from_picos(1_500_000_000).unwrap(),
        plan: "payg",
        status: status.to_owned(),
        latency_ms: Some(120),
        ttft_ms: (id == "r5").then_some(35),
        estimated: false,
        occurred_at: at(when),
    }
}

async fn world(engine: Engine) -> World {
    let t = TestApp::spawn(engine).await;
    let admin = t.sign_up("admin@example.com").await;
    let member = t.sign_up("member@example.com").await;
    let org = admin.org_id.clone();
    let p = create_project(&t, &admin, &org, "P").await;
    let q = create_project(&t, &admin, &org, "Q").await;
    t.add_member(&org, &member.id, &[(&p, ProjectRole::ProjectMember)])
        .await;
    let (key_p, _) = create_key(&t, &admin, &org, &p).await;
    let (key_q, _) = create_key(&t, &admin, &org, &q).await;
    let w = World {
        t,
        admin,
        member,
        org,
        p,
        q,
        key_p,
        key_q,
    };
    let records = vec![
        // The last millisecond of January, then the first of February (a month end in UTC).
        record(&w, "r1", "p", "llama", "ok", "2026-01-31T23:59:59.999Z"),
        record(&w, "r2", "q", "llama", "200", "2026-02-01T00:00:00Z"),
        // Either side of 01:00.
        record(&w, "r3", "p", ODD_MODEL, "ok", "2026-02-01T00:59:59.999Z"),
        record(&w, "r4", "p", "llama", "500", "2026-02-01T01:00:00Z"),
        // An offset time: 03:30+02:00 is 01:30 UTC.
        record(&w, "r5", "q", "llama", "429", "2026-02-01T03:30:00+02:00"),
    ];
    w.t.app
        .store
        .record_usage(&records, at("2026-02-02T00:00:00Z"))
        .await
        .unwrap();
    // A replay changes nothing.
    w.t.app
        .store
        .record_usage(&records[..2], at("2026-02-02T00:00:00Z"))
        .await
        .unwrap();
    w
}

async fn get(w: &World, user: &TestUser, path: &str) -> (u16, Value) {
    send(
        user.client
            .get(w.t.url(&format!("/api/v1/orgs/{}{path}", w.org))),
    )
    .await
}

fn requests(v: &Value) -> Vec<i64> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["requests"].as_i64().unwrap())
        .collect()
}

async fn sums_follow_utc_hours_days_and_months(engine: Engine) {
    let w = world(engine).await;
    let (s, v) = get(
        &w,
        &w.admin,
        "/usage?start=2026-01-31&end=2026-02-02&group_by=day",
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["day"], "2026-01-31T00:00:00Z");
    assert_eq!(v["data"][1]["day"], "2026-02-01T00:00:00Z");
    assert_eq!(requests(&v), vec![1, 4]);
    assert_eq!(v["totals"]["requests"], 5);
    assert_eq!(
        v["totals"]["errors"], 2,
        "500 and 429 are errors; ok and 200 are not"
    );
    assert_eq!(v["totals"]["input_tokens"], 500);
    assert_eq!(v["totals"]["cached_input_tokens"], 50);
    assert_eq!(v["totals"]["output_tokens"], 250);
    assert_eq!(v["totals"]["cost"], "0.0075");

    // January alone: start inclusive, end exclusive at the month end.
    let (_, v) = get(&w, &w.admin, "/usage?start=2026-01-01&end=2026-02-01").await;
    assert_eq!(v["totals"]["requests"], 1);
    // The first hour of February: 00:00 is in, 01:00 is out.
    let (_, v) = get(
        &w,
        &w.admin,
        "/usage?start=2026-02-01T00:00:00Z&end=2026-02-01T01:00:00Z&group_by=hour",
    )
    .await;
    assert_eq!(requests(&v), vec![2]);
    assert_eq!(v["data"][0]["hour"], "2026-02-01T00:00:00Z");
    let (_, v) = get(
        &w,
        &w.admin,
        "/usage?start=2026-02-01T00:00:00Z&end=2026-02-01T03:00:00Z&group_by=hour,project",
    )
    .await;
    assert_eq!(requests(&v), vec![1, 1, 1, 1]);
    assert_eq!(v["data"][1]["hour"], "2026-02-01T00:00:00Z");
    assert_eq!(v["data"][2]["hour"], "2026-02-01T01:00:00Z");

    // By model and key, with filters.
    let (_, v) = get(
        &w,
        &w.admin,
        "/usage?start=2026-01-01&end=2026-03-01&group_by=model",
    )
    .await;
    // (Text sorts by the database's collation: no order between models is promised.)
    let mut by_model: Vec<(String, i64)> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["model"].as_str().unwrap().to_owned(),
                g["requests"].as_i64().unwrap(),
            )
        })
        .collect();
    by_model.sort();
    assert_eq!(
        by_model,
        vec![(ODD_MODEL.to_owned(), 1), ("llama".to_owned(), 4)]
    );
    let key_q = &w.key_q;
    let (_, v) = get(
        &w,
        &w.admin,
        &format!("/usage?start=2026-01-01&end=2026-03-01&key_id={key_q}&group_by=key"),
    )
    .await;
    assert_eq!(requests(&v), vec![2]);
    assert_eq!(v["data"][0]["key_id"], *key_q);
    let (_, v) = get(
        &w,
        &w.admin,
        "/usage?start=2026-01-01&end=2026-03-01&model=llama&plan=payg",
    )
    .await;
    assert_eq!(v["totals"]["requests"], 4);
    let (_, v) = get(
        &w,
        &w.admin,
        "/usage?start=2026-01-01&end=2026-03-01&plan=subscription",
    )
    .await;
    assert_eq!(v["totals"]["requests"], 0);
}

async fn empty_ranges_answer_zero(engine: Engine) {
    let w = world(engine).await;
    let (s, v) = get(
        &w,
        &w.admin,
        "/usage?start=2025-01-01&end=2025-02-01&group_by=day,model",
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"], serde_json::json!([]));
    assert_eq!(v["totals"]["requests"], 0);
    assert_eq!(v["totals"]["cost"], "0.00");
    let r = w
        .admin
        .client
        .get(w.t.url(&format!(
            "/api/v1/orgs/{}/usage?start=2025-01-01&end=2025-02-01&group_by=day&format=csv",
            w.org
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        "day,requests,errors,input_tokens,cached_input_tokens,output_tokens,cost_usd\r\n"
    );
}

/// 50,001 keys in one day: JSON refuses that many groups, the CSV streams them all.
async fn a_csv_streams_past_the_json_cap(engine: Engine) {
    let w = world(engine).await;
    let records: Vec<UsageRecord> = (0..50_001)
        .map(|i| UsageRecord {
            id: format!("bulk-{i}"),
            key_id: CallerId::from_stored(format!("key_{i:05}")),
            ttft_ms: None,
            ..record(&w, "x", "p", "llama", "ok", "2025-06-01T10:00:00Z")
        })
        .collect();
    w.t.app
        .store
        .record_usage(&records, at("2025-06-01T12:00:00Z"))
        .await
        .unwrap();
    let path = "/usage?start=2025-06-01&end=2025-06-02&group_by=key";
    let (s, v) = get(&w, &w.admin, path).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("too_many_groups"))
    );
    let r = w
        .admin
        .client
        .get(w.t.url(&format!("/api/v1/orgs/{}{path}&format=csv", w.org)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-length").is_none());
    let body = r.text().await.unwrap();
    let lines: Vec<&str> = body.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 1 + 50_001);
    assert_eq!(lines[1], "key_00000,1,0,100,10,50,0.0015");
    assert_eq!(lines[50_001], "key_50000,1,0,100,10,50,0.0015");
}

async fn csv_has_a_header_and_escapes_fields(engine: Engine) {
    let w = world(engine).await;
    let r = w
        .admin
        .client
        .get(w.t.url(&format!(
            "/api/v1/orgs/{}/usage?start=2026-01-31&end=2026-02-02&group_by=day&group_by=model&format=csv",
            w.org
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    // Streamed: no length known up front.
    assert!(r.headers().get("content-length").is_none());
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"usage-2026-01-31-2026-02-02.csv\""
    );
    let body = r.text().await.unwrap();
    assert!(body.ends_with("\r\n"));
    let mut lines: Vec<&str> = body.trim_end().split("\r\n").collect();
    assert_eq!(
        lines.remove(0),
        "day,model,requests,errors,input_tokens,cached_input_tokens,output_tokens,cost_usd"
    );
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "2026-01-31T00:00:00Z,llama,1,0,100,10,50,0.0015",
            "2026-02-01T00:00:00Z,\"'=say \"\"hi\"\", then\",1,0,100,10,50,0.0015",
            "2026-02-01T00:00:00Z,llama,3,2,300,30,150,0.0045",
        ]
    );
}

async fn bad_questions_get_a_clear_400(engine: Engine) {
    let w = world(engine).await;
    for (query, code) in [
        ("start=2026-02-02&end=2026-02-01", "invalid_range"),
        ("start=2026-02-01&end=2026-02-01", "invalid_range"),
        ("start=2025-01-01&end=2026-01-03", "invalid_range"),
        ("start=last-week", "invalid_range"),
        ("start=2026-02-30", "invalid_range"),
        ("start=2026-02-01T10:15:00Z&end=2026-02-02", "invalid_range"),
        ("group_by=week", "invalid_group_by"),
        ("group_by=hour,day", "invalid_group_by"),
        ("format=xml", "invalid_format"),
        ("plan=free", "invalid_filter"),
        ("colour=blue", "unknown_parameter"),
    ] {
        let (s, v) = get(&w, &w.admin, &format!("/usage?{query}")).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some(code)),
            "{query}: {v}"
        );
    }
    for query in ["status=teapot", "after=nope", "limit=0", "limit=1000"] {
        let (s, v) = get(&w, &w.admin, &format!("/requests?{query}")).await;
        assert!(s == 400 || s == 422, "{query}: {s} {v}");
    }
}

async fn members_see_their_projects_only(engine: Engine) {
    let w = world(engine).await;
    let all = "/usage?start=2026-01-01&end=2026-03-01&group_by=project";
    let (_, v) = get(&w, &w.admin, all).await;
    assert_eq!(requests(&v).len(), 2);
    let (s, v) = get(&w, &w.member, all).await;
    assert_eq!(s, 200);
    assert_eq!(requests(&v), vec![3]);
    assert_eq!(v["data"][0]["project_id"], *w.p);
    assert_eq!(v["totals"]["requests"], 3);
    let (s, _) = get(&w, &w.member, &format!("/usage?project_id={}", w.q)).await;
    assert_eq!(s, 404);
    let (s, _) = get(&w, &w.member, &format!("/usage?key_id={}", w.key_q)).await;
    assert_eq!(s, 404);
    let (s, _) = get(&w, &w.member, &format!("/requests?project_id={}", w.q)).await;
    assert_eq!(s, 404);
    let (_, v) = get(&w, &w.member, "/requests").await;
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["r4", "r3", "r1"]);
}

async fn the_request_log_pages_newest_first(engine: Engine) {
    let w = world(engine).await;
    let (s, v) = get(&w, &w.admin, "/requests?limit=2").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["has_more"], true);
    let first = &v["data"][0];
    assert_eq!(first["id"], "r5");
    assert_eq!(first["time"], "2026-02-01T01:30:00Z");
    assert_eq!(first["status"], "429");
    assert_eq!(first["cost"], "0.0015");
    assert_eq!(first["latency_ms"], 120);
    assert_eq!(first["ttft_ms"], 35);
    assert!(v["data"][1]["ttft_ms"].is_null());
    assert_eq!(v["data"][1]["id"], "r4");
    let (_, v) = get(&w, &w.admin, "/requests?limit=2&after=r4").await;
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["r3", "r2"]);
    let (_, v) = get(&w, &w.admin, "/requests?limit=2&after=r2").await;
    assert_eq!(v["has_more"], false);
    assert_eq!(v["data"][0]["id"], "r1");
    // Filters.
    let (_, v) = get(&w, &w.admin, "/requests?status=error").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let (_, v) = get(&w, &w.admin, "/requests?status=5xx").await;
    assert_eq!(v["data"][0]["id"], "r4");
    let (_, v) = get(&w, &w.admin, "/requests?status=success&model=llama").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let (_, v) = get(&w, &w.admin, &format!("/requests?key_id={}", w.key_q)).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
}

async fn both_endpoints_are_in_the_openapi_document(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let (_, doc) = send(t.client().get(t.url("/api/v1/openapi.json"))).await;
    let usage = &doc["paths"]["/api/v1/orgs/{org}/usage"]["get"];
    let names: Vec<&str> = usage["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "start",
        "end",
        "group_by",
        "project_id",
        "key_id",
        "model",
        "plan",
        "format",
    ] {
        assert!(
            names.contains(&name),
            "usage parameter {name} undocumented: {names:?}"
        );
    }
    assert!(doc["paths"]["/api/v1/orgs/{org}/requests"]["get"].is_object());
    assert!(doc["components"]["schemas"]["UsageView"].is_object());
}

on_both_engines!(
    both_endpoints_are_in_the_openapi_document,
    sums_follow_utc_hours_days_and_months,
    empty_ranges_answer_zero,
    csv_has_a_header_and_escapes_fields,
    a_csv_streams_past_the_json_cap,
    bad_questions_get_a_clear_400,
    members_see_their_projects_only,
    the_request_log_pages_newest_first,
);
