//! In a real headless Chromium: add a 4242 card, subscribe to a tier on Billing › Subscriptions
//! and see it active, upgrade it, cancel it and see its end date; a sold-out tier shows
//! "Temporarily Sold Out" and cannot be subscribed to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::webdriver::Browser;
use support::{Server, TempDir};

const MODEL: &str = "llama-3.1-8b-instruct";

/// The row of `tier` in `model`'s table (ids contain dots, so attribute selectors).
fn row(model: &str, tier: &str) -> String {
    format!("section[data-model='{model}'] tr[data-tier='{tier}']")
}

async fn open_subscriptions(b: &Browser) {
    b.find("nav.tabs a[href$='/subscriptions']")
        .await
        .click()
        .await;
    b.wait_for_text("Monthly plans per model").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_upgrade_and_cancel_a_subscription_sold_out_tiers_refused() {
    let data = TempDir::new("browser-subscriptions");
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

    b.find("nav a[href$='/billing']").await.click().await;
    b.wait_for_text("Credit balance").await;

    // Without a card the page says where to add one.
    open_subscriptions(&b).await;
    assert_eq!(b.count("#no-card").await, 1);

    b.find("nav.tabs a[href$='/billing/payment']")
        .await
        .click()
        .await;
    b.wait_for_text("Payment method").await;
    b.find("#card-number")
        .await
        .type_text("4242 4242 4242 4242")
        .await;
    b.find("#exp-month").await.type_text("12").await;
    b.find("#exp-year").await.type_text("2034").await;
    b.find("#cvc").await.type_text("123").await;
    b.find("#save-card").await.click().await;
    b.wait_for_text("Payment method saved.").await;

    open_subscriptions(&b).await;
    assert_eq!(b.count("#no-card").await, 0);

    // A sold-out tier: the badge, and no Subscribe button.
    let dedicated = row("llama-3.1-70b-instruct", "dedicated");
    assert!(b
        .find(&format!("{dedicated} .sold-out"))
        .await
        .text()
        .await
        .contains("Temporarily Sold Out"));
    assert_eq!(b.count(&format!("{dedicated} button")).await, 0);
    assert_eq!(
        b.count(&format!(
            "{} button.subscribe",
            row("llama-3.1-70b-instruct", "pro")
        ))
        .await,
        1,
        "the open tier of the same model can be subscribed to"
    );

    // Subscribe to Starter: active, Current plan, renews.
    b.find(&format!("{} button.subscribe", row(MODEL, "starter")))
        .await
        .click()
        .await;
    // Money moves only once the amount and the card were shown and confirmed.
    b.wait_for_text("will be charged now to Visa ending in 4242")
        .await;
    b.find("#confirm-charge-submit").await.click().await;
    b.wait_for_text("Subscribed. $29.00 was charged to Visa ending in 4242.")
        .await;
    b.snapshot("subscriptions-subscribed").await;
    let current = b
        .find(&format!("[id='current-{MODEL}']"))
        .await
        .text()
        .await;
    assert!(
        current.contains("Starter") && current.contains("Active") && current.contains("Renews on"),
        "{current}"
    );
    assert!(b
        .find(&row(MODEL, "starter"))
        .await
        .text()
        .await
        .contains("Current plan"));
    assert_eq!(
        b.count(&format!("section[data-model='{MODEL}'] button.subscribe"))
            .await,
        0,
        "one subscription per model"
    );

    // Upgrade to Pro (Change): Pro is the current plan at once.
    b.find(&format!("{} button.change-tier", row(MODEL, "pro")))
        .await
        .click()
        .await;
    b.wait_for_text("will be charged now to Visa ending in 4242")
        .await;
    b.find("#confirm-charge-submit").await.click().await;
    b.wait_for_text("Subscription changed.").await;
    b.wait_for_text("was charged to Visa ending in 4242.").await;
    let current = b
        .find(&format!("[id='current-{MODEL}']"))
        .await
        .text()
        .await;
    assert!(
        current.contains("Pro") && current.contains("Active"),
        "{current}"
    );
    assert!(b
        .find(&row(MODEL, "pro"))
        .await
        .text()
        .await
        .contains("Current plan"));

    // Cancel: it ends at the end of the period, and can be kept.
    let cancel = format!("[id='cancel-{MODEL}']");
    b.execute(
        "document.querySelectorAll('[data-confirm]').forEach(e => e.removeAttribute('data-confirm'))",
        vec![],
    )
    .await;
    b.find(&cancel).await.click().await;
    b.wait_for_text("The subscription will end at the end of its period.")
        .await;
    b.snapshot("subscriptions-canceled").await;
    let ends = b
        .find(&format!("[id='current-{MODEL}'] .sub-ends"))
        .await
        .text()
        .await;
    let date = ends.strip_prefix("Ends on ").expect(&ends);
    assert!(!date.trim().is_empty(), "{ends}");
    assert_eq!(b.count(&format!("[id='resume-{MODEL}']")).await, 1);
    assert_eq!(b.count(&cancel).await, 0);
}
