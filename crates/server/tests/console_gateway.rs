#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The project page shows how to call the gateway: the base URL (the configured public URL, or,
//! as here, the browser's origin filled in by app.js) with a curl and a Python example. Both
//! engines.

use tollgate_server::testing::TestApp;
use tollgate_store::{on_both_engines, Engine};

async fn page(t: &TestApp) -> String {
    let ada = t.sign_up("ada@example.com").await;
    let project = t.default_project(&ada.org_id).await;
    let r = ada
        .client
        .get(t.url(&format!("/o/{}/projects/{project}", ada.org_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

async fn the_project_page_shows_the_base_url_and_examples(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let html = page(&t).await;
    let model = t.app.catalog.current().models()[0].id.clone();
    assert!(
        html.contains(r#"id="gateway-url"><span data-origin>"#),
        "{html}"
    );
    assert!(html.contains("/v1/chat/completions"), "curl");
    assert!(html.contains("from openai import OpenAI"), "python");
    assert!(html.contains(&format!(r#"model="{model}""#)));
}

on_both_engines!(the_project_page_shows_the_base_url_and_examples);
