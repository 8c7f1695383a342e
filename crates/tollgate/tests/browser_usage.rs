//! In a real headless Chromium, the Usage page over seeded usage: the SVG charts are drawn with
//! a bar per model and day, the range tabs and the table tabs switch what is shown, and the
//! "Download CSV" link, fetched in the browser's session, answers the CSV of what is shown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::json;
use support::webdriver::Browser;
use support::{Server, TempDir};
use tollgate_domain::usage::UsageCost;
use tollgate_domain::CallerId;
use tollgate_store::{Store, StoreOptions, UsageRecord, DAY_MS};

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Three records of the default project: `alpha` a day ago ($2), `beta` two days ago ($0.50),
/// `alpha` twenty days ago ($1): 7 days show two, 30 days all three.
async fn seed(data: &TempDir, org_id: &tollgate_domain::OrgId) -> String {
    let url = format!("sqlite:{}", data.path().join("tollgate.db").display());
    let store = Store::connect(&url, StoreOptions::default()).await.unwrap();
    let project = store.default_project(org_id).await.unwrap().unwrap();
    let now = now_ms();
    let record = |id: &str, model: &str, dollars_cents: i64, at: i64| UsageRecord {
        id: id.to_owned(),
        org_id: org_id.clone(),
        project_id: project.id.clone(),
        key_id: CallerId::from_stored("key_browser".to_owned()),
        model: model.to_owned(),
        input_tokens: 1_000,
        cached_input_tokens: 0,
        output_tokens: 300,
        cost: UsageCost::from_picos(dollars_cents * 10_000 * 1_000_000).unwrap(),
        plan: "payg",
        status: "ok".to_owned(),
        latency_ms: Some(120),
        ttft_ms: Some(40),
        estimated: false,
        occurred_at: at,
    };
    store
        .record_usage(
            &[
                record("req_b1", "alpha", 200, now - DAY_MS),
                record("req_b2", "beta", 50, now - 2 * DAY_MS),
                record("req_b3", "alpha", 100, now - 20 * DAY_MS),
            ],
            now,
        )
        .await
        .unwrap();
    project.name
}

/// Waits until the page's URL contains `needle` (a navigation after a click).
async fn wait_for_url(b: &Browser, needle: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let url = b.current_url().await;
        if url.contains(needle) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never navigated to {needle:?}: at {url}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_page_draws_charts_switches_range_and_table_and_downloads_csv() {
    let data = TempDir::new("browser-usage");
    let server = Server::start(&["--data-dir", data.path().to_str().unwrap()], &[]);
    let b = Browser::start().await;

    b.goto(&server.url("/signup")).await;
    b.find("#name").await.type_text("Ada Admin").await;
    b.find("#email").await.type_text("ada@example.com").await;
    b.find("#password")
        .await
        .type_text("a long enough password")
        .await;
    b.find("#submit").await.click().await;
    b.wait_for_text("Overview").await;
    let url = b.current_url().await;
    let org_id = url
        .split("/o/")
        .nth(1)
        .and_then(|rest| rest.split(['/', '?']).next())
        .and_then(tollgate_domain::OrgId::parse)
        .expect("the Overview is under /o/{org}");
    let project_name = seed(&data, &org_id).await;

    b.find("nav a[href$='/usage']").await.click().await;
    b.wait_for_text("Cost per day by model").await;
    // 30 days by default: three records, $3.50; a bar (with its tooltip) per model and day.
    assert_eq!(b.find("#total-requests").await.text().await, "3");
    assert_eq!(b.find("#total-cost").await.text().await, "$3.50");
    assert_eq!(b.count("#cost-chart svg.chart").await, 1);
    assert_eq!(b.count("#cost-chart svg rect").await, 3);
    assert_eq!(b.count("#cost-chart svg rect > title").await, 3);
    // Tokens: input and output on each of the three days.
    assert_eq!(b.count("#token-chart svg rect").await, 6);
    let legend = b.find("#cost-chart .chart-legend").await.text().await;
    assert!(
        legend.contains("alpha") && legend.contains("beta"),
        "{legend}"
    );
    let tooltips = b
        .execute(
            "return Array.from(document.querySelectorAll('#cost-chart svg rect > title'))\
             .map(t => t.textContent).join('\\n');",
            vec![],
        )
        .await;
    let tooltips = tooltips.as_str().unwrap();
    assert!(tooltips.contains("alpha: $2.00"), "{tooltips}");
    assert!(tooltips.contains("beta: $0.50"), "{tooltips}");
    assert!(tooltips.contains("alpha: $1.00"), "{tooltips}");
    b.snapshot("usage-30-days").await;

    // 7 days: the record of twenty days ago is gone from the totals and the chart.
    b.find("#range-picker a[href*='range=7d']")
        .await
        .click()
        .await;
    wait_for_url(&b, "range=7d").await;
    b.wait_for_text("Cost per day by model").await;
    assert_eq!(b.find("#total-requests").await.text().await, "2");
    assert_eq!(b.find("#total-cost").await.text().await, "$2.50");
    assert_eq!(b.count("#cost-chart svg rect").await, 2);
    assert_eq!(
        b.find("#range-picker a[aria-current='page']")
            .await
            .text()
            .await,
        "7 days"
    );

    // The table by project: the default project's row, with the 7 days' cost.
    b.find("#table-picker a[href*='table=project']")
        .await
        .click()
        .await;
    wait_for_url(&b, "table=project").await;
    b.wait_for_text("By project").await;
    assert!(b.current_url().await.contains("range=7d"));
    let table = b.find("#usage-table tbody").await.text().await;
    assert!(
        table.contains(&project_name) && table.contains("$2.50"),
        "{table}"
    );

    // "Download CSV" is the CSV of what is shown: 7 days by day and project.
    let href = b.find("#csv-download").await.attr("href").await.unwrap();
    assert!(href.contains("format=csv") && href.contains("group_by=project"));
    let got = b
        .execute(
            "const x = new XMLHttpRequest(); x.open('GET', arguments[0], false); x.send(); \
             return [x.status, x.getResponseHeader('Content-Type'), \
                     x.getResponseHeader('Content-Disposition'), x.responseText];",
            vec![json!(href)],
        )
        .await;
    assert_eq!(got[0], json!(200), "{got}");
    assert!(got[1].as_str().unwrap().starts_with("text/csv"), "{got}");
    assert!(
        got[2]
            .as_str()
            .unwrap()
            .starts_with("attachment; filename=\"usage-"),
        "{got}"
    );
    let csv = got[3].as_str().unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "day,project,requests,errors,input_tokens,cached_input_tokens,output_tokens,cost_usd",
        "{csv}"
    );
    // One line per day with usage in the 7 days, each of one request.
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1..].iter().all(|l| l.contains(",1,0,1000,0,300,")),
        "{csv}"
    );
    let costs: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    assert_eq!(costs.len(), 2);
    assert!(costs.contains(&"2.00") && costs.contains(&"0.50"), "{csv}");
}
