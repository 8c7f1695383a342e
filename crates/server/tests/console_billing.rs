#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The Billing pages over HTTP (no browser): who may see them, forms with bad input change
//! nothing, a card and a purchase through the forms, a replayed form buys once.

use tollgate_domain::project::ProjectRole;
use tollgate_server::testing::TestApp;
use tollgate_store::{on_both_engines, Engine};

async fn page(client: &reqwest::Client, url: String) -> (u16, String) {
    let r = client.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field"))
        + marker.len();
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

async fn billing_pages_are_for_org_admins(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    let eve = t.sign_up("eve@example.com").await;
    let default = t.default_project(&ada.org_id).await;
    t.add_member(
        &ada.org_id,
        &bob.id,
        &[(&default, ProjectRole::ProjectAdmin)],
    )
    .await;
    for tab in ["", "/payg", "/payment", "/address", "/receipts"] {
        let url = t.url(&format!("/o/{}/billing{tab}", ada.org_id));
        assert_eq!(page(&ada.client, url.clone()).await.0, 200, "admin: {tab}");
        assert_eq!(page(&bob.client, url.clone()).await.0, 403, "member: {tab}");
        assert_eq!(
            page(&eve.client, url).await.0,
            404,
            "another organization: {tab}"
        );
    }
}

async fn card_and_purchase_through_the_forms(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let payment = t.url(&format!("/o/{}/billing/payment", ada.org_id));
    let (_, html) = page(&ada.client, payment.clone()).await;
    let csrf = hidden(&html, "csrf");
    let card = |number: &str, month: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("card_number", number.to_owned()),
            ("exp_month", month.to_owned()),
            ("exp_year", "2040".to_owned()),
            ("cvc", "123".to_owned()),
        ]
    };
    for (number, month) in [
        ("4242424242424241", "12"),
        ("4242424242424242", "13"),
        ("abc", "12"),
    ] {
        let r = ada
            .client
            .post(&payment)
            .form(&card(number, month))
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_client_error(),
            "{number} {month}: {}",
            r.status()
        );
        let body = r.text().await.unwrap();
        assert!(
            body.contains("field-error") || body.contains("form-error"),
            "the error is shown"
        );
        assert!(
            !body.contains(number) || number == "abc",
            "the card number is not echoed"
        );
    }
    let (_, overview) = page(&ada.client, t.url(&format!("/o/{}/billing", ada.org_id))).await;
    assert!(!overview.contains("4242"), "no card was saved");
    let r = ada
        .client
        .post(&payment)
        .form(&card("4242424242424242", "12"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    let payg = t.url(&format!("/o/{}/billing/payg", ada.org_id));
    let buy = t.url(&format!("/o/{}/billing/credits", ada.org_id));
    let (_, html) = page(&ada.client, payg.clone()).await;
    let (csrf, key) = (hidden(&html, "csrf"), hidden(&html, "idempotency_key"));
    let form = |amount: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("idempotency_key", key.clone()),
            ("amount", amount.to_owned()),
        ]
    };
    for bad in ["5", "-10", "10.001", "ten", "100000"] {
        let r = ada.client.post(&buy).form(&form(bad)).send().await.unwrap();
        assert!(r.status().is_client_error(), "{bad}: {}", r.status());
    }
    assert_eq!(
        t.app
            .store
            .credit_account(&ada.org_id)
            .await
            .unwrap()
            .balance
            .micros(),
        0
    );
    let r = ada
        .client
        .post(&buy)
        .form(&form("25.00"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // The same form submitted twice (a double click, a reload) buys once.
    let r = ada
        .client
        .post(&buy)
        .form(&form("25.00"))
        .send()
        .await
        .unwrap();
    assert!(r.status() == 303 || r.status().is_client_error());
    assert_eq!(
        t.app
            .store
            .credit_account(&ada.org_id)
            .await
            .unwrap()
            .balance
            .micros(),
        25_000_000
    );
    let (_, html) = page(&ada.client, payg).await;
    assert!(
        html.contains("$25.00"),
        "the balance and the grant are shown"
    );
}

on_both_engines!(
    billing_pages_are_for_org_admins,
    card_and_purchase_through_the_forms
);
