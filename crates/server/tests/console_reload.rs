#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Reload safety of the console (issue 14, bugs 4 and 5): creating a key answers with a
//! redirect and the full key is shown once from a flash cookie, only to its creator; signed-in
//! pages are never stored by the browser.

use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use serde_json::json;
use tollgate_domain::{OrgId, ProjectRole};
use tollgate_server::testing::{TestApp, PASSWORD};
use tollgate_store::{on_both_engines, Engine};

/// A user signed up through the API, whose cookies the test sends by hand.
struct Raw {
    id: tollgate_domain::UserId,
    org_id: OrgId,
    session: String,
}

async fn sign_up(t: &TestApp, email: &str) -> Raw {
    let r = reqwest::Client::new()
        .post(t.url("/api/v1/auth/signup"))
        .json(&json!({"email": email, "password": PASSWORD, "name": "Raw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let session = set_cookie(&r, "tg_session").unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    t.verify_email_of(email).await;
    Raw {
        id: tollgate_domain::UserId::parse(body["user"]["id"].as_str().unwrap()).unwrap(),
        org_id: OrgId::parse(body["organization"]["id"].as_str().unwrap()).unwrap(),
        session,
    }
}

/// The value `name` is set to by a response (`Some("")` when it is cleared).
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().unwrap();
        v.strip_prefix(&format!("{name}="))
            .map(|rest| rest.split(';').next().unwrap().to_owned())
    })
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(t: &TestApp, cookies: &str, path: &str) -> reqwest::Response {
    client()
        .get(t.url(path))
        .header(COOKIE, cookies)
        .send()
        .await
        .unwrap()
}

fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form") + 19;
    html[at..at + 64].to_owned()
}

fn shown_key(html: &str) -> Option<String> {
    let at = html.find("id=\"new-key-value\">")? + 19;
    Some(html[at..html[at..].find('<')? + at].to_owned())
}

async fn a_new_key_is_shown_once_after_a_redirect_and_only_to_its_creator(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = sign_up(&t, "ada@example.com").await;
    let bob = sign_up(&t, "bob@example.com").await;
    let org = &ada.org_id;
    let default = t.default_project(org).await;
    t.add_member(org, &bob.id, &[(&default, ProjectRole::ProjectAdmin)])
        .await;
    let ada_cookies = format!("tg_session={}", ada.session);
    let keys = format!("/o/{org}/api-keys?project={default}");
    let html = get(&t, &ada_cookies, &keys).await.text().await.unwrap();

    let r = client()
        .post(t.url(&format!("/o/{org}/api-keys")))
        .header(COOKIE, &ada_cookies)
        .header(ORIGIN, &t.base)
        .form(&[
            ("csrf", csrf(&html).as_str()),
            ("name", "Laptop"),
            ("project", &default),
            ("view", &default),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "POST/redirect/GET");
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, keys);
    let flash = set_cookie(&r, "tg_new_key").expect("the key travels in a flash cookie");
    let attributes = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for a in [
        &format!("Path=/o/{org}/api-keys"),
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=120",
    ] {
        assert!(attributes.contains(a), "{attributes} has {a}");
    }
    let key = flash.split_once('.').unwrap().1.to_owned();
    assert!(!location.contains(&key[20..]));

    // Someone else presenting the cookie sees nothing, nor does a cookie with a wrong secret.
    let bob_with_flash = format!("tg_session={}; tg_new_key={flash}", bob.session);
    let html = get(&t, &bob_with_flash, &keys).await.text().await.unwrap();
    assert!(html.contains("Laptop") && shown_key(&html).is_none());
    let mut forged = flash.clone();
    forged.replace_range(forged.len() - 4.., "0000");
    let html = get(&t, &format!("{ada_cookies}; tg_new_key={forged}"), &keys)
        .await
        .text()
        .await
        .unwrap();
    assert!(shown_key(&html).is_none());

    // Its creator sees it once: the page clears the cookie.
    let r = get(&t, &format!("{ada_cookies}; tg_new_key={flash}"), &keys).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(set_cookie(&r, "tg_new_key").as_deref(), Some(""));
    let html = r.text().await.unwrap();
    assert_eq!(shown_key(&html).as_deref(), Some(key.as_str()));
    assert_eq!(html.matches("data-key=\"").count(), 1, "one key was made");
}

async fn signed_in_pages_are_never_stored(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = sign_up(&t, "ada@example.com").await;
    let org = &ada.org_id;
    let cookies = format!("tg_session={}", ada.session);
    for page in [
        "",
        "/projects",
        "/api-keys",
        "/members",
        "/settings",
        "/audit-log",
        "/billing",
        "/billing/payg",
        "/billing/payment",
        "/billing/address",
        "/billing/receipts",
        "/subscriptions",
    ] {
        let r = get(&t, &cookies, &format!("/o/{org}{page}")).await;
        assert_eq!(r.status(), 200, "{page}");
        assert_eq!(r.headers()["cache-control"], "no-store", "{page}");
    }
    // Assets keep their own caching.
    let r = get(&t, "", "/assets/app.css").await;
    assert_eq!(r.headers()["cache-control"], "public, max-age=3600");
}

on_both_engines!(
    a_new_key_is_shown_once_after_a_redirect_and_only_to_its_creator,
    signed_in_pages_are_never_stored,
);
