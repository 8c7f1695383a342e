#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Money never moves without a preview (issue 14, bug 7), and billing notices are one readable
//! sentence (bug 1): Subscribe, an upgrade and turning auto-recharge on below its threshold
//! first answer a confirmation with the amount and the card, charge only the confirmed amount,
//! and then say what was charged. A downgrade shows its date as text and can be undone (bug 6).

mod subscriptions_common;

use subscriptions_common::*;
use tollgate_server::testing::{TestApp, TestUser};
use tollgate_store::{on_both_engines, Engine};

const MODEL: &str = "llama-3.1-8b-instruct";

fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..at + 64].to_owned()
}

async fn get(user: &TestUser, url: String) -> String {
    let r = user.client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// Posts a form; (status, `Location` or body).
async fn post(user: &TestUser, url: String, form: &[(&str, &str)]) -> (u16, String) {
    let r = user.client.post(url).form(form).send().await.unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let body = r.text().await.unwrap();
    (status, location.unwrap_or(body))
}

/// The notice banners of a page, as text.
fn notices(html: &str) -> Vec<String> {
    html.split("class=\"notice notice-success\"")
        .skip(1)
        .map(|rest| {
            let p = rest.split("<p>").nth(1).unwrap_or(rest);
            p.split("</p>").next().unwrap().to_owned()
        })
        .collect()
}

async fn payments(t: &TestApp, org: &tollgate_domain::OrgId) -> usize {
    t.app
        .store
        .payments(org, tollgate_store::PageRequest::first(100))
        .await
        .unwrap()
        .len()
}

async fn subscribe_and_upgrade_are_confirmed_first(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let org = ada.org_id.clone();
    save_card(&t, &org, GOOD_CARD).await;
    let page = t.url(&format!("/o/{org}/subscriptions"));
    let token = csrf(&get(&ada, page.clone()).await);
    let subscribe = [
        ("csrf", token.as_str()),
        ("model", MODEL),
        ("tier", "starter"),
    ];

    // The first answer is the confirmation: amount and card, nothing charged.
    let (s, html) = post(&ada, page.clone(), &subscribe).await;
    assert_eq!(s, 200);
    assert!(
        html.contains(
            "<strong>$29.00</strong> will be charged now to <strong>Visa ending in 4242</strong>"
        ),
        "{html}"
    );
    assert!(
        html.contains("id=\"confirm-charge\"")
            && html.contains("name=\"expected_amount\" value=\"29000000\"")
    );
    assert_eq!(payments(&t, &org).await, 0);
    assert!(t.app.store.subscriptions(&org).await.unwrap().is_empty());

    // Confirming another amount than the one charged: asked again, nothing charged.
    let mut wrong = subscribe.to_vec();
    wrong.extend([("confirm", "yes"), ("expected_amount", "1000000")]);
    let (s, html) = post(&ada, page.clone(), &wrong).await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"confirm-charge-changed\""));
    assert_eq!(payments(&t, &org).await, 0);

    let mut confirmed = subscribe.to_vec();
    confirmed.extend([("confirm", "yes"), ("expected_amount", "29000000")]);
    let (s, to) = post(&ada, page.clone(), &confirmed).await;
    assert_eq!(s, 303);
    assert!(to.contains("notice=subscribed&payment=pay_"), "{to}");
    let html = get(&ada, t.url(&to)).await;
    assert_eq!(
        notices(&html),
        ["Subscribed. $29.00 was charged to Visa ending in 4242."]
    );

    // An upgrade shows the prorated difference first.
    let sub = t.app.store.subscriptions(&org).await.unwrap().remove(0);
    let change = format!("{page}/{}/change", sub.id);
    let (s, html) = post(&ada, change.clone(), &[("csrf", &token), ("tier", "pro")]).await;
    assert_eq!(s, 200);
    assert!(
        html.contains("<strong>$170.00</strong> will be charged now"),
        "{html}"
    );
    assert_eq!(
        t.app.store.subscriptions(&org).await.unwrap()[0].tier,
        "starter"
    );
    let (s, to) = post(
        &ada,
        change.clone(),
        &[
            ("csrf", &token),
            ("tier", "pro"),
            ("confirm", "yes"),
            ("expected_amount", "170000000"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    let html = get(&ada, t.url(&to)).await;
    assert_eq!(
        notices(&html),
        ["Subscription changed. $170.00 was charged to Visa ending in 4242."]
    );

    // A downgrade charges nothing now: no confirmation; its date is text, and it can be undone.
    let (s, _) = post(
        &ada,
        change.clone(),
        &[("csrf", &token), ("tier", "starter")],
    )
    .await;
    assert_eq!(s, 303);
    let html = get(&ada, page.clone()).await;
    assert!(
        html.contains(&format!("id=\"pending-{MODEL}\">Starts on")),
        "{html}"
    );
    assert!(!html.contains("already changes"));
    assert!(html.contains(&format!("id=\"keep-{MODEL}\">Keep Pro<")));
    let (s, to) = post(
        &ada,
        change,
        &[("csrf", &token), ("tier", "pro"), ("confirm", "keep")],
    )
    .await;
    assert_eq!(s, 303);
    let html = get(&ada, t.url(&to)).await;
    assert_eq!(
        notices(&html),
        ["The subscription stays on its current tier."]
    );
    assert_eq!(
        t.app.store.subscriptions(&org).await.unwrap()[0].pending_tier,
        None
    );
    assert_eq!(payments(&t, &org).await, 2);
}

async fn auto_recharge_below_its_threshold_is_confirmed_first(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let org = ada.org_id.clone();
    save_card(&t, &org, GOOD_CARD).await;
    let payg = t.url(&format!("/o/{org}/billing/payg"));
    let token = csrf(&get(&ada, payg.clone()).await);
    let action = t.url(&format!("/o/{org}/billing/auto-recharge"));
    let form = [
        ("csrf", token.as_str()),
        ("enabled", "true"),
        ("threshold", "$10"),
        ("recharge_to", "1,000"),
    ];
    let (s, html) = post(&ada, action.clone(), &form).await;
    assert_eq!(s, 200);
    assert!(
        html.contains(
            "<strong>$1,000.00</strong> will be charged now to <strong>Visa ending in 4242</strong>"
        ),
        "{html}"
    );
    assert!(
        !t.app
            .store
            .billing_profile(&org)
            .await
            .unwrap()
            .auto_recharge
            .enabled
    );
    assert_eq!(payments(&t, &org).await, 0);

    let mut confirmed = form.to_vec();
    confirmed.extend([("confirm", "yes"), ("expected_amount", "1000000000")]);
    let (s, to) = post(&ada, action, &confirmed).await;
    assert_eq!(s, 303);
    let html = get(&ada, t.url(&to)).await;
    assert_eq!(
        notices(&html),
        ["Auto-recharge is on. $1,000.00 was charged to Visa ending in 4242."]
    );
    assert_eq!(payments(&t, &org).await, 1);
}

/// The preview asks what enabling would charge, monthly cap included: a top-up the cap refuses
/// is not charged, so there is nothing to confirm.
async fn auto_recharge_past_its_monthly_cap_asks_nothing(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let org = ada.org_id.clone();
    save_card(&t, &org, GOOD_CARD).await;
    let payg = t.url(&format!("/o/{org}/billing/payg"));
    let token = csrf(&get(&ada, payg.clone()).await);
    let action = t.url(&format!("/o/{org}/billing/auto-recharge"));
    let form = [
        ("csrf", token.as_str()),
        ("enabled", "true"),
        ("threshold", "$10"),
        ("recharge_to", "1,000"),
        ("monthly_cap", "500"),
    ];
    let (s, to) = post(&ada, action, &form).await;
    assert_eq!(s, 303, "no confirmation: {to}");
    let profile = t.app.store.billing_profile(&org).await.unwrap();
    assert!(profile.auto_recharge.enabled);
    let made = t
        .app
        .store
        .payments(&org, tollgate_store::PageRequest::first(100))
        .await
        .unwrap();
    assert!(
        made.iter()
            .all(|p| p.status != tollgate_domain::payment::PaymentStatus::Succeeded),
        "{made:?}"
    );
}

async fn billing_notices_are_one_sentence_and_amounts_read_as_typed(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let org = ada.org_id.clone();
    save_card(&t, &org, GOOD_CARD).await;
    let payg = t.url(&format!("/o/{org}/billing/payg"));
    let html = get(&ada, payg.clone()).await;
    let token = csrf(&html);
    for (typed, paid) in [("$20", "$20.00"), ("1,000", "$1,000.00")] {
        let key = format!("web_{}", typed.len());
        let (s, to) = post(
            &ada,
            t.url(&format!("/o/{org}/billing/credits")),
            &[
                ("csrf", token.as_str()),
                ("amount", typed),
                ("idempotency_key", &key),
            ],
        )
        .await;
        assert_eq!(s, 303, "{typed}: {to}");
        let html = get(&ada, t.url(&to)).await;
        assert_eq!(
            notices(&html),
            [format!(
                "Credits added: they can be used now. {paid} was charged to Visa ending in 4242."
            )]
        );
        assert!(!html.contains("credits_added"));
    }
    for code in ["card_saved", "address_saved", "auto_recharge_off"] {
        let html = get(&ada, format!("{payg}?notice={code}")).await;
        assert_eq!(notices(&html).len(), 1, "{code}");
        assert!(!html.contains(code), "{code} is shown as words");
    }
}

on_both_engines!(
    subscribe_and_upgrade_are_confirmed_first,
    auto_recharge_below_its_threshold_is_confirmed_first,
    auto_recharge_past_its_monthly_cap_asks_nothing,
    billing_notices_are_one_sentence_and_amounts_read_as_typed,
);
