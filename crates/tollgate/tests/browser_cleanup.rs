//! A browser test leaves nothing running: dropping a `Browser` — at the end of a test or while
//! the test panics half-way — ends its WebDriver session, chromedriver and every Chromium
//! process, and removes the profile directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use support::webdriver::{processes_mentioning, Browser};

fn assert_nothing_left(profile: &Path) {
    let left = processes_mentioning(profile);
    assert!(
        left.is_empty(),
        "processes of the browser still alive: {left:?}"
    );
    assert!(!profile.exists(), "{} was not removed", profile.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_browser_leaves_no_process_and_no_profile() {
    let b = Browser::start().await;
    b.goto("data:text/html,<p>hello</p>").await;
    b.wait_for_text("hello").await;
    let profile = b.profile_dir();
    let running = processes_mentioning(&profile);
    // chromedriver and at least the browser's main process: the check below can see them.
    assert!(
        running.len() >= 2,
        "expected the browser's processes, saw {running:?}"
    );
    drop(b);
    assert_nothing_left(&profile);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_that_panics_half_way_leaves_no_process_and_no_profile() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let test = tokio::spawn(async move {
        let b = Browser::start().await;
        b.goto("data:text/html,<p>half-way</p>").await;
        b.wait_for_text("half-way").await;
        tx.send(b.profile_dir()).unwrap();
        panic!("a browser test failing half-way");
    })
    .await;
    assert!(test.unwrap_err().is_panic());
    let profile = rx.await.unwrap();
    assert_nothing_left(&profile);
}
