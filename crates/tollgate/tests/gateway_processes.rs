//! `tollgate serve` forwarding to `tollgate mock-upstream` processes over real HTTP: two
//! replicas share the traffic, and when one is killed the rest of it moves to the other.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::gateway::{chat, write_catalog, Customer, MockUpstream};
use support::{Server, TempDir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_spreads_requests_over_mock_upstream_processes_and_survives_one_dying() {
    let mut a = MockUpstream::start();
    let b = MockUpstream::start();
    let dir = TempDir::new("gateway-processes");
    let catalog = dir.path().join("catalog.toml");
    write_catalog(&catalog, &[&a.base_url, &b.base_url], "1", "1");
    let db_url = format!("sqlite:{}", dir.path().join("tollgate.db").display());
    let catalog_arg = catalog.to_str().unwrap();
    let server = Server::start(&["--database-url", &db_url, "--catalog", catalog_arg], &[]);
    let Customer { key, .. } = Customer::sign_up(&server, &db_url, "10").await;

    let client = reqwest::Client::new();
    let ask = || async {
        let (status, body, _) = chat(&client, &server.base, &key, 4).await.unwrap();
        (status, body)
    };
    for _ in 0..10 {
        let (s, body) = ask().await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["model"], "m");
    }
    let (on_a, on_b) = (a.requests().await, b.requests().await);
    assert_eq!(on_a + on_b, 10);
    assert!(
        on_a >= 3 && on_b >= 3,
        "idle replicas take turns: {on_a} and {on_b}"
    );

    a.kill();
    for _ in 0..10 {
        let (s, body) = ask().await;
        assert_eq!(s, 200, "a dead replica costs no request: {body}");
    }
    assert_eq!(b.requests().await, on_b + 10);
}
