#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The project page's model allow-list form: org admins choose every model or some; the gateway
//! refuses the others with 403 `model_not_allowed`; bad input is a 4xx that changes nothing;
//! project admins see the list but may not change it. Both engines.

mod common;

use common::{form_csrf, get_page, post_form};
mod gateway_common;

use tollgate_domain::ProjectRole;
use tollgate_server::testing::TestApp;
use tollgate_store::{on_both_engines, Engine};

const MODEL: &str = "llama-3.1-8b-instruct";
const OTHER: &str = "qwen2.5-coder-32b-instruct";

async fn chat(t: &TestApp, key: &str, model: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(t.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&gateway_common::hello(model))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn the_allow_list_form_takes_effect_on_the_gateway(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let org = &ada.org_id;
    let project = t.default_project(org).await;
    let path = format!("/o/{org}/projects/{project}");
    let (_, key) = common::create_key(&t, &ada, org, &project).await;
    gateway_common::grant(&t, org, 5_000_000).await;
    assert_eq!(chat(&t, &key, MODEL).await.0, 200);

    let (s, html) = get_page(&t, &ada, &path).await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"models-form\""));
    assert!(
        html.contains("id=\"models-all\" checked"),
        "every model by default"
    );
    let token = form_csrf(&html);
    let models = format!("{path}/models");

    let (s, _) = post_form(
        &t,
        &ada,
        &models,
        &[("csrf", &token), ("scope", "selected"), ("model", OTHER)],
    )
    .await;
    assert_eq!(s, 303);
    let stored = t.app.store.project_models(org, &project).await.unwrap();
    assert_eq!(stored, Some(vec![OTHER.to_owned()]));
    let (status, body) = chat(&t, &key, MODEL).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "model_not_allowed");
    assert_eq!(chat(&t, &key, OTHER).await.0, 200);
    let (_, html) = get_page(&t, &ada, &format!("{path}?notice=models")).await;
    assert!(html.contains("Models saved"));
    assert!(html.contains("id=\"models-selected\" checked"));
    let (_, audit) = get_page(&t, &ada, &format!("/o/{org}/audit-log")).await;
    assert!(audit.contains("project.models.set"), "audited");

    // Bad input changes nothing.
    for (form, status, what) in [
        (vec![("scope", "selected")], 422, "no model picked"),
        (vec![("scope", "some")], 400, "unknown scope"),
        (vec![], 400, "no scope"),
        (
            vec![("scope", "selected"), ("model", "no-such-model")],
            400,
            "unknown model",
        ),
    ] {
        let mut full = vec![("csrf", token.as_str())];
        full.extend(form);
        let (s, html) = post_form(&t, &ada, &models, &full).await;
        assert_eq!(s, status, "{what}");
        if status == 422 {
            assert!(
                html.contains("id=\"models-error\""),
                "{what}: shown at the form"
            );
        }
        assert_eq!(
            t.app.store.project_models(org, &project).await.unwrap(),
            Some(vec![OTHER.to_owned()]),
            "{what}"
        );
    }
    let (s, _) = post_form(&t, &ada, &models, &[("csrf", "forged"), ("scope", "all")]).await;
    assert_eq!(s, 403);

    // A project admin sees the list, may not change it.
    let bob = t.sign_up("bob@example.com").await;
    t.add_member(org, &bob.id, &[(&project, ProjectRole::ProjectAdmin)])
        .await;
    let (s, html) = get_page(&t, &bob, &path).await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"models-readonly\"") && !html.contains("id=\"models-form\""));
    assert!(html.contains(OTHER));
    let (s, _) = post_form(
        &t,
        &bob,
        &models,
        &[("csrf", &form_csrf(&html)), ("scope", "all")],
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(
        t.app.store.project_models(org, &project).await.unwrap(),
        Some(vec![OTHER.to_owned()])
    );

    // Every model again.
    let (s, _) = post_form(&t, &ada, &models, &[("csrf", &token), ("scope", "all")]).await;
    assert_eq!(s, 303);
    assert_eq!(
        t.app.store.project_models(org, &project).await.unwrap(),
        None
    );
    assert_eq!(chat(&t, &key, MODEL).await.0, 200);
}

on_both_engines!(the_allow_list_form_takes_effect_on_the_gateway);
