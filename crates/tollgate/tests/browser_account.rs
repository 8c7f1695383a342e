//! In a real headless Chromium (issue 14, account security): a new account sees the
//! verification banner until it follows the emailed link; the account page edits the name,
//! changes the password (a wrong current one keeps the form with its error; the right one ends
//! the other session in the list); forgot password through the emailed link. The account page
//! fits a phone's width.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::json;
use support::webdriver::Browser;
use support::{Server, TempDir};

const PASSWORD: &str = "a long enough password";
const NEW_PASSWORD: &str = "an even longer password";

/// The elements that stick out past the right edge when the page is wider than the window
/// (none when it is not).
async fn sideways_overflow(b: &Browser) -> Vec<String> {
    let found = b
        .execute(
            "if (document.documentElement.scrollWidth <= window.innerWidth) return [];
             return [...document.querySelectorAll('body *')]
               .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
               .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                         + (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\\s+/).join('.') : ''));",
            vec![],
        )
        .await;
    found
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_else(|| vec![format!("{found}")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_edit_the_profile_change_the_password_and_reset_it() {
    let data = TempDir::new("browser-account");
    let server = Server::start(&["--data-dir", data.path().to_str().unwrap()], &[]);
    let b = Browser::start().await;

    b.goto(&server.url("/signup")).await;
    b.find("#name").await.type_text("Ada Admin").await;
    b.find("#email").await.type_text("ada@example.com").await;
    b.find("#password").await.type_text(PASSWORD).await;
    b.find("#submit").await.click().await;
    b.wait_for_text("Overview").await;
    assert_eq!(
        b.count("#verify-banner").await,
        1,
        "a new account is not verified"
    );
    b.snapshot("verify-banner").await;
    server.verify_email("ada@example.com").await;
    b.refresh().await;
    b.wait_for_text("Overview").await;
    assert_eq!(b.count("#verify-banner").await, 0);

    // Another session, as from a second device.
    let laptop = reqwest::Client::builder()
        .cookie_store(true)
        .user_agent("curl/8.5.0")
        .build()
        .unwrap();
    let r = laptop
        .post(server.url("/api/v1/auth/login"))
        .header("origin", &server.base)
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The account page, from the user menu.
    b.find(".user-menu summary").await.click().await;
    b.find("#account-link").await.click().await;
    b.wait_for_text("Your profile, password and where you are signed in.")
        .await;
    assert_eq!(
        b.find("#profile-email").await.text().await,
        "ada@example.com"
    );
    assert_eq!(b.count("#sessions tbody tr").await, 2);
    assert_eq!(b.count("#this-session").await, 1);

    let name = b.find("#profile-name").await;
    name.clear().await;
    name.type_text("Ada Lovelace").await;
    b.find("#save-profile").await.click().await;
    b.wait_for_text("Your name was saved.").await;

    // A wrong current password: the form comes back with the error next to the field.
    b.find("#current-password")
        .await
        .type_text("not it at all")
        .await;
    b.find("#new-password").await.type_text(NEW_PASSWORD).await;
    b.find("#change-password").await.click().await;
    b.wait_for_text("The current password is not correct.")
        .await;
    b.snapshot("account-password-error").await;
    b.find("#current-password").await.type_text(PASSWORD).await;
    b.find("#new-password").await.type_text(NEW_PASSWORD).await;
    b.find("#change-password").await.click().await;
    b.wait_for_text("Password changed.").await;
    let me = laptop.get(server.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(
        me.status(),
        401,
        "the other session ended with the password change"
    );
    assert_eq!(b.count("#sessions tbody tr").await, 1);

    // Phone width: nothing pushes the page sideways.
    b.set_window_size(390, 844).await;
    b.refresh().await;
    b.wait_for_text("Sessions").await;
    let sticking_out = sideways_overflow(&b).await;
    assert!(
        sticking_out.is_empty(),
        "the account page overflows at 390 px: {sticking_out:?}"
    );
    b.snapshot("account-phone").await;
    b.set_window_size(1280, 900).await;

    // Forgot password, signed out: the emailed link sets a new password.
    b.find(".user-menu summary").await.click().await;
    b.find(".user-menu button[type=submit]").await.click().await;
    b.wait_for_text("You have been logged out.").await;
    b.find("#forgot-password").await.click().await;
    b.find("#email").await.type_text("ada@example.com").await;
    b.find("#send-reset").await.click().await;
    b.wait_for_text("If an account uses this email").await;
    let link = server.emailed_link("password_reset", "ada@example.com");
    b.goto(&link).await;
    b.find("#password")
        .await
        .type_text("the third password")
        .await;
    b.find("#set-password").await.click().await;
    b.wait_for_text("Log in with the new password.").await;
    b.find("#email").await.type_text("ada@example.com").await;
    b.find("#password")
        .await
        .type_text("the third password")
        .await;
    b.find("#submit").await.click().await;
    b.wait_for_text("Overview").await;
    b.goto(&link).await;
    b.wait_for_text("This link no longer works").await;
}
