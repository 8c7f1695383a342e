//! In a real headless Chromium: add a 4242 card, buy $25 and see the balance and the grant,
//! try a card that is declined and see the message, turn on auto-recharge.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::webdriver::Browser;
use support::{Server, TempDir};

async fn save_card(b: &Browser, number: &str) {
    b.find("nav.tabs a[href$='/billing/payment']")
        .await
        .click()
        .await;
    b.wait_for_text("Payment method").await;
    // With a card on file the form is folded behind "Replace card".
    if b.count("#replace-card:not([open])").await == 1 {
        b.find("#replace-card > summary").await.click().await;
    }
    b.find("#card-number").await.type_text(number).await;
    b.find("#exp-month").await.type_text("12").await;
    b.find("#exp-year").await.type_text("2034").await;
    b.find("#cvc").await.type_text("123").await;
    b.find("#save-card").await.click().await;
    b.wait_for_text("Payment method saved.").await;
}

async fn buy(b: &Browser, amount: &str) {
    b.find("nav.tabs a[href$='/billing/payg']")
        .await
        .click()
        .await;
    b.wait_for_text("Credit grant history").await;
    b.find("#add-credits").await.click().await;
    b.find("#credit-amount").await.type_text(amount).await;
    b.find("#buy-credits").await.click().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_a_card_buy_credits_see_a_decline_turn_on_auto_recharge() {
    let data = TempDir::new("browser-billing");
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
    server.verify_email("ada@example.com").await;

    b.find("nav a[href$='/billing']").await.click().await;
    b.wait_for_text("Credit balance").await;
    assert_eq!(b.find("#balance").await.text().await, "$0.00");

    save_card(&b, "4242 4242 4242 4242").await;
    assert!(b
        .find("#current-card")
        .await
        .text()
        .await
        .contains("Visa ending in 4242"));
    buy(&b, "25").await;
    b.wait_for_text("Credits added").await;
    b.snapshot("billing-credits-added").await;
    let grants = b.find("#grants").await.text().await;
    assert!(
        grants.contains("Purchase") && grants.contains("$25.00"),
        "{grants}"
    );
    b.find("nav.tabs a[href$='/billing']").await.click().await;
    b.wait_for_text("Credit balance").await;
    assert_eq!(b.find("#balance").await.text().await, "$25.00");

    // A card that is declined: the message is shown and the balance does not move.
    save_card(&b, "4000000000000002").await;
    buy(&b, "25").await;
    b.wait_for_text("Your card was declined").await;
    b.snapshot("billing-declined").await;
    // The dialog came back with the message; closing it shows the page again.
    b.find("#add-credits-dialog [data-dialog-close]")
        .await
        .click()
        .await;
    b.find("nav.tabs a[href$='/billing']").await.click().await;
    b.wait_for_text("Credit balance").await;
    assert_eq!(b.find("#balance").await.text().await, "$25.00");

    // Back to a good card, and auto-recharge on.
    save_card(&b, "4242424242424242").await;
    b.find("nav.tabs a[href$='/billing/payg']")
        .await
        .click()
        .await;
    b.wait_for_text("Auto-recharge").await;
    b.find("#enable-auto-recharge").await.click().await;
    b.wait_for_text("Auto-recharge is on.").await;
    b.find("nav.tabs a[href$='/billing']").await.click().await;
    b.wait_for_text("Credit balance").await;
    assert!(b
        .find("#auto-recharge-state")
        .await
        .text()
        .await
        .contains("On"));
}
