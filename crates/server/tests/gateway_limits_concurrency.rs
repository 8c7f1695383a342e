#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Rate limits far above the load refuse nothing when many requests arrive at once: a request
//! waiting for a fresh slice of one bucket keeps what it already took of the others, and one
//! lease covers every request waiting for it. Both engines.

mod common;
mod gateway_common;

use gateway_common::*;
use tollgate_store::{on_both_engines, Engine};

/// 64 requests at once on one process, far under `local`'s limits (1,000 RPM, 1,000,000 TPM):
/// every one is admitted.
async fn a_burst_under_the_limits_is_never_refused(engine: Engine) {
    let dead = dead_url().await;
    let g = Gateway::start(engine, &[&dead]).await;
    let g = std::sync::Arc::new(g);
    let burst: Vec<_> = (0..64)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move { g.chat(hello(LOCAL)).await })
        })
        .collect();
    let mut refused = Vec::new();
    for r in burst {
        let (status, body, _) = r.await.unwrap();
        if status != 200 {
            refused.push(format!("{status}: {body}"));
        }
    }
    assert!(
        refused.is_empty(),
        "{} refused: {:?}",
        refused.len(),
        refused.first()
    );
}

on_both_engines!(a_burst_under_the_limits_is_never_refused);
