//! In a real headless Chromium: create a project, create a key in it, copy the key with the copy
//! button (it is shown once), call `/v1/models` with it, revoke it (after a confirmation), and
//! see the gateway refuse it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::json;
use support::webdriver::Browser;
use support::{Server, TempDir};

async fn models_with_key(server: &Server, key: &str) -> u16 {
    reqwest::Client::new()
        .get(server.url("/v1/models"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_a_project_and_a_key_copy_it_once_use_it_and_revoke_it() {
    let data = TempDir::new("browser-projects");
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

    // A project, through the New project dialog.
    b.find("nav a[href$='/projects']").await.click().await;
    b.wait_for_text("Default").await;
    b.find("#new-project").await.click().await;
    b.find("#project-name").await.type_text("Research").await;
    b.snapshot("project-dialog").await;
    b.find("#create-project").await.click().await;
    b.wait_for_text("Project created.").await;

    // A key in it: shown once, with a copy button.
    b.find(".page-actions a[href*='/api-keys?project=']")
        .await
        .click()
        .await;
    b.wait_for_text("Keys of the project Research").await;
    assert_eq!(b.find("#current-project").await.text().await, "Research");
    b.find("#key-name").await.type_text("Laptop").await;
    b.find("#create-key").await.click().await;
    b.wait_for_text("Save your new key").await;
    b.snapshot("key-created").await;
    let shown = b.find("#new-key-value").await.text().await;
    assert!(shown.starts_with("tg-"), "{shown}");

    // The copy button puts exactly that key on the clipboard (the clipboard is recorded, since
    // a headless browser has no one to paste).
    b.execute(
        "window.__copied = null;
         const record = (t) => { window.__copied = t; return Promise.resolve(); };
         if (navigator.clipboard) { navigator.clipboard.writeText = record; }
         document.execCommand = () => { window.__copied = window.getSelection().toString()
             || document.activeElement.value; return true; };",
        vec![],
    )
    .await;
    b.find("#copy-new-key").await.click().await;
    b.wait_for_text("Copied").await;
    let copied = b.execute("return window.__copied", vec![]).await;
    assert_eq!(copied, json!(shown), "the copy button copies the full key");
    let key = copied.as_str().unwrap().to_owned();
    assert_eq!(models_with_key(&server, &key).await, 200);

    // Never shown again.
    let keys_page = b.current_url().await;
    b.goto(&keys_page).await;
    b.wait_for_text("Laptop").await;
    assert_eq!(b.count("#new-key-value").await, 0);
    b.snapshot("keys-list").await;
    assert!(!b.page_text().await.contains(&key[20..]));

    // Revoke asks first, in the console's dialog: Cancel changes nothing, confirming revokes.
    let revoke = "tr[data-key] form[action$='/revoke'] button";
    b.find(revoke).await.click().await;
    let asked = b.shown_text("#confirm-dialog-message").await;
    assert!(asked.starts_with("Revoke Laptop?"), "{asked}");
    b.find("#confirm-dialog [data-dialog-close]")
        .await
        .click()
        .await;
    assert_eq!(b.count("tr[data-key]").await, 1);
    assert_eq!(
        models_with_key(&server, &key).await,
        200,
        "declined: still valid"
    );
    b.find(revoke).await.click().await;
    b.find("#confirm-dialog-ok").await.click().await;
    b.wait_for_text("Key revoked").await;
    assert_eq!(b.count("tr[data-key]").await, 0);
    b.snapshot("key-revoked").await;
    assert_eq!(models_with_key(&server, &key).await, 401);
}
