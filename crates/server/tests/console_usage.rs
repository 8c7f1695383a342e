#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The console's Usage, request log and Overview pages with seeded usage, on both engines:
//! SVG charts with tooltips, totals, tables, range and table switching, the CSV link, empty
//! states, and a project member seeing their project only.

mod common;

use common::{create_key, create_project};
use tollgate_domain::CallerId;
use tollgate_domain::{ProjectId, ProjectRole};
use tollgate_server::testing::{TestApp, TestUser};
use tollgate_store::{on_both_engines, Engine, UsageRecord, DAY_MS};

async fn page(t: &TestApp, user: &TestUser, path: &str) -> (u16, String) {
    let r = user.client.get(t.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn the_usage_pages_show_charts_tables_and_the_log(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let admin = t.sign_up("admin@example.com").await;
    let member = t.sign_up("member@example.com").await;
    let org = admin.org_id.clone();
    let p = create_project(&t, &admin, &org, "Payments").await;
    let q = create_project(&t, &admin, &org, "Quokka").await;
    t.add_member(&org, &member.id, &[(&p, ProjectRole::ProjectMember)])
        .await;
    let (key_p, _) = create_key(&t, &admin, &org, &p).await;
    let (key_q, _) = create_key(&t, &admin, &org, &q).await;
    let now = t.app.now();
    let today = now - now.rem_euclid(DAY_MS);
    let record =
        |id: &str, project: &ProjectId, key: &str, model: &str, cost: i64, at: i64| UsageRecord {
            id: id.to_owned(),
            org_id: org.clone(),
            project_id: project.clone(),
            key_id: CallerId::from_stored(key.to_owned()),
            model: model.to_owned(),
            input_tokens: 1_000,
            cached_input_tokens: 0,
            output_tokens: 400,
            cost: tollgate_domain::usage::UsageCost::from_picos(cost * 1_000_000).unwrap(),
            plan: "payg",
            status: if id == "r3" {
                "500".to_owned()
            } else {
                "ok".to_owned()
            },
            latency_ms: Some(250),
            ttft_ms: (id == "r1").then_some(42),
            estimated: false,
            occurred_at: at,
        };
    t.app
        .store
        .record_usage(
            &[
                record(
                    "r1",
                    &p,
                    &key_p,
                    "llama-<8b>",
                    2_000_000,
                    today - 3 * DAY_MS,
                ),
                record("r2", &q, &key_q, "qwen", 500_000, today - 2 * DAY_MS),
                record("r3", &p, &key_p, "qwen", 250_000, today + 60_000),
            ],
            now,
        )
        .await
        .unwrap();

    let (s, html) = page(&t, &admin, &format!("/o/{org}/usage")).await;
    assert_eq!(s, 200);
    let nav = &html[..html
        .find("<span>Usage</span>")
        .expect("Usage in the navigation")];
    assert!(
        nav[nav.rfind("<li>").unwrap()..].contains("aria-current=\"page\""),
        "Usage is the current page"
    );
    assert!(
        html.contains("id=\"cost-chart\"><svg class=\"chart\""),
        "cost chart drawn"
    );
    assert!(
        html.contains("id=\"token-chart\"><svg class=\"chart\""),
        "token chart drawn"
    );
    // Tooltips name the day, the series and the value; a model name is escaped.
    assert!(html.contains("llama-&lt;8b&gt;: $2.00</title>"), "{html}");
    assert!(html.contains("Output tokens: 400</title>"));
    assert!(html.contains("id=\"total-cost\">$2.75<"));
    assert!(html.contains("id=\"total-requests\">3<"));
    assert!(html.contains("id=\"usage-table\""));
    assert!(
        html.contains("&amp;group_by=model&amp;format=csv")
            || html.contains("&group_by=model&format=csv")
    );

    // Switching the table to projects names them and links them.
    let (_, html) = page(
        &t,
        &admin,
        &format!("/o/{org}/usage?range=30d&table=project"),
    )
    .await;
    assert!(html.contains(&format!("href=\"/o/{org}/projects/{p}\">Payments</a>")));
    assert!(html.contains("Quokka"));
    // Today only: just r3.
    let (_, html) = page(&t, &admin, &format!("/o/{org}/usage?range=today")).await;
    assert!(html.contains("id=\"total-requests\">1<"));
    // A custom range with nothing in it: the empty state, no charts.
    let (_, html) = page(
        &t,
        &admin,
        &format!("/o/{org}/usage?range=custom&from=2020-01-01&to=2020-01-31"),
    )
    .await;
    assert!(html.contains("id=\"usage-empty\""));
    assert!(!html.contains("id=\"cost-chart\""));
    let (s, _) = page(
        &t,
        &admin,
        &format!("/o/{org}/usage?range=custom&from=2020-02-01&to=2020-01-01"),
    )
    .await;
    assert_eq!(s, 400);

    // The member sees their project only.
    let (s, html) = page(&t, &member, &format!("/o/{org}/usage?table=project")).await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"total-requests\">2<"));
    assert!(!html.contains("Quokka"));
    let (s, _) = page(&t, &member, &format!("/o/{org}/usage?project_id={q}")).await;
    assert_eq!(s, 404);

    // The request log, with a filter.
    let (s, html) = page(&t, &admin, &format!("/o/{org}/usage/requests")).await;
    assert_eq!(s, 200);
    assert!(html.contains(">r1<") && html.contains(">r2<") && html.contains(">r3<"));
    // Time to first token: r1 streamed (42 ms), the others did not.
    assert!(html.contains("Time to first token"));
    assert_eq!(html.matches("data-ttft>42 ms<").count(), 1);
    assert_eq!(html.matches("data-ttft>—<").count(), 2);
    let (_, html) = page(
        &t,
        &admin,
        &format!("/o/{org}/usage/requests?status=error&model=&key_id="),
    )
    .await;
    assert!(html.contains(">r3<") && !html.contains(">r1<"));
    let (_, html) = page(&t, &member, &format!("/o/{org}/usage/requests")).await;
    assert!(!html.contains(">r2<"));

    // The Overview's usage card.
    let (_, html) = page(&t, &admin, &format!("/o/{org}")).await;
    assert!(html.contains("id=\"requests-today\">1<"));
    assert!(html.contains("<svg class=\"sparkline\""));
}

on_both_engines!(the_usage_pages_show_charts_tables_and_the_log);

/// On 2026-03-15 12:00 UTC: key A spent $1.25 on March 10 and $2 on February 20, key B nothing.
async fn a_project_page_and_the_key_table_show_usage(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    t.clock.set_ms(1_773_576_000_000);
    let admin = t.sign_up("admin@example.com").await;
    let org = admin.org_id.clone();
    let p = create_project(&t, &admin, &org, "Payments").await;
    let q = create_project(&t, &admin, &org, "Quokka").await;
    let (key_a, _) = create_key(&t, &admin, &org, &p).await;
    let (key_b, _) = create_key(&t, &admin, &org, &q).await;
    let now = t.app.now();
    let record = |id: &str, micros: i64, at: i64| UsageRecord {
        id: id.to_owned(),
        org_id: org.clone(),
        project_id: p.clone(),
        key_id: CallerId::from_stored(key_a.clone()),
        model: "qwen".to_owned(),
        input_tokens: 100,
        cached_input_tokens: 0,
        output_tokens: 50,
        cost: tollgate_domain::usage::UsageCost::from_picos(micros * 1_000_000).unwrap(),
        plan: "payg",
        status: "ok".to_owned(),
        latency_ms: Some(10),
        ttft_ms: None,
        estimated: false,
        occurred_at: at,
    };
    let march_10 = now - 5 * DAY_MS + 3_600_000;
    let february_20 = now - 23 * DAY_MS;
    t.app
        .store
        .record_usage(
            &[
                record("m1", 1_250_000, march_10),
                record("f1", 2_000_000, february_20),
            ],
            now,
        )
        .await
        .unwrap();

    // The key table: this month's spend only, and when the key was last used.
    let (s, html) = page(&t, &admin, &format!("/o/{org}/api-keys?project=all")).await;
    assert_eq!(s, 200);
    let row = |key: &str| {
        let at = html.find(&format!("data-key=\"{key}\"")).unwrap();
        let end = at + html[at..].find("</tr>").unwrap();
        html[at..end].to_owned()
    };
    let a = row(&key_a);
    assert!(a.contains("data-spend>$1.25<"), "{a}");
    assert!(a.contains("data-last-used>Mar 10, 2026 13:00"), "{a}");
    let b = row(&key_b);
    assert!(b.contains("data-spend>$0.00<"), "{b}");
    assert!(b.contains("data-last-used>Never<"), "{b}");

    // The project page: the last 30 days of this project only.
    let (s, html) = page(&t, &admin, &format!("/o/{org}/projects/{p}")).await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"project-cost\">$3.25<"), "{html}");
    assert!(html.contains("id=\"project-requests\">2<"));
    assert!(html.contains("id=\"project-sparkline\"><svg class=\"sparkline\""));
    assert!(html.contains("2026-03-10: $1.25</title>"));
    assert!(html.contains(&format!("/o/{org}/usage?project_id={p}")));
    let (_, html) = page(&t, &admin, &format!("/o/{org}/projects/{q}")).await;
    assert!(html.contains("id=\"project-cost\">$0.00<"));
    assert!(html.contains("id=\"project-requests\">0<"));
}

on_both_engines!(a_project_page_and_the_key_table_show_usage);
