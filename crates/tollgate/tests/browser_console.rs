//! In a real headless Chromium, the console as a customer lives in it (issue 14): reloading
//! after creating a key creates nothing, Back after logging out shows no signed-in page, the
//! Add Credits and New Invite dialogs reopen as dialogs with their error, Add Credits opens from
//! its link, and money moves only after a confirmation that shows the amount and the card.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::webdriver::Browser;
use support::{Server, TempDir};

async fn sign_up(b: &Browser, server: &Server) {
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_after_a_create_and_back_after_log_out_are_safe() {
    let data = TempDir::new("browser-console");
    let server = Server::start(&["--data-dir", data.path().to_str().unwrap()], &[]);
    let b = Browser::start().await;
    sign_up(&b, &server).await;

    // F5 on the page that shows a new key: no second key, and the secret is gone.
    b.find("nav a[href$='/api-keys']").await.click().await;
    b.wait_for_text("API Keys").await;
    b.find("#key-name").await.type_text("Laptop").await;
    b.find("#create-key").await.click().await;
    b.wait_for_text("Save your new key").await;
    let key = b.find("#new-key-value").await.text().await;
    assert!(key.starts_with("tg-"), "{key}");
    assert!(!b.current_url().await.contains(&key[20..]));
    b.refresh().await;
    b.wait_for_text("Laptop").await;
    assert_eq!(b.count("tr[data-key]").await, 1, "one key, not two");
    assert_eq!(b.count("#new-key-value").await, 0);
    assert!(!b.page_text().await.contains(&key[20..]));

    // Back after logging out asks the server again, which sends to the log-in page.
    b.find("nav a[href$='/billing']").await.click().await;
    b.wait_for_text("Credit balance").await;
    b.find(".user-menu summary").await.click().await;
    b.find(".user-menu form[action='/logout'] button")
        .await
        .click()
        .await;
    b.find("form[action^='/login']").await;
    b.back().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let url = b.current_url().await;
        let text = b.page_text().await;
        assert!(
            !text.contains("Credit balance"),
            "Back showed the Billing page after log-out: {url}"
        );
        if url.contains("/login") && b.count("#email").await == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Back never landed on the log-in page: {url}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn save_card(b: &Browser) {
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
}

/// True when the dialog `id` is open as a modal dialog (with its backdrop), not drawn in the page.
async fn is_modal(b: &Browser, id: &str) -> bool {
    b.execute(
        "const d = document.getElementById(arguments[0]); return !!d && d.open && d.matches(':modal');",
        vec![serde_json::json!(id)],
    )
    .await
        == serde_json::json!(true)
}

/// How far the text of `css` starts from the left edge of its card, in CSS pixels.
async fn inset(b: &Browser, css: &str) -> f64 {
    b.execute(
        "const e = document.querySelector(arguments[0]); \
         return e.getBoundingClientRect().left - e.closest('.card').getBoundingClientRect().left;",
        vec![serde_json::json!(css)],
    )
    .await
    .as_f64()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialogs_reopen_with_their_error_and_money_moves_after_a_confirmation() {
    let data = TempDir::new("browser-console-dialogs");
    let server = Server::start(&["--data-dir", data.path().to_str().unwrap()], &[]);
    let b = Browser::start().await;
    sign_up(&b, &server).await;

    // A refused invite: the dialog stays open, with the reason in the user's words.
    b.find("nav a[href$='/members']").await.click().await;
    b.find("#new-invite").await.click().await;
    b.find("#invite-emails")
        .await
        .type_text("grace@example.com")
        .await;
    b.execute(
        "document.getElementById('invite-role').value = 'project_member';",
        vec![],
    )
    .await;
    b.find("#send-invites").await.click().await;
    b.find("#invite-dialog-error").await;
    assert!(is_modal(&b, "invite-dialog").await, "the dialog stays open");
    let reason = b
        .execute(
            "return document.getElementById('invite-dialog-error').textContent",
            vec![],
        )
        .await;
    assert!(
        reason
            .as_str()
            .is_some_and(|r| r.starts_with("A project role needs at least one project")),
        "{reason}"
    );
    b.find("#invite-dialog [data-dialog-close]")
        .await
        .click()
        .await;

    b.find("nav a[href$='/billing']").await.click().await;
    b.wait_for_text("Credit balance").await;
    save_card(&b).await;
    // Text inside a card keeps the card's padding (issue 14, bug 12).
    assert!(inset(&b, "#current-card").await >= 12.0);
    // One readable banner, not the code and then the words.
    assert_eq!(b.count(".notice-success").await, 1);
    assert!(!b.page_text().await.contains("card_saved"));

    // "Add Credits" from another tab lands on Pay as you go with the dialog open.
    b.find("#add-credits").await.click().await;
    b.wait_for_text("Credit grant history").await;
    assert!(
        is_modal(&b, "add-credits-dialog").await,
        "opened by its link"
    );
    assert!(inset(&b, "#no-grants").await >= 12.0);

    // A bad amount: the dialog comes back, as a dialog, with the error in it.
    b.find("#credit-amount").await.type_text("5").await;
    b.find("#buy-credits").await.click().await;
    b.find("#credit-amount-error").await;
    assert!(
        is_modal(&b, "add-credits-dialog").await,
        "reopened as a dialog"
    );
    let error = b
        .execute(
            "return document.querySelector('#add-credits-dialog #credit-amount-error').textContent",
            vec![],
        )
        .await;
    assert!(
        error
            .as_str()
            .is_some_and(|e| e.contains("The smallest amount is")),
        "{error}"
    );

    // "$20" is an amount.
    b.find("#credit-amount").await.clear().await;
    b.find("#credit-amount").await.type_text("$20").await;
    b.find("#buy-credits").await.click().await;
    b.wait_for_text("$20.00 was charged to Visa ending in 4242.")
        .await;
    assert!(!is_modal(&b, "add-credits-dialog").await);

    // Auto-recharge above the balance: the amount and the card first; Cancel charges nothing.
    b.find("#ar-threshold").await.clear().await;
    b.find("#ar-threshold").await.type_text("30").await;
    b.find("#ar-recharge-to").await.clear().await;
    b.find("#ar-recharge-to").await.type_text("74").await;
    b.find("#enable-auto-recharge").await.click().await;
    b.wait_for_text("will be charged now to Visa ending in 4242")
        .await;
    assert!(is_modal(&b, "confirm-charge").await);
    // textContent: the dialog may still be fading in, which WebDriver's text ignores.
    let summary = b
        .execute(
            "return document.getElementById('confirm-charge-summary').textContent",
            vec![],
        )
        .await;
    assert!(
        summary
            .as_str()
            .is_some_and(|s| s.starts_with("$54.00 will be charged now")),
        "{summary}"
    );
    b.find("#confirm-charge a[data-dialog-close]")
        .await
        .click()
        .await;
    assert!(!is_modal(&b, "confirm-charge").await);
    b.goto(&b.current_url().await.replace("/auto-recharge", "/payg"))
        .await;
    b.wait_for_text("Auto-recharge is off").await;

    b.find("#ar-threshold").await.clear().await;
    b.find("#ar-threshold").await.type_text("30").await;
    b.find("#ar-recharge-to").await.clear().await;
    b.find("#ar-recharge-to").await.type_text("74").await;
    b.find("#enable-auto-recharge").await.click().await;
    b.find("#confirm-charge-submit").await.click().await;
    b.wait_for_text("Auto-recharge is on. $54.00 was charged to Visa ending in 4242.")
        .await;
}
