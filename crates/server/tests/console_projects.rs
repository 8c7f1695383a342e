#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The console's Projects and API Keys pages, as a browser without JavaScript uses them.

mod common;

use common::{
    assert_openai_401, create_key, create_project, form_csrf as csrf, get_page as page,
    models_with_key, post_form_located as post,
};
use tollgate_domain::ProjectRole;
use tollgate_server::testing::TestApp;
use tollgate_store::{on_both_engines, Engine};

/// The full key shown on the page after creating one.
fn shown_key(html: &str) -> Option<String> {
    let at = html.find("id=\"new-key-value\">")? + 19;
    Some(html[at..html[at..].find('<')? + at].to_owned())
}

async fn admins_create_rename_and_archive_projects(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let org = &ada.org_id;
    let (s, html) = page(&t, &ada, &format!("/o/{org}/projects")).await;
    assert_eq!(s, 200);
    for nav in ["Overview", "Projects", "API Keys", "Settings"] {
        assert!(html.contains(&format!("<span>{nav}</span>")), "nav {nav}");
    }
    assert!(html.contains("Default") && html.contains("id=\"new-project\""));
    let token = csrf(&html);

    let (s, _, html) = post(
        &t,
        &ada,
        &format!("/o/{org}/projects"),
        &[("csrf", &token), ("name", "  ")],
    )
    .await;
    assert_eq!(s, 422);
    assert!(
        html.contains("id=\"project-name-error\"")
            && html.contains(
                "dialog id=\"new-project-dialog\" aria-labelledby=\"new-project-title\" open"
            )
    );
    let (s, location, _) = post(
        &t,
        &ada,
        &format!("/o/{org}/projects"),
        &[("csrf", "forged"), ("name", "Evil")],
    )
    .await;
    assert_eq!((s, location), (403, None), "no CSRF token, no project");

    let (s, location, _) = post(
        &t,
        &ada,
        &format!("/o/{org}/projects"),
        &[("csrf", &token), ("name", "Research")],
    )
    .await;
    assert_eq!(s, 303);
    let location = location.unwrap();
    assert!(location.contains("notice=created"));
    let project_path = location.split('?').next().unwrap().to_owned();
    let (s, html) = page(&t, &ada, &location).await;
    assert_eq!(s, 200);
    assert!(html.contains("Project created.") && html.contains("Research"));
    assert!(
        html.contains("id=\"archive-project\"")
            && html.contains("data-confirm=\"Archive Research?")
    );

    let (s, _, _) = post(
        &t,
        &ada,
        &format!("{project_path}/rename"),
        &[("csrf", &token), ("name", "Lab")],
    )
    .await;
    assert_eq!(s, 303);
    let (s, _, html) = post(
        &t,
        &ada,
        &format!("{project_path}/rename"),
        &[("csrf", &token), ("name", &"x".repeat(101))],
    )
    .await;
    assert_eq!(s, 422);
    assert!(html.contains("id=\"rename-project-error\""));
    let (s, location, _) = post(
        &t,
        &ada,
        &format!("{project_path}/archive"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(s, 303);
    let (_, html) = page(&t, &ada, &location.unwrap()).await;
    assert!(html.contains("id=\"archived-badge\"") && html.contains("Lab"));
    assert!(!html.contains("id=\"archive-project\""));

    // The Default project offers no archive button, and refuses a forged archive.
    let default = t.default_project(org).await;
    let (_, html) = page(&t, &ada, &format!("/o/{org}/projects/{default}")).await;
    assert!(
        html.contains("The Default project cannot be archived.")
            && !html.contains("id=\"archive-project\"")
    );
    let (s, _, html) = post(
        &t,
        &ada,
        &format!("/o/{org}/projects/{default}/archive"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(s, 409);
    assert!(html.contains("cannot be archived"));
}

async fn a_key_is_shown_once_with_a_copy_button_and_revoked_with_confirmation(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let org = &ada.org_id;
    let default = t.default_project(org).await;
    let (s, html) = page(&t, &ada, &format!("/o/{org}/api-keys")).await;
    assert_eq!(s, 200);
    assert!(
        html.contains("id=\"current-project\">All projects<"),
        "org admins start on All projects"
    );
    assert!(html.contains("id=\"no-keys\""));
    let token = csrf(&html);

    let r = ada
        .client
        .post(t.url(&format!("/o/{org}/api-keys")))
        .form(&[
            ("csrf", token.as_str()),
            ("name", "Laptop"),
            ("project", &default),
            ("view", "all"),
        ])
        .send()
        .await
        .unwrap();
    // Redirected (a reload of the answer creates nothing), and the secret is not in the URL.
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(to, format!("/o/{org}/api-keys?project=all"));
    let r = ada.client.get(t.url(&to)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    let key = shown_key(&html).expect("the new key is on the page");
    // Reloading the page it was shown on shows it no more, and made no second key.
    let (_, again) = page(&t, &ada, &to).await;
    assert!(shown_key(&again).is_none() && !again.contains(&key[20..]));
    assert_eq!(again.matches("data-key=\"").count(), 1);
    assert!(key.starts_with("tg-"), "{key}");
    assert!(
        html.contains("data-copy=\"new-key-value\""),
        "a copy button"
    );
    assert_eq!(models_with_key(&t, &key).await.0, 200);

    // Never again: not on the next visit, and not in the list.
    let (_, html) = page(&t, &ada, &format!("/o/{org}/api-keys?project={default}")).await;
    assert!(shown_key(&html).is_none());
    assert!(!html.contains(&key[20..]), "the secret is not on the page");
    assert!(
        html.contains(&format!("tg-{}-", &key[3..19])),
        "the masked preview is"
    );
    assert!(html.contains("Laptop") && html.contains("ada@example.com"));
    assert!(html.contains("id=\"current-project\">Default<"));

    let key_id = html
        .split("data-key=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    assert!(html.contains("data-confirm=\"Revoke Laptop?"));
    let (s, location, _) = post(
        &t,
        &ada,
        &format!("/o/{org}/api-keys/{key_id}/revoke"),
        &[("csrf", &token), ("project", &default), ("view", &default)],
    )
    .await;
    assert_eq!(s, 303);
    assert!(location.unwrap().contains("notice=revoked"));
    let (s, body) = models_with_key(&t, &key).await;
    assert_openai_401(s, &body, "revoked in the console");

    // Bad input on the form: shown inline, nothing created.
    let (s, _, html) = post(
        &t,
        &ada,
        &format!("/o/{org}/api-keys"),
        &[
            ("csrf", &token),
            ("name", ""),
            ("project", &default),
            ("view", &default),
        ],
    )
    .await;
    assert_eq!(s, 422);
    assert!(html.contains("id=\"key-name-error\"") && shown_key(&html).is_none());
}

async fn members_see_their_projects_only_and_no_admin_controls(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let ada = t.sign_up("ada@example.com").await;
    let bob = t.sign_up("bob@example.com").await;
    let org = &ada.org_id;
    let p = create_project(&t, &ada, org, "Team P").await;
    let q = create_project(&t, &ada, org, "Secret Q").await;
    t.add_member(org, &bob.id, &[(&p, ProjectRole::ProjectMember)])
        .await;

    // The Members page shows each member's projects, and offers active ones to invitations.
    let (_, html) = page(&t, &ada, &format!("/o/{org}/members")).await;
    assert!(html.contains(">Team P<"), "Bob's project in his row");
    assert!(html.contains(&format!("name=\"project_ids\" value=\"{q}\"")));

    let (s, html) = page(&t, &bob, &format!("/o/{org}/projects")).await;
    assert_eq!(s, 200);
    assert!(html.contains("Team P") && !html.contains("Secret Q") && !html.contains("Default"));
    assert!(!html.contains("id=\"new-project\""));
    for nav in ["Projects", "API Keys"] {
        assert!(html.contains(&format!("<span>{nav}</span>")), "nav {nav}");
    }
    let (s, html) = page(&t, &bob, &format!("/o/{org}/api-keys")).await;
    assert_eq!(s, 200);
    assert!(
        html.contains("id=\"current-project\">Team P<"),
        "a member starts on their project"
    );
    assert!(
        !html.contains("All projects"),
        "no All projects for members"
    );
    // A project member creates keys of their own (DESIGN §2) and revokes only those.
    assert!(
        html.contains("id=\"create-key\""),
        "project members create their own keys"
    );
    let (adas_key, _) = create_key(&t, &ada, org, &p).await;
    let (s, to, _) = post(
        &t,
        &bob,
        &format!("/o/{org}/api-keys"),
        &[
            ("csrf", &csrf(&html)),
            ("name", "Bob's laptop"),
            ("project", &p),
            ("view", &p),
        ],
    )
    .await;
    assert_eq!(
        (s, to.as_deref()),
        (303, Some(format!("/o/{org}/api-keys?project={p}").as_str()))
    );
    let (_, html) = page(&t, &bob, &format!("/o/{org}/api-keys?project={p}")).await;
    assert!(html.contains("Bob&#x27;s laptop"));
    let bobs_key = t
        .app
        .store
        .api_keys(&p, tollgate_store::PageRequest::first(10))
        .await
        .unwrap();
    let bobs_key = &bobs_key
        .iter()
        .find(|k| k.name == "Bob's laptop")
        .unwrap()
        .id;
    assert!(
        html.contains(&format!("/api-keys/{bobs_key}/revoke")),
        "his own key: Revoke"
    );
    assert!(
        !html.contains(&format!("/api-keys/{adas_key}/revoke")),
        "someone else's key: no Revoke"
    );
    let (s, _, _) = post(
        &t,
        &bob,
        &format!("/o/{org}/api-keys/{adas_key}/revoke"),
        &[("csrf", &csrf(&html)), ("project", &p)],
    )
    .await;
    assert_eq!(s, 403);
    let (s, to, _) = post(
        &t,
        &bob,
        &format!("/o/{org}/api-keys/{bobs_key}/revoke"),
        &[("csrf", &csrf(&html)), ("project", &p)],
    )
    .await;
    assert_eq!(
        (s, to.map(|to| to.ends_with("notice=revoked"))),
        (303, Some(true))
    );
    let (s, _) = page(&t, &bob, &format!("/o/{org}/api-keys?project=all")).await;
    assert_eq!(s, 403);
    let (s, _) = page(&t, &bob, &format!("/o/{org}/api-keys?project={q}")).await;
    assert_eq!(s, 404);
    let (s, _) = page(&t, &bob, &format!("/o/{org}/projects/{q}")).await;
    assert_eq!(s, 404);
    let (_, html) = page(&t, &bob, &format!("/o/{org}/projects/{p}")).await;
    assert!(!html.contains("id=\"rename-project\"") && !html.contains("id=\"add-member-button\""));

    // Made project admin, Bob creates keys and manages members of P.
    t.app
        .store
        .set_project_member(
            org,
            &p,
            &bob.id.clone(),
            ProjectRole::ProjectAdmin,
            t.app.now(),
            tollgate_store::AuditEntry {
                actor_id: None,
                actor_email: None,
                action: "project.member.set",
                target_type: "project",
                target_id: &p,
                details: serde_json::json!({}),
                ip: None,
            },
        )
        .await
        .unwrap();
    let (_, html) = page(&t, &bob, &format!("/o/{org}/api-keys")).await;
    assert!(html.contains("id=\"create-key\""));
    let (_, html) = page(&t, &bob, &format!("/o/{org}/projects/{p}")).await;
    assert!(
        html.contains("id=\"add-member-button\"")
            || html.contains("Every member of the organization")
    );
    assert!(
        !html.contains("id=\"rename-project\""),
        "renaming stays with org admins"
    );
}

on_both_engines!(
    admins_create_rename_and_archive_projects,
    a_key_is_shown_once_with_a_copy_button_and_revoked_with_confirmation,
    members_see_their_projects_only_and_no_admin_controls,
);
