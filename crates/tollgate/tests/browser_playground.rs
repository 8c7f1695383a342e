//! In a real headless Chromium against `tollgate serve`: the Playground refuses readably without
//! credit, then streams an answer from the built-in mock and shows its tokens and cost, and the
//! request appears in the usage log; the Limits page explains each limit; the project page's
//! allow-list takes effect on `/v1` (403 `model_not_allowed`); no page scrolls sideways at a
//! phone's 390 px.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{json, Value};
use support::webdriver::Browser;
use support::{run, Server, TempDir};

const MODEL: &str = "llama-3.1-8b-instruct";

async fn sign_up(b: &Browser, server: &Server) -> String {
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
    let url = b.current_url().await;
    let at = url.find("/o/").expect("an organization's page") + 3;
    url[at..].split(['/', '?']).next().unwrap().to_owned()
}

async fn send_chat(b: &Browser, text: &str) {
    b.find("#chat-input").await.type_text(text).await;
    b.find("#chat-send").await.click().await;
}

async fn phone_width_fits(b: &Browser, what: &str) {
    b.set_window_size(390, 844).await;
    if b.overflows_horizontally().await {
        let wide = b
            .execute(
                "return Array.from(document.querySelectorAll('body *'))
                   .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                   .slice(0, 8).map((e) => e.tagName + '#' + e.id + '.' + e.className + ' '
                     + Math.round(e.getBoundingClientRect().right));",
                vec![],
            )
            .await;
        panic!("{what} scrolls sideways at 390 px: {wide}");
    }
    b.set_window_size(1280, 900).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_streams_a_metered_answer_and_the_settings_apply() {
    let data = TempDir::new("browser-playground");
    let data_dir = data.path().to_str().unwrap().to_owned();
    let server = Server::start(&["--data-dir", &data_dir], &[]);
    let b = Browser::start().await;
    let org = sign_up(&b, &server).await;

    // No credit yet: the refusal is shown in words, in the page.
    b.find("nav a[href$='/playground']").await.click().await;
    b.wait_for_text("Maximum answer tokens").await;
    b.find("#pg-max-tokens").await.clear().await;
    b.find("#pg-max-tokens").await.type_text("12").await;
    send_chat(&b, "Hello there").await;
    b.wait_for_text("does not have enough credit").await;
    assert_eq!(
        b.count(".chat-msg").await,
        0,
        "nothing was sent to the model"
    );
    assert_eq!(
        b.find("#chat-input").await.attr("value").await.as_deref(),
        Some("Hello there"),
        "the message is kept, to send again"
    );
    b.find("#chat-input").await.clear().await;
    b.snapshot("playground-402").await;

    let (ok, _, err) = run(&[
        "--data-dir",
        &data_dir,
        "admin",
        "credits",
        "grant",
        &org,
        "5",
    ]);
    assert!(ok, "grant credits: {err}");

    // Counts how often the answer's text changes as events arrive (the mock sends four words
    // an event).
    b.execute(
        "window.__updates = 0;
         new MutationObserver((records) => {
           window.__updates += records.filter((r) => r.target.classList
             && r.target.classList.contains('chat-text')).length;
         }).observe(document.getElementById('chat-log'), {subtree: true, childList: true});",
        vec![],
    )
    .await;
    send_chat(&b, "Tell me something").await;
    let meta = ".chat-assistant .chat-meta[data-recorded]";
    b.find(meta).await;
    let shown = b.find(meta).await.text().await;
    assert!(
        shown.contains("output tokens") && shown.contains('$'),
        "{shown}"
    );
    assert!(
        shown.contains("12 output tokens"),
        "the mock's 12 words: {shown}"
    );
    let answer = b.find(".chat-assistant .chat-text").await.text().await;
    assert_eq!(answer.split_whitespace().count(), 12, "{answer}");
    let updates = b.execute("return window.__updates", vec![]).await;
    assert!(
        updates.as_u64().unwrap() >= 3,
        "the answer grew event by event: {updates}"
    );
    assert!(
        !b.page_text().await.contains("does not have enough credit"),
        "the old error is gone"
    );
    assert_eq!(b.count("#chat-error:not([hidden])").await, 0);
    b.snapshot("playground-answer").await;
    phone_width_fits(&b, "the Playground").await;

    // One request a minute, set by the operator on the running server: the refusal is shown
    // in words, with when to try again.
    let (ok, _, err) = run(&[
        "--data-dir",
        &data_dir,
        "admin",
        "limits",
        "set",
        &org,
        MODEL,
        "rpm=1",
    ]);
    assert!(ok, "limits set: {err}");
    let mut limited = false;
    for _ in 0..20 {
        b.find("#chat-input").await.clear().await;
        send_chat(&b, "Once more").await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while b.count("#chat-send:not([disabled])").await == 0 {
            assert!(std::time::Instant::now() < deadline, "the chat never ended");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        if b.page_text().await.contains("Rate limit reached") {
            limited = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(limited, "a 429 within 20 chats at 1 RPM");
    let text = b.page_text().await;
    assert!(
        text.contains("requests per minute (RPM)") && text.contains("try again in"),
        "{text}"
    );
    b.snapshot("playground-429").await;

    // The request is in the usage log.
    b.goto(&server.url(&format!("/o/{org}/usage/requests")))
        .await;
    b.wait_for_text(MODEL).await;

    // The Limits page: each abbreviation explained, where each limit comes from.
    b.find("nav a[href$='/limits']").await.click().await;
    b.wait_for_text("Requests per minute").await;
    let text = b.page_text().await;
    for needle in ["Tokens per day", "Pay-as-you-go", "Llama 3.1 8B Instruct"] {
        assert!(text.contains(needle), "{needle} on the Limits page");
    }
    b.snapshot("limits").await;
    phone_width_fits(&b, "the Limits page").await;

    // The project page: allow only Qwen, then the gateway refuses Llama.
    b.find("nav a[href$='/projects']").await.click().await;
    b.wait_for_text("Default").await;
    b.find("a[href*='/projects/prj_']").await.click().await;
    b.wait_for_text("Rate limits").await;
    phone_width_fits(&b, "the project page").await;
    b.find("#models-selected").await.click().await;
    b.find("#model-1").await.click().await; // Llama 3.1 8B: untick
    b.find("#model-2").await.click().await; // Llama 3.1 70B: untick
    b.find("#save-models").await.click().await;
    b.wait_for_text("Models saved").await;
    b.snapshot("project-models").await;

    // A key of the project, made on the API Keys page.
    b.find(".page-actions a[href*='/api-keys?project=']")
        .await
        .click()
        .await;
    b.find("#key-name").await.type_text("Laptop").await;
    b.find("#create-key").await.click().await;
    b.wait_for_text("Save your new key").await;
    let key = b.find("#new-key-value").await.text().await;
    let chat = |model: &'static str| {
        let key = key.clone();
        let url = server.url("/v1/chat/completions");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&json!({"model": model, "max_tokens": 3,
                              "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = chat(MODEL).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "model_not_allowed");
    let (status, body) = chat("qwen2.5-coder-32b-instruct").await;
    assert_eq!(status, 200, "{body}");
}
