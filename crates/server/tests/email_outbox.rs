#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Email delivery through the outbox with the memory and file transports, on both engines:
//! what the worker sends, when it wakes, and that neither a restart nor a crash loses a message.

use std::sync::Arc;
use std::time::Duration;

use tollgate_domain::ManualClock;
use tollgate_server::email::{EmailConfig, EmailWorker, Invitation, Receipt, TransportConfig};
use tollgate_server::testing::TestApp;
use tollgate_server::{App, ServerConfig};
use tollgate_store::{enqueue_email_in, on_both_engines, Engine, OutgoingEmail};

const ACCEPT_URL: &str = "http://127.0.0.1:8080/invites/4f1c0d5e9a7b3c2d1e0f4a5b6c7d8e9f00112233445566778899aabbccddeeff";

fn invitation(expires_at: i64) -> Invitation<'static> {
    Invitation {
        org_name: "Acme",
        inviter_name: "Ada Lovelace",
        inviter_email: "ada@example.com",
        role: "Organization Admin",
        projects: &[],
        accept_url: ACCEPT_URL,
        expires_at,
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tollgate-{name}-{}-{:x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn emails_enqueued_with_a_change_are_delivered_by_the_worker(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let now = t.app.now();
    let email = t
        .app
        .mailer
        .render("Bob@Example.com", &invitation(now + 7 * 86_400_000))
        .unwrap();

    // What the invitations code does: the email is written in the change's transaction.
    let mut tx = t.app.store.begin_write().await.unwrap();
    let id = enqueue_email_in(&mut tx, &email, now).await.unwrap();
    tx.commit().await.unwrap();
    t.app.mailer.wake();

    assert!(
        t.sent_emails().is_empty(),
        "nothing leaves before the worker runs"
    );
    let report = t.deliver_emails().await;
    assert_eq!((report.sent, report.retrying, report.gave_up), (1, 0, 0));
    let sent = t.sent_emails();
    assert_eq!(sent.len(), 1);
    let m = &sent[0];
    assert_eq!(m.outbox_id, id);
    assert_eq!(m.to, "Bob@Example.com");
    assert_eq!(m.kind, "invitation");
    assert_eq!(
        m.subject,
        "Ada Lovelace invited you to join Acme on Tollgate"
    );
    assert_eq!(m.first_link(), Some(ACCEPT_URL));
    assert!(m.html_body.contains(&format!("href=\"{ACCEPT_URL}\"")));
    assert!(m.raw.contains("To: Bob@Example.com"), "{}", m.raw);
    assert!(m.raw.contains("From: Tollgate <no-reply@localhost>"));

    let row = t.app.store.outbox_message(id).await.unwrap().unwrap();
    assert_eq!(
        (row.sent_at, row.attempts, row.locked_until),
        (Some(now), 1, None)
    );
    // Once sent, the database keeps no copy of the link (only its token's hash elsewhere).
    assert_eq!((row.text_body.as_str(), row.html_body.as_str()), ("", ""));
    assert_eq!(row.subject, m.subject, "what was sent stays listed");

    // Delivered once: later passes find nothing, whatever the time.
    t.clock.advance_ms(86_400_000);
    assert_eq!(t.deliver_emails().await.sent, 0);
    assert_eq!(t.sent_emails().len(), 1);
}

async fn send_email_enqueues_and_wakes_the_background_worker(engine: Engine) {
    // The worker would not poll for an hour: only the wake can make it deliver in time.
    let t = TestApp::spawn_with(engine, |c| {
        c.email.poll_interval = Duration::from_secs(3600)
    })
    .await;
    let mut worker = EmailWorker::spawn(t.app.clone());
    // The worker's first pass (an empty outbox) ends; it then sleeps until woken.
    tokio::time::timeout(Duration::from_secs(10), worker.passes_ended(1))
        .await
        .expect("the worker's first pass did not end");
    let receipt = Receipt {
        org_name: "Acme",
        receipt_number: "rcpt_42",
        description: "Credits",
        amount: "25.00",
        paid_at: t.app.now(),
        payment_method: "Visa ending in 4242",
        billing_url: "http://127.0.0.1:8080/o/org_x/billing",
    };
    let id = t
        .app
        .send_email("admin@example.com", &receipt)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while t.sent_emails().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker was not woken"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.stop().await;
    let sent = t.sent_emails();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].outbox_id, sent[0].kind.as_str()), (id, "receipt"));
    assert_eq!(sent[0].subject, "Your Tollgate receipt rcpt_42");
    let row = t.app.store.outbox_message(id).await.unwrap().unwrap();
    assert!(row.sent_at.is_some());
}

async fn the_file_transport_writes_one_eml_per_message(engine: Engine) {
    let dir = temp_dir("outbox");
    let outbox = dir.join("outbox");
    let configured = outbox.clone();
    let t = TestApp::spawn_with(engine, move |c| {
        c.email = EmailConfig {
            from: "Acme Cloud <cloud@acme.example>".to_owned(),
            transport: TransportConfig::File { dir: configured },
            ..EmailConfig::default()
        }
    })
    .await;
    assert!(outbox.is_dir(), "created at start-up");
    let now = t.app.now();
    t.app
        .send_email("bob@example.com", &invitation(now + 86_400_000))
        .await
        .unwrap();
    t.app
        .send_email("cy@example.com", &invitation(now + 86_400_000))
        .await
        .unwrap();
    assert_eq!(t.deliver_emails().await.sent, 2);
    assert_eq!(t.deliver_emails().await.sent, 0);

    let mut files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    for (file, to) in files.iter().zip(["bob@example.com", "cy@example.com"]) {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(name.ends_with("-invitation.eml"), "{name}");
        let raw = std::fs::read_to_string(file).unwrap();
        assert!(raw.contains(&format!("To: {to}")), "{raw}");
        assert!(
            raw.contains("From: \"Acme Cloud\" <cloud@acme.example>"),
            "{raw}"
        );
        // Whole, so that a person can copy it from the file.
        assert!(raw.contains(ACCEPT_URL), "{raw}");
        assert!(raw.contains("Subject: Ada Lovelace invited you to join Acme on Tollgate"));
        assert!(raw.contains("Content-Type: multipart/alternative"));
        assert!(raw.contains("Content-Type: text/plain"));
        assert!(raw.contains("Content-Type: text/html"));
    }
    std::fs::remove_dir_all(dir).ok();
}

async fn a_restart_loses_nothing(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let now = t.app.now();
    let id = t
        .app
        .send_email("bob@example.com", &invitation(now + 86_400_000))
        .await
        .unwrap();
    // A new process over the same database: its memory is empty, the outbox is not.
    let restarted = Arc::new(
        App::with_clock(
            t.app.store.clone(),
            ServerConfig::default(),
            t.clock.clone(),
        )
        .unwrap(),
    );
    let report = tollgate_server::email::deliver_due(&restarted)
        .await
        .unwrap();
    assert_eq!(report.sent, 1);
    let sent = restarted.mailer.memory_outbox().unwrap().messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].outbox_id, id);
    assert!(t.sent_emails().is_empty());
    assert_eq!(t.deliver_emails().await.sent, 0, "not sent twice");
}

async fn a_message_held_by_a_dead_worker_waits_for_its_lease(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let now = t.app.now();
    let id = t
        .app
        .send_email("bob@example.com", &invitation(now + 86_400_000))
        .await
        .unwrap();
    // Another process claimed the message and died before sending it.
    let lease_until = now + 120_000;
    let claimed = t
        .app
        .store
        .claim_due_emails(now, lease_until, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);

    assert_eq!(
        t.deliver_emails().await.sent,
        0,
        "held by the other process"
    );
    t.clock.set_ms(lease_until - 1);
    assert_eq!(t.deliver_emails().await.sent, 0);
    t.clock.set_ms(lease_until);
    assert_eq!(
        t.deliver_emails().await.sent,
        1,
        "taken over once the lease ends"
    );
    let row = t.app.store.outbox_message(id).await.unwrap().unwrap();
    assert_eq!((row.attempts, row.sent_at), (2, Some(lease_until)));
    assert_eq!(t.sent_emails().len(), 1);
}

async fn an_undeliverable_message_is_given_up_at_once(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let now = t.app.now();
    // Written by something that skipped rendering (which checks the address).
    let id = t
        .app
        .store
        .enqueue_email(
            &OutgoingEmail {
                to: "not an address".to_owned(),
                subject: "Hello".to_owned(),
                text_body: "Hello".to_owned(),
                html_body: "<p>Hello</p>".to_owned(),
                kind: "invitation".to_owned(),
            },
            now,
        )
        .await
        .unwrap();
    let report = t.deliver_emails().await;
    assert_eq!((report.sent, report.retrying, report.gave_up), (0, 0, 1));
    let row = t.app.store.outbox_message(id).await.unwrap().unwrap();
    assert_eq!(row.failed_at, Some(now));
    assert!(row.last_error.unwrap().contains("not an address"));
    assert!(t.sent_emails().is_empty());
    assert_eq!(t.app.store.pending_email_count().await.unwrap(), 0);
}

async fn deliveries_are_counted_in_metrics(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let now = t.app.now();
    t.app
        .send_email("bob@example.com", &invitation(now + 86_400_000))
        .await
        .unwrap();
    t.deliver_emails().await;
    let body = reqwest::get(t.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("tollgate_emails_sent_total 1"), "{body}");
}

on_both_engines!(
    emails_enqueued_with_a_change_are_delivered_by_the_worker,
    send_email_enqueues_and_wakes_the_background_worker,
    the_file_transport_writes_one_eml_per_message,
    a_restart_loses_nothing,
    a_message_held_by_a_dead_worker_waits_for_its_lease,
    an_undeliverable_message_is_given_up_at_once,
    deliveries_are_counted_in_metrics,
);

#[test]
fn a_bad_sender_address_fails_start_up() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = tollgate_store::testing::TestDb::new(Engine::Sqlite).await;
        let config = ServerConfig {
            email: EmailConfig {
                from: "Tollgate <not an address>".to_owned(),
                ..EmailConfig::default()
            },
            ..ServerConfig::default()
        };
        let err = App::with_clock(db.store().await, config, Arc::new(ManualClock::new(0)))
            .err()
            .expect("refused");
        assert!(
            format!("{err:#}").contains("not a valid address"),
            "{err:#}"
        );
    });
}
