#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The Subscriptions tab without JavaScript: tiers side by side, Subscribe, Change, Cancel and
//! Keep; a sold-out tier shows "Temporarily Sold Out" and has no Subscribe button; members do
//! not see the tab.

mod subscriptions_common;

use subscriptions_common::*;
use tollgate_domain::ProjectRole;
use tollgate_server::testing::TestApp;
use tollgate_store::{on_both_engines, Engine};

fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..at + 64].to_owned()
}

async fn get(client: &reqwest::Client, url: String) -> (u16, String) {
    let r = client.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn post(client: &reqwest::Client, url: String, form: &[(&str, &str)]) -> (u16, String) {
    let r = client.post(url).form(form).send().await.unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = r.text().await.unwrap();
    (status, if status == 303 { location } else { body })
}

async fn the_subscriptions_tab(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let page_url = t.url(&format!("/o/{}/subscriptions", ada.org_id));
    let (s, html) = get(&ada.client, page_url.clone()).await;
    assert_eq!(s, 200, "{html}");
    // A tab of Billing: Billing is the current section, Subscriptions the current tab.
    assert!(
        html.contains("aria-current=\"page\"><svg") && html.contains("<span>Billing</span>"),
        "Billing in the navigation"
    );
    assert!(
        html.contains("class=\"tab active\" aria-current=\"page\">Subscriptions</a>"),
        "the Subscriptions tab"
    );
    assert!(
        html.contains("id=\"no-card\""),
        "no card: says so, with a link to Payment"
    );
    for text in [
        "Llama 3.1 8B Instruct",
        "Starter",
        "$29.00",
        "Pro",
        "$199.00",
        "RPM",
        "TPD",
        // The Starter tier's TPM, with thousands separators as every big count of the console.
        "<td class=\"mono\">200,000</td>",
    ] {
        assert!(html.contains(text), "{text}");
    }
    // The catalog marks 70B Dedicated sold out: the badge, the contact text, no button.
    assert!(html.contains("Temporarily Sold Out"));
    assert!(html.contains("contact support"));
    assert!(!html.contains("id=\"subscribe-llama-3.1-70b-instruct-dedicated\""));
    assert!(html.contains("id=\"subscribe-llama-3.1-70b-instruct-pro\""));

    // Without a card, subscribing says what to do.
    let token = csrf(&html);
    let (s, body) = post(
        &ada.client,
        page_url.clone(),
        &[
            ("csrf", &token),
            ("model", "llama-3.1-8b-instruct"),
            ("tier", "starter"),
        ],
    )
    .await;
    assert_eq!(s, 409);
    assert!(body.contains("no payment method"), "{body}");

    save_card(&t, &ada.org_id, GOOD_CARD).await;
    let (s, to) = post(
        &ada.client,
        page_url.clone(),
        &[
            ("csrf", &token),
            ("model", "llama-3.1-8b-instruct"),
            ("tier", "starter"),
            ("confirm", "yes"),
            ("expected_amount", "29000000"),
        ],
    )
    .await;
    assert_eq!((s, to.contains("notice=subscribed")), (303, true));
    let (_, html) = get(&ada.client, page_url.clone()).await;
    assert!(
        html.contains("Subscribed: <strong>Starter</strong>"),
        "{html}"
    );
    assert!(html.contains("Current plan") && html.contains("Renews on"));
    let sub = t
        .app
        .store
        .subscriptions(&ada.org_id)
        .await
        .unwrap()
        .remove(0);

    let base = format!("{page_url}/{}", sub.id);
    let (s, _) = post(
        &ada.client,
        format!("{base}/change"),
        &[
            ("csrf", &token),
            ("tier", "pro"),
            ("confirm", "yes"),
            ("expected_amount", "170000000"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    let (_, html) = get(&ada.client, page_url.clone()).await;
    assert!(html.contains("Subscribed: <strong>Pro</strong>"));
    let (s, _) = post(&ada.client, format!("{base}/cancel"), &[("csrf", &token)]).await;
    assert_eq!(s, 303);
    let (_, html) = get(&ada.client, page_url.clone()).await;
    assert!(html.contains("Ends on"), "the end date is shown");
    assert!(html.contains("Keep subscription"));
    let (s, _) = post(&ada.client, format!("{base}/resume"), &[("csrf", &token)]).await;
    assert_eq!(s, 303);
    let (_, html) = get(&ada.client, page_url.clone()).await;
    assert!(!html.contains("Ends on"));
    // A forged form changes nothing.
    let (s, _) = post(
        &ada.client,
        format!("{base}/cancel"),
        &[("csrf", &"0".repeat(64))],
    )
    .await;
    assert_eq!(s, 403);
    assert!(!t.app.store.subscriptions(&ada.org_id).await.unwrap()[0].cancel_at_period_end);

    // Members: no tab, 403 on the page.
    let bob = t.sign_up("bob@example.com").await;
    let default = t.default_project(&ada.org_id).await;
    t.add_member(
        &ada.org_id,
        &bob.id,
        &[(&default, ProjectRole::ProjectAdmin)],
    )
    .await;
    let (s, _) = get(&bob.client, page_url.clone()).await;
    assert_eq!(s, 403);
    let (_, overview) = get(&bob.client, t.url(&format!("/o/{}", ada.org_id))).await;
    assert!(overview.contains("<span>Overview</span>"));
    assert!(
        !overview.contains("<span>Billing</span>"),
        "members get no Billing section"
    );
}

on_both_engines!(the_subscriptions_tab);
