//! In a real headless Chromium: sign up, see Settings, rename the organization, log out, log in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::webdriver::Browser;
use support::{Server, TempDir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_rename_log_out_and_in_again() {
    let data = TempDir::new("browser-foundation");
    let server = Server::start(&["--data-dir", data.path().to_str().unwrap()], &[]);
    let b = Browser::start().await;

    b.goto(&server.url("/")).await;
    assert!(
        b.current_url().await.contains("/login"),
        "anonymous visitors land on the login page"
    );
    b.find("a[href='/signup']").await.click().await;

    b.find("#name").await.type_text("Grace Hopper").await;
    b.find("#email").await.type_text("grace@example.com").await;
    b.find("#password").await.type_text("too short").await;
    b.find("#password").await.clear().await;
    b.find("#password").await.type_text("compilers-1952").await;
    b.find("#submit").await.click().await;
    b.wait_for_text("Overview").await;
    b.snapshot("overview").await;

    // Settings: id with a copy button, the name, the type.
    let settings = b.find("nav a[href$='/settings']").await;
    settings.click().await;
    b.wait_for_text("Organization ID").await;
    let org_id = b.find("#org-id").await.text().await;
    assert!(org_id.trim().starts_with("org_"), "{org_id}");
    assert_eq!(b.count("button[data-copy='org-id']").await, 1);
    assert_eq!(
        b.find("#org-type").await.text().await.trim().to_lowercase(),
        "personal"
    );
    b.wait_for_text("contact support").await;

    // Rename; a bad name first shows an inline error and keeps the old name.
    let name = b.find("#org-name").await;
    name.clear().await;
    b.execute(
        "document.getElementById('org-name').removeAttribute('required')",
        vec![],
    )
    .await;
    b.find("#save-name").await.click().await;
    b.wait_for_text("Name must not be empty.").await;
    b.snapshot("settings-error").await;
    let name = b.find("#org-name").await;
    name.clear().await;
    name.type_text("Naval Computing Lab").await;
    b.find("#save-name").await.click().await;
    b.wait_for_text("Organization name saved").await;
    b.snapshot("settings-saved").await;
    assert_eq!(
        b.find("#org-name").await.attr("value").await.as_deref(),
        Some("Naval Computing Lab")
    );

    // Log out through the user menu, then log in again.
    b.find("header details summary").await;
    b.execute(
        "document.querySelector('form[action=\"/logout\"]').submit()",
        vec![],
    )
    .await;
    b.wait_for_text("logged out").await;
    b.goto(&server.url(&format!("/o/{}/settings", org_id.trim())))
        .await;
    assert!(
        b.current_url().await.contains("/login"),
        "the session is gone"
    );
    b.find("#email").await.type_text("grace@example.com").await;
    b.find("#password").await.type_text("compilers-1952").await;
    b.find("#submit").await.click().await;
    b.wait_for_text("Organization ID").await;
    assert!(
        b.current_url().await.ends_with("/settings"),
        "back where the login started"
    );
    b.wait_for_text("Naval Computing Lab").await;
}
