//! In a real headless Chromium (issue 14, two-factor sign-in): the Account page draws the QR
//! code, a first code turns it on and shows the recovery codes once; the card fits a phone;
//! signing in again asks for a code on a second page, where a recovery code works. An admin
//! requires it of her organization; a new member is held at the Account page until enrolled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::webdriver::Browser;
use support::{wait_for_links, Server, TempDir};
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
    // The click loads the enrolment page: wait for it (up to 5 s) before counting on it.
    b.find("#totp-qr svg").await;
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

/// Turns two-factor on from the Account page's card with a code computed from the shown key.
async fn enrol(b: &Browser, server: &Server) {
    b.goto(&server.url("/account")).await;
    b.find("#totp-start").await.click().await;
    let secret = b.find("#totp-secret").await.text().await;
    let key = totp::base32_decode(&secret).unwrap();
    b.find("#totp-code")
        .await
        .type_text(&totp::code_at(&key, now_ms()))
        .await;
    b.find("#totp-confirm").await.click().await;
    b.wait_for_text("Two-factor authentication is on.").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_requires_it_and_a_new_member_enrols_before_entering() {
    let data = TempDir::new("browser-org-two-factor");
    let server = Server::start(&["--data-dir", data.path().to_str().unwrap()], &[]);
    let admin = Browser::start().await;

    admin.goto(&server.url("/signup")).await;
    admin.find("#name").await.type_text("Ada Admin").await;
    admin
        .find("#email")
        .await
        .type_text("ada@example.com")
        .await;
    admin.find("#password").await.type_text(PASSWORD).await;
    admin.find("#submit").await.click().await;
    admin.wait_for_text("Overview").await;
    server.verify_email("ada@example.com").await;
    let org_url = admin
        .current_url()
        .await
        .split(['?', '#'])
        .next()
        .unwrap()
        .to_owned();

    // Without two-factor herself, requiring it is refused in the page.
    admin.goto(&format!("{org_url}/settings")).await;
    admin.find("#require-2fa").await.click().await;
    admin.find("#save-require-2fa").await.click().await;
    admin.wait_for_text("would lock you out").await;
    admin.snapshot("org-two-factor-refused").await;

    enrol(&admin, &server).await;
    admin.goto(&format!("{org_url}/settings")).await;
    admin.find("#require-2fa").await.click().await;
    admin.find("#save-require-2fa").await.click().await;
    admin
        .wait_for_text("Two-factor sign-in is now required for all members.")
        .await;

    admin.goto(&format!("{org_url}/members")).await;
    admin.find("#new-invite").await.click().await;
    admin
        .find("#invite-emails")
        .await
        .type_text("grace@example.com")
        .await;
    admin.find("#send-invites").await.click().await;
    admin.wait_for_text("Invitations sent").await;

    // The new member signs up through the invitation and lands on her Account page.
    let link = wait_for_links(data.path(), "grace@example.com", 1)
        .await
        .remove(0);
    let grace = Browser::start().await;
    grace.goto(&server.url(&link)).await;
    grace.find("#signup-to-accept").await.click().await;
    grace.find("#name").await.type_text("Grace Hopper").await;
    grace.find("#password").await.type_text(PASSWORD).await;
    grace.find("#submit").await.click().await;
    grace
        .wait_for_text(
            "Ada Admin's organization requires two-factor sign-in; turn it on to continue.",
        )
        .await;
    assert!(
        grace.current_url().await.contains("/account"),
        "held at the Account page"
    );
    grace.snapshot("org-two-factor-required-banner").await;
    // Any page of the organization sends her back there.
    grace.goto(&format!("{org_url}/projects")).await;
    grace.wait_for_text("requires two-factor sign-in").await;
    assert!(grace.current_url().await.contains("/account"));

    enrol(&grace, &server).await;
    assert_eq!(grace.count("#two-factor-required").await, 0, "banner gone");
    grace.goto(&org_url).await;
    grace.wait_for_text("Overview").await;
    assert!(grace.current_url().await.starts_with(&org_url));

    // The admin sees that Grace has two-factor on now.
    admin.goto(&format!("{org_url}/members")).await;
    admin.wait_for_text("Grace Hopper").await;
    assert_eq!(
        admin
            .count("tr[data-member='grace@example.com'] .badge-success")
            .await,
        1
    );
}
