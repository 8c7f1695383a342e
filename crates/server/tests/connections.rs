#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Slow and idle clients: they are closed after the configured timeouts, and meanwhile the
//! server keeps answering others (issue 9). Timeouts are short here so the test is quick.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tollgate_server::testing::TestApp;
use tollgate_server::ConnectionLimits;
use tollgate_store::{on_both_engines, Engine};

const IDLE: Duration = Duration::from_millis(800);
const HEADERS: Duration = Duration::from_millis(1500);
const BODY: Duration = Duration::from_millis(1500);

fn limits(max_connections: usize) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: HEADERS,
        body_read_timeout: BODY,
        idle_timeout: IDLE,
        max_connections,
    }
}

fn addr(t: &TestApp) -> String {
    t.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection; what it sent, and when it closed (`None`
/// when it was still open at `deadline`).
async fn wait_for_close(mut read: OwnedReadHalf, deadline: Instant) -> (String, Option<Instant>) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, read.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), None),
            Ok(Ok(0) | Err(_)) => {
                return (
                    String::from_utf8_lossy(&seen).into_owned(),
                    Some(Instant::now()),
                )
            }
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends `lines` one every `every` until the server closes the socket.
fn trickle(mut write: tokio::net::tcp::OwnedWriteHalf, first: String, every: Duration) {
    tokio::spawn(async move {
        if write.write_all(first.as_bytes()).await.is_err() {
            return;
        }
        for i in 0.. {
            tokio::time::sleep(every).await;
            if write
                .write_all(format!("x-slow-{i}: a\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
}

async fn healthz(t: &TestApp) -> (u16, Duration) {
    let started = Instant::now();
    let r = t
        .bare_client()
        .get(t.url("/healthz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("healthz answers");
    (r.status().as_u16(), started.elapsed())
}

async fn slow_and_idle_connections_are_closed_while_others_are_served(engine: Engine) {
    let t = TestApp::spawn_with(engine, |c| c.connections = limits(64)).await;
    let opened = Instant::now();
    let deadline = opened + Duration::from_secs(8);
    let mut idle = Vec::new();
    for _ in 0..20 {
        let (read, write) = TcpStream::connect(addr(&t)).await.unwrap().into_split();
        idle.push(tokio::spawn(async move {
            let _keep = write;
            wait_for_close(read, deadline).await
        }));
    }
    let mut slow_headers = Vec::new();
    for _ in 0..5 {
        let (read, write) = TcpStream::connect(addr(&t)).await.unwrap().into_split();
        // A header line every 300 ms: never idle, never finished.
        trickle(
            write,
            "GET /healthz HTTP/1.1\r\nhost: x\r\n".into(),
            Duration::from_millis(300),
        );
        slow_headers.push(tokio::spawn(wait_for_close(read, deadline)));
    }
    let (read, write) = TcpStream::connect(addr(&t)).await.unwrap().into_split();
    // Headers in full, then a body that trickles in and never reaches its length.
    trickle(
        write,
        "POST /api/v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: 100000\r\n\r\n{"
            .into(),
        Duration::from_millis(300),
    );
    let slow_body = tokio::spawn(wait_for_close(read, deadline));

    // Everyone else is served meanwhile, at once.
    let (status, took) = healthz(&t).await;
    assert_eq!(status, 200);
    assert!(took < IDLE, "healthz took {took:?} beside slow clients");

    for conn in idle {
        let (sent, closed) = conn.await.unwrap();
        let closed = closed.expect("an idle connection is closed");
        assert!(closed - opened >= IDLE, "closed before the idle timeout");
        assert!(sent.is_empty(), "nothing asked, nothing answered: {sent}");
    }
    for conn in slow_headers {
        let (_, closed) = conn.await.unwrap();
        let closed = closed.expect("a connection trickling headers is closed");
        assert!(
            closed - opened >= HEADERS - Duration::from_millis(100),
            "closed after {:?}, before the header timeout",
            closed - opened
        );
    }
    let (sent, closed) = slow_body.await.unwrap();
    assert!(closed.is_some(), "a body trickling in is cut off");
    assert!(sent.starts_with("HTTP/1.1 4"), "answered a 4xx: {sent}");

    let (status, _) = healthz(&t).await;
    assert_eq!(status, 200);
}

/// At the cap, a further client waits in the backlog until a connection ends, then is served.
async fn connections_beyond_the_cap_wait_for_a_free_place(engine: Engine) {
    let t = TestApp::spawn_with(engine, |c| c.connections = limits(4)).await;
    let opened = Instant::now();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(addr(&t)).await.unwrap());
    }
    let (status, _) = healthz(&t).await;
    assert_eq!(status, 200);
    let waited = opened.elapsed();
    assert!(
        waited >= IDLE,
        "answered after {waited:?}: the four held connections left no place until one idled out"
    );
    for conn in held {
        let (read, _write) = conn.into_split();
        let (_, closed) = wait_for_close(read, Instant::now() + Duration::from_secs(5)).await;
        assert!(closed.is_some(), "held connections were closed as idle");
    }
}

on_both_engines!(
    slow_and_idle_connections_are_closed_while_others_are_served,
    connections_beyond_the_cap_wait_for_a_free_place,
);
