#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The console's spend limit forms, as a browser without JavaScript uses them: the project
//! page's card (limit and alert thresholds) and the API key row; POST/redirect/GET, CSRF, an
//! invalid value re-rendered next to its field with nothing saved, members without the right
//! see no form and are refused. Both engines.

mod common;

use common::{create_key, form_csrf as csrf, post_form_located as post};
use tollgate_domain::limits::spend::SpendScope;
use tollgate_domain::ProjectRole;
use tollgate_server::testing::{TestApp, TestUser};
use tollgate_store::{on_both_engines, Engine};

async fn page(t: &TestApp, user: &TestUser, path: &str) -> (u16, String) {
    let r = user.client.get(t.url(path)).send().await.unwrap();
    assert_eq!(
        r.headers().get("cache-control").unwrap(),
        "no-store",
        "{path}"
    );
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn limits(t: &TestApp, org: &tollgate_domain::OrgId) -> Vec<(SpendScope, String, String)> {
    t.app
        .store
        .spend_limits(org)
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.scope, l.target_id, l.monthly_limit.to_usd_string()))
        .collect()
}

async fn the_project_card_sets_and_removes_the_project_limit(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let admin = t.sign_up("admin@example.com").await;
    let org = admin.org_id.clone();
    let project = t.default_project(&org).await;
    let path = format!("/o/{org}/projects/{project}");
    let (s, html) = page(&t, &admin, &path).await;
    assert_eq!(s, 200);
    assert!(html.contains("id=\"card-spend\"") && html.contains("No spend limit"));
    let token = csrf(&html);
    let action = format!("{path}/spend-limit");

    for (amount, thresholds, error) in [
        ("abc", "50", "is not an amount in USD"),
        ("0", "50", "must be more than $0"),
        ("2000000", "50", "at most $1,000,000"),
        ("10", "50, 150", "from 1 to 100"),
    ] {
        let (s, _, html) = post(
            &t,
            &admin,
            &action,
            &[
                ("csrf", &token),
                ("monthly_limit", amount),
                ("alert_thresholds", thresholds),
            ],
        )
        .await;
        assert_eq!(s, 422, "{amount} {thresholds}");
        assert!(
            html.contains("class=\"field-error\"") && html.contains(error),
            "{amount}: {error}"
        );
        assert!(
            html.contains(&format!("value=\"{amount}\"")),
            "what was typed is kept"
        );
        assert!(limits(&t, &org).await.is_empty(), "nothing saved");
    }
    let (s, _, _) = post(
        &t,
        &admin,
        &action,
        &[
            ("csrf", "forged"),
            ("monthly_limit", "10"),
            ("alert_thresholds", "50"),
        ],
    )
    .await;
    assert!(s == 403 || s == 400, "a forged token is refused: {s}");
    assert!(limits(&t, &org).await.is_empty());

    let (s, location, _) = post(
        &t,
        &admin,
        &action,
        &[
            ("csrf", &token),
            ("monthly_limit", "$1,250.50"),
            ("alert_thresholds", "90, 50"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(
        location.as_deref(),
        Some(format!("{path}?notice=spend_saved").as_str())
    );
    assert_eq!(
        limits(&t, &org).await,
        [(
            SpendScope::Project,
            project.to_string(),
            "1250.50".to_owned()
        )]
    );
    let (_, html) = page(&t, &admin, &format!("{path}?notice=spend_saved")).await;
    assert!(html.contains("Spend limit saved"));
    assert!(
        html.contains("$0.00 of <strong>$1250.50</strong>"),
        "{html}"
    );
    assert!(html.contains("alerts at 50, 90 %"));

    let (s, location, _) = post(&t, &admin, &format!("{action}/remove"), &[("csrf", &token)]).await;
    assert_eq!(s, 303);
    assert_eq!(
        location.as_deref(),
        Some(format!("{path}?notice=spend_removed").as_str())
    );
    assert!(limits(&t, &org).await.is_empty());
}

async fn key_rows_set_key_limits_for_project_admins_only(engine: Engine) {
    let t = TestApp::spawn(engine).await;
    let admin = t.sign_up("admin@example.com").await;
    let pa = t.sign_up("pa@example.com").await;
    let pm = t.sign_up("pm@example.com").await;
    let org = admin.org_id.clone();
    let project = t.default_project(&org).await;
    t.add_member(&org, &pa.id, &[(&project, ProjectRole::ProjectAdmin)])
        .await;
    t.add_member(&org, &pm.id, &[(&project, ProjectRole::ProjectMember)])
        .await;
    let (key, _) = create_key(&t, &admin, &org, &project).await;
    let keys = format!("/o/{org}/api-keys?project={project}");
    let action = format!("/o/{org}/api-keys/{key}/spend-limit");

    // A project member sees the limit but no form, and is refused.
    let (_, html) = page(&t, &pm, &keys).await;
    assert!(!html.contains(&action));
    let (s, _, _) = post(
        &t,
        &pm,
        &action,
        &[
            ("csrf", &csrf(&html)),
            ("monthly_limit", "5"),
            ("project", &project),
        ],
    )
    .await;
    assert_eq!(s, 403);

    let (_, html) = page(&t, &pa, &keys).await;
    assert!(html.contains(&action));
    let token = csrf(&html);
    let form = |amount: &'static str| {
        [
            ("csrf", token.clone()),
            ("monthly_limit", amount.to_owned()),
            ("project", project.to_string()),
            ("view", project.to_string()),
        ]
    };
    let f = form("-3");
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, _, html) = post(&t, &pa, &action, &pairs).await;
    assert_eq!(s, 422);
    assert!(
        html.contains("<details class=\"key-spend\" open>"),
        "the form stays open"
    );
    assert!(html.contains(&format!("id=\"key-limit-{key}-error\"")));
    assert!(limits(&t, &org).await.is_empty());
    let f = form("12.5");
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, location, _) = post(&t, &pa, &action, &pairs).await;
    assert_eq!(s, 303);
    assert_eq!(
        location.as_deref(),
        Some(format!("/o/{org}/api-keys?project={project}&notice=spend_saved").as_str())
    );
    assert_eq!(
        limits(&t, &org).await,
        [(SpendScope::ApiKey, key.clone(), "12.50".to_owned())]
    );
    let (_, html) = page(&t, &pm, &keys).await;
    assert!(html.contains("$12.50 / month"));
}

on_both_engines!(
    the_project_card_sets_and_removes_the_project_limit,
    key_rows_set_key_limits_for_project_admins_only,
);
