//! In a real headless Chromium, the console as a customer lives in it (issue 14): reloading
//! after creating a key creates nothing, Back after logging out shows no signed-in page.
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
