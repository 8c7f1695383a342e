#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The project page shows how to call the gateway: the base URL (the configured public URL, or,
//! as here, the browser's origin filled in by app.js) with a curl and a Python example. Both
//! engines.

use tollgate_domain::{OrgId, ProjectId};
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

mod common;
mod gateway_common;

/// The JSON the curl example sends.
fn curl_body(html: &str) -> serde_json::Value {
    let start = html.find("-d '").expect("curl's body") + 4;
    let end = start + html[start..].find("'</pre>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

async fn the_curl_example_works_as_pasted(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let org = &ada.org_id;
    let project = t.default_project(org).await;
    let (_, key) = common::create_key(&t, &ada, org, &project).await;
    gateway_common::grant(&t, org, 5_000_000).await;
    let path = format!("/o/{org}/projects/{project}");
    let send = |body: serde_json::Value| {
        reqwest::Client::new()
            .post(t.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };

    let (_, html) = common::get_page(&t, &ada, &path).await;
    assert!(html.contains("export TOLLGATE_API_KEY=tg-"));
    assert!(html.contains("api_key=os.environ[\"TOLLGATE_API_KEY\"]"));
    assert_eq!(send(curl_body(&html)).await.unwrap().status(), 200);

    // Restricted to one model: the examples name it, and still work.
    let other = "qwen2.5-coder-32b-instruct";
    let user = t.app.store.user(&ada.id.clone()).await.unwrap().unwrap();
    t.app
        .set_project_models(
            &user,
            &OrgId::parse(org).unwrap(),
            &ProjectId::parse(&project).unwrap(),
            Some(vec![other.to_owned()]),
            &tollgate_server::auth::ClientInfo::default(),
        )
        .await
        .unwrap();
    let (_, html) = common::get_page(&t, &ada, &path).await;
    let body = curl_body(&html);
    assert_eq!(body["model"], other);
    assert!(html.contains(&format!(r#"model="{other}""#)), "python too");
    assert_eq!(send(body).await.unwrap().status(), 200);
}

on_both_engines!(the_curl_example_works_as_pasted);
