#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Console pages over HTTP (no browser): CSRF on every form, redirects, permissions, errors.

use tollgate_domain::ProjectRole;
use tollgate_server::testing::{TestApp, PASSWORD};
use tollgate_store::{on_both_engines, Engine};

/// The hidden CSRF token of the first form on a page.
fn csrf_of(html: &str) -> String {
    let start =
        html.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    html[start..start + 64].to_owned()
}

async fn page(client: &reqwest::Client, url: String) -> (u16, String) {
    let r = client.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

async fn sign_up_through_the_form(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let c = t.client();
    let (s, html) = page(&c, t.url("/signup")).await;
    assert_eq!(s, 200);
    let token = csrf_of(&html);
    let form = [
        ("csrf", token.as_str()),
        ("name", "Ada"),
        ("email", "ada@example.com"),
        ("password", PASSWORD),
    ];

    // Without the token, or with another one: refused, nothing created.
    let r = c
        .post(t.url("/signup"))
        .form(&form[1..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let forged = [("csrf", "0".repeat(64))];
    let r = c.post(t.url("/signup")).form(&forged).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // A valid token but from another site.
    let r = c
        .post(t.url("/signup"))
        .header("origin", "http://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(t.app.store.count_users().await.unwrap(), 0);

    // Bad input re-renders the form with the field's error.
    let bad = [
        ("csrf", token.as_str()),
        ("name", "Ada"),
        ("email", "ada@"),
        ("password", PASSWORD),
    ];
    let r = c.post(t.url("/signup")).form(&bad).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("is not a valid email address"));

    let r = c.post(t.url("/signup")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/o/org_"));
    let (s, html) = page(&c, t.url(&location(&r))).await;
    assert_eq!(s, 200);
    assert!(
        html.contains("Ada&#x27;s organization") || html.contains("Ada's organization"),
        "{html}"
    );

    // The same email again: an inline error.
    let c2 = t.client();
    let (_, html) = page(&c2, t.url("/signup")).await;
    let again = [
        ("csrf", csrf_of(&html)),
        ("name", "A".into()),
        ("email", "ADA@example.com".into()),
        ("password", PASSWORD.into()),
    ];
    let r = c2.post(t.url("/signup")).form(&again).send().await.unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("already exists"));
}

async fn login_logout_and_next(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let c = t.client();
    let settings = format!("/o/{}/settings", ada.org_id);
    let r = c.get(t.url(&settings)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let login_url = location(&r);
    assert!(login_url.starts_with("/login?next=/o/"), "{login_url}");

    let (_, html) = page(&c, t.url(&login_url)).await;
    let token = csrf_of(&html);
    let wrong = [
        ("csrf", token.as_str()),
        ("email", "ada@example.com"),
        ("password", "nope nope"),
        ("next", &settings),
    ];
    let r = c.post(t.url("/login")).form(&wrong).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Incorrect email or password"));
    let right = [
        ("csrf", token.as_str()),
        ("email", "ada@example.com"),
        ("password", PASSWORD),
        ("next", &settings),
    ];
    let r = c.post(t.url("/login")).form(&right).send().await.unwrap();
    assert_eq!((r.status().as_u16(), location(&r)), (303, settings.clone()));
    let offsite = [
        ("csrf", token.as_str()),
        ("email", "ada@example.com"),
        ("password", PASSWORD),
        ("next", "//evil.example/"),
    ];
    let r = c.post(t.url("/login")).form(&offsite).send().await.unwrap();
    assert_eq!(location(&r), "/", "never redirected off-site");

    let (s, html) = page(&c, t.url(&settings)).await;
    assert_eq!(s, 200);
    let r = c
        .post(t.url("/logout"))
        .form(&[("csrf", "f".repeat(64))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "logout needs the session's token");
    let r = c
        .post(t.url("/logout"))
        .form(&[("csrf", csrf_of(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        c.get(t.url(&settings)).send().await.unwrap().status(),
        303,
        "signed out"
    );
}

async fn settings_for_admins_and_members(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    let default = t.default_project(&ada.org_id).await;
    t.add_member(
        &ada.org_id,
        &bob.id,
        &[(&default, ProjectRole::ProjectMember)],
    )
    .await;
    let url = t.url(&format!("/o/{}/settings", ada.org_id));

    let (_, admin) = page(&ada.client, url.clone()).await;
    assert!(
        admin.contains("id=\"org-name\"")
            && admin.contains(ada.org_id.as_str())
            && admin.contains("contact support")
    );
    let (s, member) = page(&bob.client, url.clone()).await;
    assert_eq!(s, 200);
    assert!(
        !member.contains("id=\"org-name\""),
        "members get no rename form"
    );
    assert!(member.contains("Only organization admins can rename"));

    // A member posting the form anyway is refused.
    let r = bob
        .client
        .post(&url)
        .form(&[("csrf", csrf_of(&member)), ("name", "Bob's".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Admin: wrong token refused; right token renames; bad name shows inline error.
    let r = ada
        .client
        .post(&url)
        .form(&[("csrf", "a".repeat(64)), ("name", "X".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = ada
        .client
        .post(&url)
        .form(&[("csrf", csrf_of(&admin)), ("name", "x".repeat(101))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("at most 100 characters"));
    let r = ada
        .client
        .post(&url)
        .form(&[("csrf", csrf_of(&admin)), ("name", "Engines".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        t.app.store.org(&ada.org_id).await.unwrap().unwrap().name,
        "Engines"
    );

    // Another organization's pages are not found.
    let (s, _) = page(&ada.client, t.url(&format!("/o/{}/settings", bob.org_id))).await;
    assert_eq!(s, 404);
    let (s, _) = page(&ada.client, t.url("/o/garbage/settings")).await;
    assert_eq!(s, 404);
    let (s, html) = page(&ada.client, t.url("/no/such/page")).await;
    assert_eq!(s, 404);
    assert!(html.contains("<html"));
}

async fn create_an_organization_and_switch(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let (s, html) = page(&ada.client, t.url("/orgs/new")).await;
    assert_eq!(s, 200);
    let r = ada
        .client
        .post(t.url("/orgs"))
        .form(&[("csrf", csrf_of(&html)), ("name", "".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = ada
        .client
        .post(t.url("/orgs"))
        .form(&[("csrf", csrf_of(&html)), ("name", "Second".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let overview = location(&r);
    let (_, html) = page(&ada.client, t.url(&overview)).await;
    assert!(html.contains("Organization created"));
    // The switcher lists both organizations.
    assert!(html.contains(&format!("/o/{}", ada.org_id)) && html.contains("Second"));
}

async fn oversized_and_malformed_forms_get_pages(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let c = t.client();
    let big = "x".repeat(100_000);
    let r = c
        .post(t.url("/login"))
        .form(&[("email", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("<html"));
    let r = c
        .post(t.url("/login"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
}

/// A signed-in form post passes the form guard in order: signed in (else log-in, whatever the
/// body), a readable form (else an error page, whatever the token), then the CSRF token and
/// `Origin` (else 403). Each refusal changes nothing.
async fn signed_in_forms_are_guarded_in_order(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let settings = format!("/o/{}/settings", ada.org_id);
    let url = t.url(&settings);
    let (_, html) = page(&ada.client, url.clone()).await;
    let token = csrf_of(&html);

    let r = t
        .client()
        .post(&url)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), location(&r)),
        (303, format!("/login?next={settings}"))
    );

    let r = ada
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert!(r.text().await.unwrap().contains("could not be read"));

    let r = ada
        .client
        .post(&url)
        .form(&[("name", "Renamed")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("did not come from this site"));

    let r = ada
        .client
        .post(&url)
        .header("origin", "https://evil.example")
        .form(&[("csrf", token.as_str()), ("name", "Renamed")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (_, html) = page(&ada.client, url.clone()).await;
    assert!(!html.contains("Renamed"), "a refused form changed nothing");

    // The same form with its token and no foreign Origin goes through.
    let r = ada
        .client
        .post(&url)
        .form(&[("csrf", token.as_str()), ("name", "Renamed")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (_, html) = page(&ada.client, url).await;
    assert!(html.contains("Renamed"));
}

async fn assets_are_served_by_the_binary(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    for (path, kind) in [
        ("/assets/app.css", "text/css"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ] {
        let r = reqwest::get(t.url(path)).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
    }
    assert_eq!(
        reqwest::get(t.url("/assets/nope.css"))
            .await
            .unwrap()
            .status(),
        404
    );
}

async fn a_sign_up_keeps_where_it_was_going(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    // The login page's way to sign up carries `next`, and the sign-up form keeps it.
    let c = t.client();
    let (_, login) = page(&c, t.url("/login?next=/account")).await;
    // (`/` HTML-escaped in the attribute, as every value is.)
    assert!(
        login.contains(r#"href="/signup?next=&#x2f;account""#),
        "{login}"
    );
    let (_, html) = page(&c, t.url("/signup?next=/account")).await;
    assert!(
        html.contains(r#"name="next" value="&#x2f;account""#),
        "{html}"
    );
    let token = csrf_of(&html);

    // Refused: the page is drawn again with `next` still in it.
    let bad = [
        ("csrf", token.as_str()),
        ("name", "Ada"),
        ("email", "ada@"),
        ("password", PASSWORD),
        ("next", "/account"),
    ];
    let r = c.post(t.url("/signup")).form(&bad).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"name="next" value="&#x2f;account""#),
        "{html}"
    );

    // Accepted: it goes there.
    let good = [
        ("csrf", token.as_str()),
        ("name", "Ada"),
        ("email", "ada@example.com"),
        ("password", PASSWORD),
        ("next", "/account"),
    ];
    let r = c.post(t.url("/signup")).form(&good).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account");

    // Another site is never a place to go: the new organization instead.
    let c2 = t.client();
    let (_, html) = page(&c2, t.url("/signup")).await;
    let elsewhere = [
        ("csrf", csrf_of(&html)),
        ("name", "Bob".into()),
        ("email", "bob@example.com".into()),
        ("password", PASSWORD.into()),
        ("next", "//evil.example/x".into()),
    ];
    let r = c2
        .post(t.url("/signup"))
        .form(&elsewhere)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/o/org_"), "{}", location(&r));
}

on_both_engines!(
    a_sign_up_keeps_where_it_was_going,
    sign_up_through_the_form,
    login_logout_and_next,
    settings_for_admins_and_members,
    create_an_organization_and_switch,
    oversized_and_malformed_forms_get_pages,
    signed_in_forms_are_guarded_in_order,
    assets_are_served_by_the_binary,
);
