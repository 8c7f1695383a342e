//! In a real headless Chromium: an admin invites a new address, the invitee follows the emailed
//! link (taken from the outbox the default `file` transport writes), signs up through it and
//! appears on the Members page; a revoked-then-resent invitation's old link is "no longer valid".
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::webdriver::Browser;
use support::{wait_for_links, Server, TempDir};

async fn sign_up(b: &Browser, server: &Server, name: &str, email: &str) {
    b.goto(&server.url("/signup")).await;
    b.find("#name").await.type_text(name).await;
    b.find("#email").await.type_text(email).await;
    b.find("#password")
        .await
        .type_text("a long enough password")
        .await;
    b.find("#submit").await.click().await;
    b.wait_for_text("Overview").await;
    server.verify_email(email).await;
}

async fn invite(b: &Browser, emails: &str) {
    b.find("#new-invite").await.click().await;
    b.find("#invite-emails").await.type_text(emails).await;
    b.find("#send-invites").await.click().await;
    b.wait_for_text("Invitations sent").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_sign_up_through_the_link_revoke_and_resend() {
    let data = TempDir::new("browser-members");
    let server = Server::start(&["--data-dir", data.path().to_str().unwrap()], &[]);
    let admin = Browser::start().await;

    sign_up(&admin, &server, "Ada Admin", "ada@example.com").await;
    admin.find("nav a[href$='/members']").await.click().await;
    admin.wait_for_text("ada@example.com").await;
    invite(&admin, "grace@example.com").await;
    admin.wait_for_text("grace@example.com").await;
    admin.snapshot("members-invited").await;

    // The invitee, in another browser, follows the link from the email.
    let link = wait_for_links(data.path(), "grace@example.com", 1)
        .await
        .remove(0);
    let invitee = Browser::start().await;
    invitee.goto(&server.url(&link)).await;
    invitee
        .wait_for_text("Ada Admin invited grace@example.com")
        .await;
    invitee.snapshot("invite-page").await;
    invitee.find("#signup-to-accept").await.click().await;
    let email = invitee.find("#email").await;
    assert_eq!(
        email.attr("value").await.as_deref(),
        Some("grace@example.com")
    );
    assert_eq!(
        email.attr("readOnly").await,
        None,
        "readOnly is a boolean property"
    );
    assert_eq!(
        invitee
            .execute("return document.getElementById('email').readOnly", vec![])
            .await,
        serde_json::json!(true),
        "the invited address cannot be edited"
    );
    invitee.find("#name").await.type_text("Grace Hopper").await;
    invitee
        .find("#password")
        .await
        .type_text("compilers-1952")
        .await;
    invitee.find("#submit").await.click().await;
    invitee.wait_for_text("joined the organization").await;
    invitee.snapshot("invitee-joined").await;
    invitee.wait_for_text("Ada Admin's organization").await;

    // The admin sees Grace among the members.
    let members_page = admin
        .current_url()
        .await
        .split(['?', '#'])
        .next()
        .unwrap()
        .to_owned();
    admin.goto(&members_page).await;
    admin.wait_for_text("Grace Hopper").await;
    assert_eq!(admin.count("tr[data-member='grace@example.com']").await, 1);

    // Another invitation: revoke it, invite again, resend; the first link is no longer valid.
    invite(&admin, "linus@example.com").await;
    let first = wait_for_links(data.path(), "linus@example.com", 1)
        .await
        .remove(0);
    admin.execute("document.querySelector(\"tr[data-invite='linus@example.com'] form[action$='/revoke']\").removeAttribute('data-confirm')", vec![]).await;
    admin
        .find("tr[data-invite='linus@example.com'] form[action$='/revoke'] button")
        .await
        .click()
        .await;
    admin.wait_for_text("Invitation revoked").await;
    assert_eq!(admin.count("tr[data-invite='linus@example.com']").await, 0);
    invitee.goto(&server.url(&first)).await;
    invitee.wait_for_text("This invitation was revoked").await;

    invite(&admin, "linus@example.com").await;
    let second = wait_for_links(data.path(), "linus@example.com", 2)
        .await
        .remove(1);
    admin
        .find("tr[data-invite='linus@example.com'] form[action$='/resend'] button")
        .await
        .click()
        .await;
    admin.wait_for_text("Invitation sent again").await;
    let links = wait_for_links(data.path(), "linus@example.com", 3).await;
    let third = links.last().unwrap().clone();
    assert_ne!(second, third);
    let visitor = Browser::start().await;
    visitor.goto(&server.url(&second)).await;
    visitor
        .wait_for_text("This invitation link is no longer valid")
        .await;
    visitor.snapshot("invite-no-longer-valid").await;
    visitor.goto(&server.url(&third)).await;
    visitor.wait_for_text("invited linus@example.com").await;
}
