//! Issue 14, bugs 9 and 11, in a real headless Chromium, checked by script rather than by eye:
//! at phone width (390×844) no console page of an organization with data (keys, members,
//! invites, payments, a subscription, usage) scrolls sideways, the top bar's switchers and
//! avatar stay on screen and every table's action column can be reached; at 1400×900 the audit
//! log's table fits its card; a receipt prints without the console around it; bug 13's
//! details (separators, pagers, no native confirm(), the sole admin, the card form).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{json, Value};
use support::webdriver::Browser;
use support::{wait_for_links, Server, TempDir};

const PASSWORD: &str = "a long enough password";
/// A key name without spaces, as people name them: it must not widen any table.
const LONG_KEY_NAME: &str = "production-inference-pipeline-eu-west-1-nightly-batch-embeddings";

/// A JSON API client signed in as a new user (cookies kept; same-origin as the API asks).
async fn api_user(server: &Server, email: &str, name: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", server.base.parse().unwrap());
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .build()
        .unwrap();
    let (s, body) = call(
        client
            .post(server.url("/api/v1/auth/signup"))
            .json(&json!({"email": email, "password": PASSWORD, "name": name})),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    server.verify_email(email).await;
    client
}

async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// What the pages show: a second project, keys, a member, pending invites, a card and an
/// address, a purchase and a declined attempt, a subscription and gateway usage.
struct Seeded {
    org: String,
    project: String,
    payment: String,
}

async fn seed(server: &Server, data: &TempDir) -> Seeded {
    let ada = api_user(
        server,
        "ada.lovelace@analytical-engines.example.com",
        "Ada Lovelace",
    )
    .await;
    let (_, me) = call(ada.get(server.url("/api/v1/me"))).await;
    let org = me["organizations"][0]["id"].as_str().unwrap().to_owned();
    let o = |path: &str| server.url(&format!("/api/v1/orgs/{org}{path}"));
    let (s, p) = call(
        ada.post(o("/projects"))
            .json(&json!({"name": "Production inference for the EU region"})),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    let project = p["id"].as_str().unwrap().to_owned();
    let mut key = String::new();
    for name in [LONG_KEY_NAME, "CI"] {
        let (s, k) = call(
            ada.post(o(&format!("/projects/{project}/api-keys")))
                .json(&json!({ "name": name })),
        )
        .await;
        assert_eq!(s, 201, "{k}");
        key = k["key"].as_str().unwrap().to_owned();
    }

    // A member (through an invitation) and invitations still pending.
    let (s, r) = call(ada.post(o("/invites")).json(&json!({
        "emails": ["grace@example.com", "a.very.long.address.for.an.invitee@subsidiary.example.org"],
        "role": "project_member", "project_ids": [project],
    })))
    .await;
    assert_eq!(s, 201, "{r}");
    let link = wait_for_links(data.path(), "grace@example.com", 1)
        .await
        .remove(0);
    let grace = api_user(server, "grace@example.com", "Grace Hopper").await;
    let (s, r) = call(grace.post(server.url(&format!("/api/v1{link}/accept")))).await;
    assert_eq!(s, 200, "{r}");

    // Money: a card, an address, a declined attempt, a purchase, a subscription.
    let card = |number: &str| json!({"card_number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"});
    let (s, r) = call(ada.put(o("/billing/address")).json(&json!({
        "name": "Analytical Engines Ltd", "line1": "12 St James's Square", "line2": "",
        "city": "London", "state": "", "postal_code": "SW1Y 4JH", "country": "GB",
    })))
    .await;
    assert_eq!(s, 200, "{r}");
    for (number, amount, want) in [
        ("4000000000000002", "25", 402),
        ("4242424242424242", "10000", 201),
    ] {
        let (s, r) = call(ada.put(o("/billing/payment-method")).json(&card(number))).await;
        assert_eq!(s, 200, "{r}");
        let (s, r) = call(
            ada.post(o("/billing/credits"))
                .header("Idempotency-Key", format!("seed-{number}"))
                .json(&json!({ "amount": amount })),
        )
        .await;
        assert_eq!(s, want, "{r}");
    }
    let (s, r) = call(
        ada.post(o("/subscriptions"))
            .json(&json!({"model": "llama-3.1-70b-instruct", "tier": "pro"})),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    let (_, payments) = call(ada.get(o("/billing/payments"))).await;
    let payment = payments["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["status"] == "succeeded")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Usage, through the gateway and the built-in mock upstream.
    for _ in 0..3 {
        let (s, r) = call(
            reqwest::Client::new()
                .post(server.url("/v1/chat/completions"))
                .bearer_auth(&key)
                .json(&json!({"model": "llama-3.1-8b-instruct", "max_tokens": 16,
                              "messages": [{"role": "user", "content": "Hello"}]})),
        )
        .await;
        assert_eq!(s, 200, "{r}");
    }
    Seeded {
        org,
        project,
        payment,
    }
}

/// What overflows sideways on the page now: the page's own width against the viewport, the
/// elements sticking out of it (outside any container that scrolls by itself), top-bar
/// controls off screen, and action cells that can be reached neither on screen nor by
/// scrolling their table.
const LAYOUT_PROBLEMS: &str = r##"
const vw = window.innerWidth;
const problems = [];
const de = document.documentElement;
if (de.scrollWidth > vw) problems.push(`the page is ${de.scrollWidth}px wide in a ${vw}px viewport`);
const scrolls = (el) => {
  for (let a = el.parentElement; a; a = a.parentElement) {
    const o = getComputedStyle(a).overflowX;
    if (o === "auto" || o === "scroll") return a;
  }
  return null;
};
const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
  (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "");
for (const el of document.querySelectorAll("body *")) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || getComputedStyle(el).position === "fixed") continue;
  if (el.closest("dialog:not([open]), details:not([open]) > :not(summary)")) continue;
  if (r.right > vw + 1 && !scrolls(el)) { problems.push(`${name(el)} reaches ${Math.round(r.right)}px`); if (problems.length > 8) break; }
}
for (const sel of [".nav-toggle-label", ".org-switcher > summary", ".project-switcher > summary", ".user-menu > summary"]) {
  const el = document.querySelector(sel);
  if (!el) continue;
  const r = el.getBoundingClientRect();
  if (sel === ".nav-toggle-label" && r.width === 0) continue; // no menu button on desktops
  if (r.width === 0 || r.left < 0 || r.right > vw) problems.push(`top bar: ${sel} is off screen (${Math.round(r.left)}–${Math.round(r.right)})`);
}
for (const cell of document.querySelectorAll("td.actions")) {
  const r = cell.getBoundingClientRect();
  const box = scrolls(cell);
  const onScreen = r.right <= vw + 1;
  const byScrolling = box && box.getBoundingClientRect().right <= vw + 1;
  if (!onScreen && !byScrolling) problems.push(`an action cell at ${Math.round(r.left)}px cannot be reached`);
}
return problems;
"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_console_page_fits_a_phone_and_the_audit_log_fits_a_desktop() {
    let data = TempDir::new("browser-layout");
    let server = Server::start(&["--data-dir", data.path().to_str().unwrap()], &[]);
    let seeded = seed(&server, &data).await;
    let b = Browser::start().await;
    b.goto(&server.url("/login")).await;
    b.find("#email")
        .await
        .type_text("ada.lovelace@analytical-engines.example.com")
        .await;
    b.find("#password").await.type_text(PASSWORD).await;
    b.find("#submit").await.click().await;
    b.wait_for_text("Overview").await;

    let (org, project) = (&seeded.org, &seeded.project);
    let pages = [
        format!("/o/{org}"),
        format!("/o/{org}/projects"),
        format!("/o/{org}/projects/{project}"),
        format!("/o/{org}/api-keys?project=all"),
        format!("/o/{org}/api-keys?project={project}"),
        format!("/o/{org}/usage"),
        format!("/o/{org}/usage/requests"),
        format!("/o/{org}/members"),
        format!("/o/{org}/billing"),
        format!("/o/{org}/billing/payg"),
        format!("/o/{org}/billing/payment"),
        format!("/o/{org}/billing/address"),
        format!("/o/{org}/billing/receipts"),
        format!("/o/{org}/billing/receipts/{}", seeded.payment),
        format!("/o/{org}/subscriptions"),
        format!("/o/{org}/settings"),
        format!("/o/{org}/audit-log"),
        "/orgs/new".to_owned(),
    ];
    b.set_viewport(390, 844).await;
    let mut wrong = Vec::new();
    for page in &pages {
        b.goto(&server.url(page)).await;
        b.find("main#main").await;
        let problems = b.execute(LAYOUT_PROBLEMS, vec![]).await;
        for p in problems.as_array().unwrap() {
            wrong.push(format!("{page}: {}", p.as_str().unwrap()));
        }
    }
    assert!(wrong.is_empty(), "at 390×844:\n{}", wrong.join("\n"));
    // The checks see what they should: a table with actions, on screen or scrolling by itself.
    b.goto(&server.url(&format!("/o/{org}/api-keys?project={project}")))
        .await;
    assert!(b.count("td.actions form").await >= 2);

    b.set_viewport(1400, 900).await;
    b.goto(&server.url(&format!("/o/{org}/audit-log"))).await;
    let fits = b
        .execute(
            "const t = document.getElementById('audit-table'); \
             return [t.scrollWidth, t.closest('.table-wrap').clientWidth];",
            vec![],
        )
        .await;
    assert!(
        fits[0].as_i64() <= fits[1].as_i64(),
        "the audit log's table is {} px wide in a {} px card",
        fits[0],
        fits[1]
    );
    let problems = b.execute(LAYOUT_PROBLEMS, vec![]).await;
    assert_eq!(problems, json!([]), "at 1400×900");

    // Bug 13: thousands separators; one-page tables without a dead pager; the sole admin has
    // no Remove on herself; the card form folded while a card is on file, compact when open.
    b.goto(&server.url(&format!("/o/{org}/billing/receipts")))
        .await;
    b.wait_for_text("$10,000.00").await;
    assert!(!b.page_text().await.contains("10000.00"));
    for page in ["members", "audit-log"] {
        b.goto(&server.url(&format!("/o/{org}/{page}"))).await;
        b.find("main#main").await;
        assert_eq!(
            b.count("[aria-disabled='true']").await,
            0,
            "{page}: a dead pager"
        );
    }
    b.goto(&server.url(&format!("/o/{org}/members"))).await;
    let ada_row = "tr[data-member='ada.lovelace@analytical-engines.example.com']";
    assert_eq!(
        b.count(&format!("{ada_row} form[action$='/remove']")).await,
        0
    );
    assert_eq!(
        b.count("tr[data-member='grace@example.com'] form[action$='/remove']")
            .await,
        1
    );
    b.goto(&server.url(&format!("/o/{org}/billing/payment")))
        .await;
    let visible = "return document.getElementById('card-number').checkVisibility();";
    assert_eq!(b.execute(visible, vec![]).await, json!(false), "folded");
    b.find("#replace-card > summary").await.click().await;
    assert_eq!(b.execute(visible, vec![]).await, json!(true), "unfolded");
    let tops = b
        .execute(
            "return ['exp-month', 'exp-year', 'cvc'].map((id) =>                Math.round(document.getElementById(id).getBoundingClientRect().top));",
            vec![],
        )
        .await;
    assert!(
        tops[0] == tops[1] && tops[1] == tops[2],
        "expiry and CVC on one row: {tops}"
    );

    // Bug 13: no native confirm(): the console's dialog asks, Cancel keeps the key.
    b.goto(&server.url(&format!("/o/{org}/api-keys?project={project}")))
        .await;
    b.execute(
        "window.confirm = () => { throw new Error('native confirm() used'); };",
        vec![],
    )
    .await;
    let revoke = "tr:last-child form[action$='/revoke'] button";
    b.find(revoke).await.click().await;
    let open = "const d = document.getElementById('confirm-dialog');                 return !!d && d.open && d.matches(':modal');";
    assert_eq!(b.execute(open, vec![]).await, json!(true));
    b.find("#confirm-dialog [data-dialog-close]")
        .await
        .click()
        .await;
    assert_eq!(b.execute(open, vec![]).await, json!(false));
    assert_eq!(
        b.count("td.actions form").await,
        2,
        "Cancel revokes nothing"
    );
    b.find(revoke).await.click().await;
    b.find("#confirm-dialog-ok").await.click().await;
    b.wait_for_text("Key revoked").await;
    assert_eq!(b.count("td.actions form").await, 1);

    // Bug 10: a receipt printed (or saved as PDF) shows the receipt and none of the console.
    b.goto(&server.url(&format!("/o/{org}/billing/receipts/{}", seeded.payment)))
        .await;
    b.find("#print-receipt").await;
    b.emulate_media("print").await;
    let shown = b
        .execute(
            "const shown = (sel) => [...document.querySelectorAll(sel)]                .some((el) => el.getClientRects().length > 0);              return ['.topbar', '.sidebar', '.tabs', '#print-receipt', '#all-receipts', '#receipt', '#bill-to']                .map((sel) => [sel, shown(sel)]);",
            vec![],
        )
        .await;
    assert_eq!(
        shown,
        json!([
            [".topbar", false],
            [".sidebar", false],
            [".tabs", false],
            ["#print-receipt", false],
            ["#all-receipts", false],
            ["#receipt", true],
            ["#bill-to", true]
        ]),
        "printed"
    );
    b.emulate_media("").await;
}
