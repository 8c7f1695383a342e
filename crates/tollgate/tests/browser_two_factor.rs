//! In a real headless Chromium (issue 14, two-factor sign-in): the Account page draws the QR
//! code, a first code turns it on and shows the recovery codes once; the card fits a phone;
//! signing in again asks for a code on a second page, where a recovery code works.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::webdriver::Browser;
use support::{Server, TempDir};
use tollgate_domain::totp;

const PASSWORD: &str = "a long enough password";

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_on_the_account_page_then_sign_in_with_a_recovery_code() {
    let data = TempDir::new("browser-two-factor");
    let server = Server::start(&["--data-dir", data.path().to_str().unwrap()], &[]);
    let b = Browser::start().await;

    b.goto(&server.url("/signup")).await;
    b.find("#name").await.type_text("Ada Admin").await;
    b.find("#email").await.type_text("ada@example.com").await;
    b.find("#password").await.type_text(PASSWORD).await;
    b.find("#submit").await.click().await;
    b.wait_for_text("Overview").await;

    b.goto(&server.url("/account")).await;
    b.find("#totp-start").await.click().await;
    assert_eq!(b.count("#totp-qr svg").await, 1, "the QR code is drawn");
    let secret = b.find("#totp-secret").await.text().await;
    let key = totp::base32_decode(&secret).unwrap();
    b.find("#totp-code")
        .await
        .type_text(&totp::code_at(&key, now_ms()))
        .await;
    b.find("#totp-confirm").await.click().await;
    b.wait_for_text("Two-factor authentication is on.").await;
    assert_eq!(b.count("#recovery-codes code").await, 10);
    let recovery = b.find("#recovery-codes code").await.text().await;
    b.set_window_size(390, 844).await;
    assert!(!b.overflows_horizontally().await, "the card fits a phone");
    b.snapshot("two-factor-recovery-codes").await;
    b.set_window_size(1400, 900).await;
    b.refresh().await;
    b.wait_for_text("On. Signing in asks").await;
    assert_eq!(b.count("#recovery-codes").await, 0, "shown once");

    b.execute(
        "document.querySelector('form[action=\"/logout\"]').submit();",
        vec![],
    )
    .await;
    b.wait_for_text("Log in").await;
    b.goto(&server.url("/login")).await;
    b.find("#email").await.type_text("ada@example.com").await;
    b.find("#password").await.type_text(PASSWORD).await;
    b.find("#submit").await.click().await;
    b.wait_for_text("Authentication code").await;
    b.find("#totp_code").await.type_text(&recovery).await;
    b.find("#submit").await.click().await;
    b.wait_for_text("Overview").await;
}
