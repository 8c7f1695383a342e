#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Email through a real SMTP server process: `tests/support/smtp_sink.py` (Python's aiosmtpd,
//! `pip install aiosmtpd`), which stores what it receives and how Python's own email parser
//! reads it. Run on both engines.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tollgate_server::email::{
    EmailConfig, EmailWorker, Invitation, SmtpConfig, SmtpSecurity, TransportConfig,
};
use tollgate_server::testing::TestApp;
use tollgate_store::{enqueue_email_in, on_both_engines, Engine};

const FROM: &str = "Tollgate <no-reply@tollgate.test>";

/// The SMTP server child process; killed when dropped.
struct SmtpSink {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl SmtpSink {
    async fn start(dir: &Path, port: u16, fail_first: u32) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let python = std::env::var("TOLLGATE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(dir)
            .args(["--port", &port.to_string()])
            .args(["--fail-first", &fail_first.to_string()])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {python} {}: {e}", script.display()));
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the SMTP sink did not start within 20 s")
            .unwrap();
        let Some(port) = first.as_deref().and_then(|l| l.strip_prefix("PORT ")) else {
            let status = child.wait().await.unwrap();
            panic!(
                "the SMTP sink exited ({status}) without listening; is aiosmtpd installed? \
                 (pip install aiosmtpd; its error is above)"
            );
        };
        Self {
            port: port.trim().parse().unwrap(),
            child,
            dir: dir.to_owned(),
        }
    }

    /// The messages received so far, in order, as (summary, raw message).
    fn received(&self) -> Vec<(Value, String)> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|eml| {
                let json = std::fs::read_to_string(eml.with_extension("json")).unwrap();
                (
                    serde_json::from_str(&json).unwrap(),
                    std::fs::read_to_string(eml).unwrap(),
                )
            })
            .collect()
    }

    async fn wait_for(&self, count: usize) -> Vec<(Value, String)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.received();
            if got.len() >= count {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{count} message(s) expected, {} received",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) {
        self.child.kill().await.ok();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tollgate-{name}-{}-{:x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A port nobody listens on (as far as one can know: it was free a moment ago).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn app_sending_to(engine: Engine, port: u16) -> TestApp {
    TestApp::spawn_with(engine, move |c| {
        let mut smtp = SmtpConfig::new("127.0.0.1", SmtpSecurity::None);
        smtp.port = port;
        smtp.timeout = Duration::from_secs(10);
        c.email = EmailConfig {
            from: FROM.to_owned(),
            transport: TransportConfig::Smtp(smtp),
            ..EmailConfig::default()
        };
    })
    .await
}

fn accept_url(t: &TestApp) -> String {
    // Long enough that a mail encoder must wrap it: the link must still arrive whole.
    t.url("/invites/9b8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddccbbaa99887766554433221100")
}

async fn an_invitation_arrives_through_a_real_smtp_server(engine: Engine) {
    let dir = temp_dir("smtp-sink");
    let sink = SmtpSink::start(&dir, 0, 0).await;
    let t = app_sending_to(engine, sink.port).await;
    let worker = EmailWorker::spawn(t.app.clone());

    let url = accept_url(&t);
    let projects = vec!["Alpha".to_owned()];
    let now = t.app.now();
    let email = t
        .app
        .mailer
        .render(
            "bob@example.com",
            &Invitation {
                org_name: "Acme & Sons",
                inviter_name: "Ada Lovelace",
                inviter_email: "ada@example.com",
                role: "Project Admin",
                projects: &projects,
                accept_url: &url,
                expires_at: now + 7 * 86_400_000,
            },
        )
        .unwrap();
    let mut tx = t.app.store.begin_write().await.unwrap();
    let id = enqueue_email_in(&mut tx, &email, now).await.unwrap();
    tx.commit().await.unwrap();
    t.app.mailer.wake();

    let received = sink.wait_for(1).await;
    worker.stop().await;
    let (summary, raw) = &received[0];
    assert_eq!(summary["mail_from"], "no-reply@tollgate.test");
    assert_eq!(summary["rcpt_tos"], serde_json::json!(["bob@example.com"]));
    assert_eq!(summary["to"], "bob@example.com");
    assert_eq!(summary["from"], FROM);
    assert_eq!(
        summary["subject"],
        "Ada Lovelace invited you to join Acme & Sons on Tollgate"
    );
    assert_eq!(summary["content_type"], "multipart/alternative");
    let text = summary["text"].as_str().expect("a text/plain part");
    let html = summary["html"].as_str().expect("a text/html part");
    assert!(text.contains(&format!("\n{url}\n")), "{text}");
    assert!(
        text.contains("as Project Admin of the project Alpha."),
        "{text}"
    );
    assert!(html.contains(&format!("href=\"{url}\"")), "{html}");
    assert!(html.contains("Acme &amp; Sons"), "{html}");
    assert!(summary["message_id"]
        .as_str()
        .unwrap()
        .starts_with(&format!("<outbox.{id}.")));
    assert!(raw.contains("Content-Type: multipart/alternative"), "{raw}");

    let row = t.app.store.outbox_message(id).await.unwrap().unwrap();
    assert_eq!((row.sent_at, row.attempts), (Some(now), 1));
    assert_eq!(t.app.store.pending_email_count().await.unwrap(), 0);
    sink.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

async fn a_message_waits_while_the_server_is_down_and_arrives_once(engine: Engine) {
    let port = free_port();
    let t = app_sending_to(engine, port).await;
    let start = t.app.now();
    let url = accept_url(&t);
    let id = t
        .app
        .send_email(
            "bob@example.com",
            &Invitation {
                org_name: "Acme",
                inviter_name: "Ada",
                inviter_email: "ada@example.com",
                role: "Organization Admin",
                projects: &[],
                accept_url: &url,
                expires_at: start + 86_400_000,
            },
        )
        .await
        .unwrap();

    // Nobody listens: the attempt fails and the message waits 30 s.
    let report = t.deliver_emails().await;
    assert_eq!((report.sent, report.retrying), (0, 1));
    let row = t.app.store.outbox_message(id).await.unwrap().unwrap();
    assert_eq!(row.attempts, 1);
    assert_eq!(row.next_attempt_at, start + 30_000);
    assert_eq!(
        (row.sent_at, row.failed_at, row.locked_until),
        (None, None, None)
    );
    assert!(row.last_error.is_some());

    // The server comes up, and answers its first message with "try again later".
    let dir = temp_dir("smtp-sink");
    let sink = SmtpSink::start(&dir, port, 1).await;
    assert_eq!(t.deliver_emails().await, Default::default(), "not due yet");
    t.clock.advance_ms(30_000);
    let report = t.deliver_emails().await;
    assert_eq!((report.sent, report.retrying), (0, 1));
    let row = t.app.store.outbox_message(id).await.unwrap().unwrap();
    assert_eq!(row.attempts, 2);
    assert_eq!(
        row.next_attempt_at,
        start + 30_000 + 60_000,
        "back-off doubles"
    );
    assert!(row.last_error.unwrap().contains("451"));

    t.clock.advance_ms(60_000);
    assert_eq!(t.deliver_emails().await.sent, 1);
    let received = sink.wait_for(1).await;
    assert_eq!(
        received[0].0["rcpt_tos"],
        serde_json::json!(["bob@example.com"])
    );
    assert!(received[0].0["text"].as_str().unwrap().contains(&url));
    let row = t.app.store.outbox_message(id).await.unwrap().unwrap();
    assert_eq!((row.attempts, row.sent_at), (3, Some(start + 90_000)));

    // Exactly once, however long we wait.
    t.clock.advance_ms(86_400_000);
    assert_eq!(t.deliver_emails().await.sent, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.received().len(), 1);
    sink.stop().await;
    std::fs::remove_dir_all(dir).ok();
}

async fn delivery_is_given_up_after_ten_attempts(engine: Engine) {
    let t = app_sending_to(engine, free_port()).await;
    let id = t
        .app
        .send_email(
            "bob@example.com",
            &Invitation {
                org_name: "Acme",
                inviter_name: "Ada",
                inviter_email: "ada@example.com",
                role: "Organization Admin",
                projects: &[],
                accept_url: "http://127.0.0.1/invites/x",
                expires_at: t.app.now(),
            },
        )
        .await
        .unwrap();
    for attempt in 1..=9 {
        let report = t.deliver_emails().await;
        assert_eq!(report.retrying, 1, "attempt {attempt}");
        t.clock.advance_ms(3_600_000);
    }
    let report = t.deliver_emails().await;
    assert_eq!((report.retrying, report.gave_up), (0, 1));
    let row = t.app.store.outbox_message(id).await.unwrap().unwrap();
    assert_eq!(row.attempts, 10);
    assert_eq!(row.failed_at, Some(t.app.now()));
    assert_eq!(row.sent_at, None);
    t.clock.advance_ms(86_400_000);
    assert_eq!(
        t.deliver_emails().await,
        Default::default(),
        "given up for good"
    );
}

on_both_engines!(
    an_invitation_arrives_through_a_real_smtp_server,
    a_message_waits_while_the_server_is_down_and_arrives_once,
    delivery_is_given_up_after_ten_attempts,
);
